"""Images for training and evaluating learned image codecs, all offline.

Three sources, each returning ``(3, H, W)`` float32 tensors with values in ``[0, 1]``:

* **User files** — :func:`load_image` (one file, any format Pillow reads) and :func:`image_folder`
  (every image in a folder: Kodak, Tecnick, CLIC, ... are user-supplied folders).
* **Photos bundled in the scikit-image wheel** — :func:`bundled_images`, read straight from the
  files in the installed ``skimage/data`` folder, never through ``skimage.data.<name>()`` (those
  functions may call pooch, which downloads). :data:`HELD_OUT` is the fixed evaluation list of the
  spec; :data:`TRAIN_PHOTOS` are the remaining bundled RGB photos that training may crop.
* **Procedural images** — :func:`dead_leaves` and :func:`procedural_image` (dead leaves, smooth
  gradients with fractal noise, text-like strokes), deterministic by seed.

Seed ranges keep evaluation and training images apart: evaluation procedural images use seeds
``0 ≤ seed < TRAIN_SEED_START`` (the default :func:`eval_dead_leaves` set is seeds ``0..23``);
:class:`CropDataset` draws its procedural seeds from
``[TRAIN_SEED_START, TRAIN_SEED_START + 2**62)``.

Padding for the codecs (:func:`pad_to_multiple`, :func:`crop_to`) follows the MLIC++ evaluation
protocol: zeros at the bottom and right up to a multiple of 64, cropped off after decoding.
"""

from __future__ import annotations

import functools
import importlib.resources
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont, features
from scipy import ndimage
from torch.utils.data import Dataset

__all__ = [
    "BUNDLED_PHOTOS",
    "HELD_OUT",
    "IMAGE_EXTENSIONS",
    "PROCEDURAL_KINDS",
    "TRAIN_PHOTOS",
    "TRAIN_SEED_START",
    "CropDataset",
    "bundled_images",
    "crop_to",
    "dead_leaves",
    "eval_dead_leaves",
    "image_folder",
    "load_image",
    "pad_to_multiple",
    "procedural_image",
    "save_png",
]

#: The spec's fixed held-out evaluation photos (RGB PNGs bundled in the scikit-image wheel).
#: Training never crops these.
HELD_OUT: tuple[str, ...] = ("astronaut", "chelsea", "coffee", "motorcycle_left", "ihc", "color")
#: The other bundled RGB photos, usable for training crops. The wheel's remaining RGB files are
#: left out on purpose: rocket.jpg, retina.jpg and hubble_deep_field.jpg carry JPEG block
#: artefacts, logo.png and horse.png are RGBA drawings, chessboard_RGB.png is synthetic, and
#: multipage_rgb.tif is a 2-pixel test file.
TRAIN_PHOTOS: tuple[str, ...] = ("motorcycle_right",)
#: Every name :func:`bundled_images` accepts (file ``<name>.png`` in ``skimage/data``).
BUNDLED_PHOTOS: tuple[str, ...] = HELD_OUT + TRAIN_PHOTOS
#: File extensions :func:`image_folder` picks up (compared case-insensitively).
IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
#: Procedural seeds at or above this value belong to training; evaluation sets use seeds below.
TRAIN_SEED_START: int = 1_000_000
#: Kinds accepted by :func:`procedural_image`.
PROCEDURAL_KINDS: tuple[str, ...] = ("dead_leaves", "gradient", "strokes", "mix")

ProceduralKind = Literal["dead_leaves", "gradient", "strokes", "mix"]
SeedLike = int | np.random.Generator

# Pillow modes by what converting them to RGB loses or changes (named in the warning).
_ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
_GRAY_MODES = frozenset({"1", "L", "LA", "La"})
_SIXTEEN_BIT_GRAY_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
_OTHER_COLOUR_SPACES = frozenset({"CMYK", "YCbCr", "LAB", "HSV"})


# --------------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------------


def load_image(path: str | Path) -> torch.Tensor:
    """Read an image file as an RGB tensor.

    Anything that is not 8-bit RGB is converted to 8-bit RGB with a ``UserWarning`` that names the
    file and the conversion: grayscale is replicated to three channels, palettes are expanded, an
    alpha channel is dropped (the colour values are kept as stored, not composited on a
    background), 16-bit values are scaled to 8 bits (``round(v / 257)`` for grayscale; for 16-bit
    RGB Pillow itself keeps the high byte), float images in ``[0, 1]`` (or ``[0, 255]``) are
    quantised to 8 bits, and CMYK/YCbCr/LAB/HSV are converted by Pillow. Multi-frame files give
    their first frame; EXIF orientation is not applied (pixels as stored, like compressai).

    Args:
        path: image file in any format Pillow reads.

    Returns:
        ``(3, H, W)`` float32 tensor, values ``k / 255`` for integers ``k`` in ``[0, 255]``.

    Raises:
        ValueError: the file is missing, not a file, or not a readable image.
    """
    path = Path(path)
    if not path.exists():
        raise ValueError(f"image file {str(path)!r} does not exist; check the path")
    if not path.is_file():
        raise ValueError(f"image path {str(path)!r} is not a file; pass an image file")
    try:
        with Image.open(path) as img:
            rgb, notes = _to_rgb8(img)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        raise ValueError(
            f"cannot read image {str(path)!r} ({type(err).__name__}: {err}); pass a valid "
            f"image file ({', '.join(IMAGE_EXTENSIONS)} or another format Pillow reads)"
        ) from err
    if notes:
        warnings.warn(
            f"{path}: converted to 8-bit RGB: {'; '.join(notes)}", UserWarning, stacklevel=2
        )
    return torch.from_numpy(rgb.transpose(2, 0, 1).copy()).float().div_(255.0)


def _rawmodes(img: Image.Image) -> list[str]:
    """Decoder raw modes of a not-yet-loaded image (they reveal 16-bit RGB stored data)."""
    modes = []
    for tile in getattr(img, "tile", None) or []:
        args = tile[3] if len(tile) > 3 else None
        if isinstance(args, str):
            modes.append(args)
        elif isinstance(args, tuple) and args and isinstance(args[0], str):
            modes.append(args[0])
    return modes


def _to_rgb8(img: Image.Image) -> tuple[np.ndarray, list[str]]:
    """Convert a Pillow image to an ``(H, W, 3)`` uint8 array; return the conversions made."""
    mode = img.mode
    notes: list[str] = []
    if mode in ("RGB", "RGBA") and any(";16" in m for m in _rawmodes(img)):
        notes.append(f"16 bits per channel reduced to 8 bits by Pillow (stored as {mode}, 16-bit)")
    img.load()
    if mode in _SIXTEEN_BIT_GRAY_MODES:
        values = np.asarray(img).astype(np.float64)
        lo, hi = float(values.min()), float(values.max())
        if lo < 0 or hi > 65535:
            raise OSError(
                f"integer image values span [{lo:g}, {hi:g}], outside the 16-bit range [0, 65535]"
            )
        gray = np.rint(values / 257.0).astype(np.uint8)
        notes.append(f"{mode} 16-bit grayscale scaled to 8 bits and replicated to 3 channels")
        return np.repeat(gray[:, :, None], 3, axis=2), notes
    if mode == "F":
        values = np.asarray(img).astype(np.float64)
        if not np.isfinite(values).all():
            raise OSError("float image contains NaN or infinite values")
        lo, hi = float(values.min()), float(values.max())
        if lo >= 0 and hi <= 1:
            scale, rng_text = 255.0, "[0, 1]"
        elif lo >= 0 and hi <= 255:
            scale, rng_text = 1.0, "[0, 255]"
        else:
            raise OSError(f"float image values span [{lo:g}, {hi:g}]; expected [0, 1] or [0, 255]")
        gray = np.rint(values * scale).astype(np.uint8)
        notes.append(
            f"float grayscale read as range {rng_text}, quantised to 8 bits and replicated to "
            "3 channels"
        )
        return np.repeat(gray[:, :, None], 3, axis=2), notes
    has_alpha = mode in _ALPHA_MODES or (mode == "P" and "transparency" in img.info)
    if mode in ("P", "PA"):
        notes.append("palette expanded to RGB")
    if mode in _GRAY_MODES:
        notes.append(f"{'1-bit' if mode == '1' else '8-bit'} grayscale replicated to 3 channels")
    if mode in _OTHER_COLOUR_SPACES:
        notes.append(f"{mode} converted to RGB by Pillow")
    if has_alpha:
        notes.append("alpha channel dropped (colours kept as stored, not composited)")
        # Through RGBA: Pillow converts palette transparency and premultiplied modes there.
        img = img.convert("RGBA")
    elif mode not in ("RGB", "RGBX", *_OTHER_COLOUR_SPACES, *_GRAY_MODES, "P"):
        raise OSError(f"unsupported Pillow image mode {mode!r}")
    rgb = np.asarray(img.convert("RGB") if img.mode != "RGB" else img, dtype=np.uint8)
    return rgb, notes


def save_png(image: torch.Tensor, path: str | Path) -> Path:
    """Write an ``(3, H, W)`` image with values in ``[0, 1]`` as an 8-bit RGB PNG.

    Values are clamped to ``[0, 1]`` and rounded to the nearest of the 256 levels (a decoder's
    output slightly outside the range is expected). Parent folders are created.

    Returns:
        The written path.

    Raises:
        ValueError: wrong shape or type, or NaN/infinite values (nothing is written).
    """
    if not isinstance(image, torch.Tensor):
        raise ValueError(f"image must be a torch.Tensor of shape (3, H, W), got {type(image)}")
    if image.ndim != 3 or image.shape[0] != 3:
        raise ValueError(
            f"image must have shape (3, H, W), got {tuple(image.shape)}; for a batch of one "
            "pass image[0]"
        )
    if not image.is_floating_point():
        raise ValueError(f"image must be a float tensor with values in [0, 1], got {image.dtype}")
    if not torch.isfinite(image).all():
        raise ValueError("image contains NaN or infinite values; nothing written")
    pixels = (
        image.detach().to("cpu", torch.float32).clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.permute(1, 2, 0).contiguous().numpy()).save(path, format="PNG")
    return path


def image_folder(path: str | Path, *, recursive: bool = False) -> list[tuple[str, torch.Tensor]]:
    """Load every image in a folder, sorted by name.

    Args:
        path: folder holding the images (extensions :data:`IMAGE_EXTENSIONS`, any case).
        recursive: also look in sub-folders.

    Returns:
        ``[(name, image)]`` with ``name`` the file path relative to ``path`` (POSIX separators,
        extension kept so ``a.png`` and ``a.jpg`` stay distinct) and ``image`` from
        :func:`load_image` (conversion warnings included).

    Raises:
        ValueError: the folder is missing, not a folder, or holds no image with an accepted
            extension; or a file in it cannot be read.
    """
    folder = Path(path)
    accepted = ", ".join(IMAGE_EXTENSIONS)
    if not folder.is_dir():
        what = "does not exist" if not folder.exists() else "is not a folder"
        raise ValueError(
            f"image folder {str(folder)!r} {what}; pass a folder of images ({accepted})"
        )
    candidates = folder.rglob("*") if recursive else folder.iterdir()
    files = sorted(
        (p for p in candidates if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
        key=lambda p: p.relative_to(folder).as_posix(),
    )
    if not files:
        raise ValueError(
            f"image folder {str(folder)!r} holds no image file with an accepted extension "
            f"({accepted}){'' if recursive else '; sub-folders are searched with recursive=True'}"
        )
    return [(p.relative_to(folder).as_posix(), load_image(p)) for p in files]


# --------------------------------------------------------------------------------------------
# Photos bundled in the scikit-image wheel
# --------------------------------------------------------------------------------------------


def bundled_images(names: Sequence[str] | None = None) -> dict[str, torch.Tensor]:
    """RGB photos shipped inside the scikit-image wheel, read from the installed files.

    The PNGs are opened directly from the ``skimage/data`` package folder; the
    ``skimage.data.<name>()`` functions are never called, so pooch can never download anything.

    Args:
        names: which of :data:`BUNDLED_PHOTOS` to load, in this order; ``None`` loads all of them
            (:data:`HELD_OUT` first, then :data:`TRAIN_PHOTOS`).

    Returns:
        ``{name: (3, H, W) float32 tensor in [0, 1]}``.

    Raises:
        ValueError: an unknown name, or a single string instead of a sequence of names.
        FileNotFoundError: the installed scikit-image lacks the file (a stripped or too old
            installation).
    """
    if names is None:
        names = BUNDLED_PHOTOS
    if isinstance(names, str):
        raise ValueError(f"names must be a sequence of names, not a string; use [{names!r}]")
    unknown = [n for n in names if n not in BUNDLED_PHOTOS]
    if unknown:
        raise ValueError(
            f"unknown bundled image(s) {unknown}; available: {', '.join(BUNDLED_PHOTOS)}"
        )
    folder = importlib.resources.files("skimage.data")
    images: dict[str, torch.Tensor] = {}
    for name in names:
        resource = folder.joinpath(f"{name}.png")
        if not resource.is_file():
            raise FileNotFoundError(
                f"{name}.png is missing from the installed scikit-image data folder ({folder}); "
                "reinstall the scikit-image wheel (>= 0.24 bundles it), or evaluate on your own "
                "images with image_folder(path)"
            )
        with importlib.resources.as_file(resource) as file:
            images[name] = load_image(file)
    return images


# --------------------------------------------------------------------------------------------
# Procedural images
# --------------------------------------------------------------------------------------------


def _rng(seed: SeedLike) -> np.random.Generator:
    """A private Generator for ``seed`` (a Generator is used as is); global RNGs stay untouched."""
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative int or a numpy Generator, got {seed!r}")
    return np.random.default_rng(int(seed))


def _check_size(height: int, width: int, minimum: int = 8) -> None:
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum} pixels, got {value!r}")


def _power_law_radii(
    rng: np.random.Generator, n: int, r_min: float, r_max: float, alpha: float
) -> np.ndarray:
    """Sample ``n`` radii with density ∝ r^-alpha on [r_min, r_max] by inverting the CDF."""
    u = rng.random(n)
    if math.isclose(alpha, 1.0):
        return r_min * (r_max / r_min) ** u
    e = 1.0 - alpha
    return (r_min**e + u * (r_max**e - r_min**e)) ** (1.0 / e)


def _mean_square_radius(r_min: float, r_max: float, alpha: float) -> float:
    """E[r²] under the power law ∝ r^-alpha on [r_min, r_max] (closed form)."""

    def integral(power: float) -> float:  # ∫ r^power dr over [r_min, r_max]
        if math.isclose(power, -1.0):
            return math.log(r_max / r_min)
        return (r_max ** (power + 1) - r_min ** (power + 1)) / (power + 1)

    return integral(2.0 - alpha) / integral(-alpha)


def _stencil_sizes(extent: np.ndarray) -> np.ndarray:
    """Half-size of the square stencil used to rasterise each shape: the shape's extent rounded
    up to a short geometric ladder (1, 2, ..., 8, 10, 13, 16, ...), so shapes of similar size are
    rasterised together with little waste."""
    ladder = np.unique(np.ceil(1.25 ** np.arange(0, 64)).astype(np.int64))
    return ladder[np.searchsorted(ladder, np.maximum(extent, 1))]


_MAX_STENCIL_ELEMENTS = 1 << 22  # bound on one rasterisation batch (memory ~ 100 MB worst case)


def _rasterise_front_most(
    label: np.ndarray,
    height: int,
    width: int,
    first_index: int,
    cy: np.ndarray,
    cx: np.ndarray,
    half_y: np.ndarray,
    half_x: np.ndarray,
    is_disc: np.ndarray,
    radius: np.ndarray,
) -> None:
    """For every pixel keep the smallest (front-most) index of the shapes covering its centre.

    ``label`` is the flat ``(height * width,)`` int64 index map, updated in place. Shapes of one
    stencil size are rasterised together with numpy broadcasting (no per-shape Python loop);
    overlaps inside a batch are resolved by ``np.minimum.at``.
    """
    stencil = _stencil_sizes(np.ceil(np.maximum(half_y, half_x)).astype(np.int64))
    ci = np.floor(cy).astype(np.int64)
    cj = np.floor(cx).astype(np.int64)
    for size in np.unique(stencil):
        offsets = np.arange(-size, size + 1)
        members = np.flatnonzero(stencil == size)
        per_batch = max(1, _MAX_STENCIL_ELEMENTS // offsets.size**2)
        for start in range(0, members.size, per_batch):
            s = members[start : start + per_batch]
            py = ci[s, None, None] + offsets[None, :, None]  # (K, S, 1) pixel rows
            px = cj[s, None, None] + offsets[None, None, :]  # (K, 1, S) pixel columns
            dy = py + 0.5 - cy[s, None, None]  # pixel-centre offsets from the shape centre
            dx = px + 0.5 - cx[s, None, None]
            in_disc = dy**2 + dx**2 <= radius[s, None, None] ** 2
            in_rect = (np.abs(dy) <= half_y[s, None, None]) & (np.abs(dx) <= half_x[s, None, None])
            inside = np.where(is_disc[s, None, None], in_disc, in_rect)
            inside &= (py >= 0) & (py < height) & (px >= 0) & (px < width)
            flat = np.broadcast_to(py * width + px, inside.shape)[inside]
            index = np.broadcast_to((first_index + s)[:, None, None], inside.shape)[inside]
            np.minimum.at(label, flat, index)


def dead_leaves(
    height: int,
    width: int,
    seed: SeedLike,
    *,
    r_min: float = 2.0,
    r_max: float | None = None,
    alpha: float = 3.0,
    shapes: Sequence[str] = ("disc", "rectangle"),
    blur_sigma: float = 0.7,
    noise_std: float = 0.01,
    max_rounds: int = 12,
) -> torch.Tensor:
    """A dead-leaves image: occluding random shapes with power-law sizes (a 1/f-spectrum scene).

    Shapes (discs and axis-aligned rectangles of the same area with aspect ratio in [1/2, 2])
    with centres uniform over the image and radii drawn from the density ∝ r^-alpha on
    ``[r_min, r_max]`` fall one after the other; each visible pixel shows the last shape that
    covered it (equivalently, shapes are generated front to back and each pixel takes the first
    one that covers it, stopping once every pixel is covered). Colours are uniform in the RGB
    cube. A mild Gaussian blur (optical anti-aliasing) and Gaussian noise (sensor noise) follow.
    The scale-invariant size law (alpha = 3) gives the ~1/f² power spectrum of natural images.

    Args:
        height, width: image size in pixels (>= 8).
        seed: non-negative int or numpy Generator; the same seed gives the same image.
        r_min, r_max: radius range in pixels (``r_max`` default ``min(height, width) / 2``).
        alpha: exponent of the radius density (3 = scale invariant).
        shapes: shape kinds drawn with equal probability, from ``{"disc", "rectangle"}``.
        blur_sigma: Gaussian blur in pixels (0 = none).
        noise_std: standard deviation of the additive noise in [0, 1] units (0 = none).
        max_rounds: batches of shapes (each covering the image about 2.5 times on average)
            before the rare remaining uncovered pixels take the colour of the nearest covered one.

    Returns:
        ``(3, height, width)`` float32 tensor in ``[0, 1]``.
    """
    _check_size(height, width)
    rng = _rng(seed)
    r_max = min(height, width) / 2.0 if r_max is None else float(r_max)
    if not (math.isfinite(r_min) and math.isfinite(r_max) and 0.5 <= r_min <= r_max):
        raise ValueError(
            f"need 0.5 <= r_min <= r_max (pixels), got r_min={r_min}, r_max={r_max}; "
            "the default r_max is min(height, width) / 2"
        )
    if not (math.isfinite(alpha) and alpha > 0):
        raise ValueError(f"alpha must be positive and finite (3 = scale invariant), got {alpha}")
    shapes = tuple(shapes)
    if not shapes or any(s not in ("disc", "rectangle") for s in shapes):
        raise ValueError(
            f"shapes must be a non-empty subset of ('disc', 'rectangle'), got {shapes}"
        )
    if not (blur_sigma >= 0 and noise_std >= 0):
        raise ValueError(f"blur_sigma and noise_std must be >= 0, got {blur_sigma} and {noise_std}")
    if isinstance(max_rounds, bool) or not isinstance(max_rounds, int) or max_rounds < 1:
        raise ValueError(f"max_rounds must be an int >= 1, got {max_rounds!r}")

    n_pixels = height * width
    uncovered_label = np.iinfo(np.int64).max
    label = np.full(n_pixels, uncovered_label, dtype=np.int64)
    mean_area = math.pi * _mean_square_radius(r_min, r_max, alpha)
    per_round = max(16, math.ceil(2.5 * n_pixels / mean_area))
    colours: list[np.ndarray] = []
    rect_scale = math.sqrt(math.pi) / 2.0  # half-sides of a rectangle with the disc's area
    for round_index in range(max_rounds):
        cy = rng.uniform(0.0, height, per_round)
        cx = rng.uniform(0.0, width, per_round)
        radius = _power_law_radii(rng, per_round, r_min, r_max, alpha)
        is_disc = np.asarray(shapes)[rng.integers(0, len(shapes), per_round)] == "disc"
        aspect = np.exp(rng.uniform(-math.log(2.0), math.log(2.0), per_round) / 2.0)
        half_y = np.where(is_disc, radius, radius * rect_scale / aspect)
        half_x = np.where(is_disc, radius, radius * rect_scale * aspect)
        colours.append(rng.random((per_round, 3)))
        _rasterise_front_most(
            label, height, width, round_index * per_round,
            cy, cx, half_y, half_x, is_disc, radius,
        )  # fmt: skip
        if not (label == uncovered_label).any():
            break
    label = label.reshape(height, width)
    holes = label == uncovered_label
    if holes.any():
        nearest = ndimage.distance_transform_edt(holes, return_distances=False, return_indices=True)
        label = label[nearest[0], nearest[1]]
    image = np.concatenate(colours)[label]  # (H, W, 3) float64
    if blur_sigma > 0:
        image = ndimage.gaussian_filter(image, sigma=(blur_sigma, blur_sigma, 0.0), mode="reflect")
    if noise_std > 0:
        image = image + rng.normal(0.0, noise_std, image.shape)
    return _to_tensor(image)


def _to_tensor(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) float array -> (3, H, W) float32 tensor clipped to [0, 1]."""
    chw = np.clip(image, 0.0, 1.0).transpose(2, 0, 1).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(chw))


def _fractal_noise(
    rng: np.random.Generator, height: int, width: int, beta: float, channels: int
) -> np.ndarray:
    """Zero-mean, unit-std Gaussian noise with power spectrum ∝ 1/f^beta, shape (H, W, channels).

    Spectral synthesis (white noise shaped in the Fourier domain with numpy.fft) gives the same
    fractal (fBm-like) texture as summed Perlin octaves in one vectorised step.
    """
    white = rng.standard_normal((channels, height, width))
    fy = np.fft.fftfreq(height)[:, None]
    fx = np.fft.rfftfreq(width)[None, :]
    f = np.hypot(fy, fx)
    f[0, 0] = np.inf  # no DC term: zero mean
    shaped = np.fft.irfft2(np.fft.rfft2(white) * f ** (-beta / 2.0), s=(height, width))
    shaped /= shaped.std(axis=(1, 2), keepdims=True) + 1e-12
    return shaped.transpose(1, 2, 0)


def _gradient(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Smooth colour gradients plus low-frequency fractal noise, (H, W, 3) float64."""
    yy, xx = np.meshgrid(np.linspace(0.0, 1.0, height), np.linspace(0.0, 1.0, width), indexing="ij")
    theta = rng.uniform(0.0, 2.0 * math.pi)
    t = xx * math.cos(theta) + yy * math.sin(theta)
    t = (t - t.min()) / (t.max() - t.min() + 1e-12)
    start, end, blob = rng.random((3, 3))
    image = start + (end - start) * t[..., None]
    # A soft radial blob of a third colour.
    centre = rng.random(2)
    spread = rng.uniform(0.15, 0.6)
    weight = np.exp(-((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2) / (2.0 * spread**2))
    image += (blob - image) * (weight[..., None] * rng.uniform(0.3, 0.9))
    # Low-frequency fractal noise: a shared luminance part and weaker per-channel colour parts.
    beta = rng.uniform(2.5, 3.5)
    luma = _fractal_noise(rng, height, width, beta, 1)
    chroma = _fractal_noise(rng, height, width, beta, 3)
    image += rng.uniform(0.03, 0.15) * luma + rng.uniform(0.0, 0.05) * chroma
    return image


@functools.lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """Pillow's bundled default font (scalable when Pillow has FreeType, else its bitmap font)."""
    if features.check("freetype2"):
        return ImageFont.load_default(size=size)
    return ImageFont.load_default()


_GLYPHS = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.,:;-+=/"))


def _strokes(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Sharp text-like strokes (text lines and polylines) on a smooth background, (H, W, 3)."""
    flat = rng.random(3)
    background = 0.75 * flat + 0.25 * _gradient(rng, height, width)
    canvas = Image.fromarray(np.rint(np.clip(background, 0.0, 1.0) * 255.0).astype(np.uint8))
    draw = ImageDraw.Draw(canvas)
    light = float(flat.mean()) > 0.5

    def ink() -> tuple[int, int, int]:
        # Contrasting ink: dark on light backgrounds and light on dark ones, some coloured.
        level = rng.uniform(0.0, 0.35) if light else rng.uniform(0.65, 1.0)
        tint = rng.uniform(-0.2, 0.2, 3) * rng.integers(0, 2)
        return tuple(int(v) for v in np.rint(np.clip(level + tint, 0.0, 1.0) * 255.0))

    smallest = min(height, width)
    for _ in range(int(rng.integers(3, 10))):  # lines of text
        size = int(rng.integers(8, max(10, smallest // 6)))
        chars = _GLYPHS[rng.integers(0, _GLYPHS.size, int(rng.integers(4, 40)))]
        chars[rng.random(chars.size) < 0.15] = " "
        origin = (float(rng.uniform(-0.1, 0.9) * width), float(rng.uniform(-0.05, 0.95) * height))
        draw.text(origin, "".join(chars), fill=ink(), font=_font(size))
    for _ in range(int(rng.integers(4, 16))):  # pen strokes
        n_points = int(rng.integers(2, 7))
        start = rng.uniform(0.0, 1.0, 2) * (width, height)
        steps = rng.normal(0.0, 0.15 * smallest, (n_points - 1, 2))
        points = np.vstack([start, start + np.cumsum(steps, axis=0)])
        draw.line(
            [tuple(p) for p in points.tolist()],
            fill=ink(),
            width=int(rng.integers(1, 5)),
            joint="curve",
        )
    return np.asarray(canvas, dtype=np.float64) / 255.0


def procedural_image(
    height: int, width: int, seed: SeedLike, kind: ProceduralKind = "mix"
) -> torch.Tensor:
    """A procedural training/evaluation image, deterministic by seed.

    Kinds:
        ``"dead_leaves"``: :func:`dead_leaves` with its defaults.
        ``"gradient"``: smooth linear and radial colour gradients plus low-frequency fractal
        noise (power spectrum ∝ 1/f^beta, beta in [2.5, 3.5]).
        ``"strokes"``: sharp text-like strokes (random-character text lines in Pillow's bundled
        font and pen polylines of width 1–4 px) on a smooth background. Text pixels can differ
        between Pillow/FreeType builds; they are the same for a seed on one installation.
        ``"mix"``: one of the above chosen by the seed with probabilities 1/2, 1/4, 1/4.

    Args:
        height, width: image size in pixels (>= 8).
        seed: non-negative int or numpy Generator.
        kind: one of :data:`PROCEDURAL_KINDS`.

    Returns:
        ``(3, height, width)`` float32 tensor in ``[0, 1]``.
    """
    if kind not in PROCEDURAL_KINDS:
        raise ValueError(f"kind must be one of {PROCEDURAL_KINDS}, got {kind!r}")
    _check_size(height, width)
    rng = _rng(seed)
    if kind == "mix":
        kind = ("dead_leaves", "gradient", "strokes")[int(rng.choice(3, p=(0.5, 0.25, 0.25)))]
    if kind == "dead_leaves":
        return dead_leaves(height, width, rng)
    if kind == "gradient":
        return _to_tensor(_gradient(rng, height, width))
    return _to_tensor(_strokes(rng, height, width))


def eval_dead_leaves(
    n: int = 24, height: int = 512, width: int = 768, seed: int = 0
) -> dict[str, torch.Tensor]:
    """The spec's fixed dead-leaves evaluation set: ``n`` images from seeds ``seed .. seed+n-1``.

    Evaluation seeds must lie below :data:`TRAIN_SEED_START` (training draws its procedural seeds
    from ``[TRAIN_SEED_START, ...)``), so no evaluation image is ever a training image. The
    defaults (24 images of 512×768 from seeds 0..23) are the spec's set.

    Returns:
        ``{"dead_leaves_<seed:03d>": (3, height, width) float32 tensor in [0, 1]}``.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be an int >= 1, got {n!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    if seed + n > TRAIN_SEED_START:
        raise ValueError(
            f"evaluation seeds {seed}..{seed + n - 1} reach the training range "
            f"(>= {TRAIN_SEED_START}); use seed + n <= {TRAIN_SEED_START}"
        )
    return {f"dead_leaves_{s:03d}": dead_leaves(height, width, s) for s in range(seed, seed + n)}


# --------------------------------------------------------------------------------------------
# Training crops
# --------------------------------------------------------------------------------------------


def _check_image(image: object, name: str) -> torch.Tensor:
    if not isinstance(image, torch.Tensor) or image.ndim != 3 or image.shape[0] != 3:
        shape = tuple(image.shape) if isinstance(image, torch.Tensor) else type(image).__name__
        raise ValueError(f"source {name!r} must be a (3, H, W) tensor, got {shape}")
    if not image.is_floating_point() or not torch.isfinite(image).all():
        raise ValueError(f"source {name!r} must be a finite float tensor with values in [0, 1]")
    if image.min() < 0 or image.max() > 1:
        raise ValueError(f"source {name!r} has values outside [0, 1]; scale it to [0, 1]")
    return image.detach().to("cpu", torch.float32).contiguous()


class CropDataset(Dataset[torch.Tensor]):
    """Random training crops: source photos and fresh procedural images, mixed.

    Item ``i`` is drawn with its own Generator seeded by ``(seed, i)``, so it is the same every
    epoch, in every DataLoader worker and on every machine. With probability
    ``procedural_fraction`` it is a fresh :func:`procedural_image` (of ``procedural_kind``, seed
    drawn from ``[TRAIN_SEED_START, TRAIN_SEED_START + 2**62)``), otherwise a random crop of a
    uniformly chosen source (sources with a side below the crop size are reflect-padded at the
    bottom/right first). With ``augment`` a random horizontal flip and a random multiple of 90°
    rotation follow (together all 8 symmetries of the square).

    Args:
        sources: named photos ``{name: (3, H, W)}`` or ``[(name, image)]`` (what
            :func:`image_folder` returns); ``None`` uses the bundled :data:`TRAIN_PHOTOS`.
            Names in :data:`HELD_OUT` are refused: those photos are the evaluation set.
        crop_size: side of the square crops in pixels (>= 16).
        length: items per epoch (``len(dataset)``).
        procedural_fraction: probability in [0, 1] that an item is procedural; 1 allows empty
            ``sources``.
        procedural_kind: kind passed to :func:`procedural_image`.
        augment: random flips and 90° rotations.
        seed: non-negative int.

    Raises:
        ValueError: a held-out name, a bad source tensor, a source with a side of at most
            ``crop_size // 2`` (too small to reflect-pad), no sources while
            ``procedural_fraction < 1``, or a bad option.
    """

    def __init__(
        self,
        sources: Mapping[str, torch.Tensor] | Sequence[tuple[str, torch.Tensor]] | None = None,
        *,
        crop_size: int = 256,
        length: int = 1000,
        procedural_fraction: float = 0.5,
        procedural_kind: ProceduralKind = "mix",
        augment: bool = True,
        seed: int = 0,
    ) -> None:
        if isinstance(crop_size, bool) or not isinstance(crop_size, int) or crop_size < 16:
            raise ValueError(f"crop_size must be an int >= 16 pixels, got {crop_size!r}")
        if isinstance(length, bool) or not isinstance(length, int) or length < 1:
            raise ValueError(f"length (items per epoch) must be an int >= 1, got {length!r}")
        if not 0.0 <= procedural_fraction <= 1.0:
            raise ValueError(f"procedural_fraction must be in [0, 1], got {procedural_fraction}")
        if procedural_kind not in PROCEDURAL_KINDS:
            raise ValueError(
                f"procedural_kind must be one of {PROCEDURAL_KINDS}, got {procedural_kind!r}"
            )
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        if sources is None:
            sources = bundled_images(TRAIN_PHOTOS)
        pairs = list(sources.items()) if isinstance(sources, Mapping) else list(sources)
        for pair in pairs:
            if not (isinstance(pair, tuple) and len(pair) == 2 and isinstance(pair[0], str)):
                raise ValueError(
                    "sources must be {name: image} or [(name, image)] (what image_folder "
                    f"returns), got an item of type {type(pair).__name__}"
                )
        held_out = sorted({name for name, _ in pairs} & set(HELD_OUT))
        if held_out:
            raise ValueError(
                f"sources {held_out} are held-out evaluation photos and must not be used for "
                f"training; use TRAIN_PHOTOS {TRAIN_PHOTOS}, your own images or procedural ones"
            )
        minimum = crop_size // 2 + 1
        checked: list[tuple[str, torch.Tensor]] = []
        for name, image in pairs:
            image = _check_image(image, name)
            if min(image.shape[1:]) < minimum:
                raise ValueError(
                    f"source {name!r} is {image.shape[1]}x{image.shape[2]} px, too small for "
                    f"crop_size={crop_size}: every side must be >= {minimum} (shorter sides are "
                    "reflect-padded up to the crop size); use a smaller crop_size or drop it"
                )
            checked.append((name, image))
        if not checked and procedural_fraction < 1.0:
            raise ValueError(
                "no source images; pass sources, or set procedural_fraction=1.0 for procedural "
                "images only"
            )
        self.sources: tuple[tuple[str, torch.Tensor], ...] = tuple(checked)
        self.crop_size = crop_size
        self.length = length
        self.procedural_fraction = float(procedural_fraction)
        self.procedural_kind: ProceduralKind = procedural_kind
        self.augment = augment
        self.seed = seed

    @property
    def source_names(self) -> tuple[str, ...]:
        """Names of the photos crops are taken from."""
        return tuple(name for name, _ in self.sources)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> torch.Tensor:
        """Item ``index`` as a ``(3, crop_size, crop_size)`` float32 tensor in ``[0, 1]``."""
        if isinstance(index, bool) or not isinstance(index, int | np.integer):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for a dataset of length {self.length}")
        rng = np.random.default_rng((self.seed, int(index)))
        size = self.crop_size
        if not self.sources or rng.random() < self.procedural_fraction:
            procedural_seed = TRAIN_SEED_START + int(rng.integers(0, 2**62))
            crop = procedural_image(size, size, procedural_seed, self.procedural_kind)
        else:
            _, image = self.sources[int(rng.integers(0, len(self.sources)))]
            pad_h, pad_w = max(0, size - image.shape[1]), max(0, size - image.shape[2])
            if pad_h or pad_w:
                image = F.pad(image[None], (0, pad_w, 0, pad_h), mode="reflect")[0]
            top = int(rng.integers(0, image.shape[1] - size + 1))
            left = int(rng.integers(0, image.shape[2] - size + 1))
            crop = image[:, top : top + size, left : left + size]
        if self.augment:
            if rng.random() < 0.5:
                crop = crop.flip(-1)
            crop = torch.rot90(crop, int(rng.integers(0, 4)), dims=(1, 2))
        return crop.contiguous()


# --------------------------------------------------------------------------------------------
# Padding for the codecs
# --------------------------------------------------------------------------------------------


def pad_to_multiple(x: torch.Tensor, multiple: int = 64) -> tuple[torch.Tensor, tuple[int, int]]:
    """Zero-pad the bottom and right of ``(B, C, H, W)`` (or ``(C, H, W)``) images so that H and
    W become multiples of ``multiple``; images smaller than ``multiple`` are padded up to it.

    This is the MLIC++ evaluation protocol (``F.pad(x, (0, pad_w, 0, pad_h), value=0)``; bpp
    is then computed on the original ``H·W``). compressai's ``compute_padding`` is not used
    because it centres the padding (half top/left), which would shift the image content relative
    to the official protocol.

    Returns:
        ``(padded, (H, W))`` with the original size for :func:`crop_to`.
    """
    if not isinstance(x, torch.Tensor) or x.ndim not in (3, 4):
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a (B, C, H, W) or (C, H, W) tensor, got {shape}")
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise ValueError(f"multiple must be an int >= 1 (64 for MLIC), got {multiple!r}")
    height, width = int(x.shape[-2]), int(x.shape[-1])
    if height < 1 or width < 1:
        raise ValueError(f"x must have a non-empty image, got H={height}, W={width}")
    pad_h = -height % multiple
    pad_w = -width % multiple
    padded = F.pad(x, (0, pad_w, 0, pad_h), mode="constant", value=0.0) if pad_h or pad_w else x
    return padded, (height, width)


def crop_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Crop the top-left ``size = (H, W)`` of ``(..., H', W')`` images (undoes
    :func:`pad_to_multiple`)."""
    if not isinstance(x, torch.Tensor) or x.ndim < 2:
        raise ValueError("x must be a tensor with at least 2 dimensions (..., H, W)")
    if len(size) != 2 or any(
        isinstance(s, bool) or not isinstance(s, int | np.integer) or s < 1 for s in size
    ):
        raise ValueError(f"size must be (H, W) with positive ints, got {size!r}")
    height, width = int(size[0]), int(size[1])
    if height > x.shape[-2] or width > x.shape[-1]:
        raise ValueError(
            f"cannot crop {tuple(x.shape[-2:])} to the larger size {(height, width)}; "
            "pass the size returned by pad_to_multiple"
        )
    return x[..., :height, :width]
