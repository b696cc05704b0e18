"""entropykit-compression: MLIC++ / MLICv2 learned image compression on compressai, with real
rANS bitstreams, SGA instance refinement (MLICv2+), codec baselines and BD-rate evaluation
(Jiang et al., 2025).

Code an image with the shipped checkpoint::

    from entropykit_compression import compress_image, decompress_file, load_checkpoint
    from entropykit_compression import default_checkpoint, load_image
    model, meta = load_checkpoint(default_checkpoint())
    compress_image(model, load_image("photo.png"), "photo.ekic", meta)
    x_hat = decompress_file(model, "photo.ekic", meta)   # (3, H, W) in [0, 1]

Names are imported on first use.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from entropykit_shared.lazy import lazy_exports

try:
    __version__ = version("entropykit-compression")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

_EXPORTS: dict[str, str] = {
    "MLIC": "model",
    "MLICConfig": "model",
    "build_model": "zoo",
    "save_checkpoint": "zoo",
    "load_checkpoint": "zoo",
    "default_checkpoint": "zoo",
    "TrainConfig": "train",
    "TrainResult": "train",
    "train": "train",
    "refine": "sga",
    "RefineResult": "sga",
    "code_image": "evaluate",
    "evaluate_model": "evaluate",
    "evaluate_classic": "evaluate",
    "bd_table": "evaluate",
    "compress_image": "evaluate",
    "decompress_file": "evaluate",
    "BenchConfig": "bench",
    "run_bench": "bench",
    "load_image": "data",
    "save_png": "data",
    "image_folder": "data",
    "bundled_images": "data",
    "procedural_image": "data",
    "CropDataset": "data",
    "encode_classic": "codecs",
    "decode_classic": "codecs",
    "psnr": "metrics",
    "ms_ssim": "metrics",
    "read_container": "container",
    "write_container": "container",
    "ContainerError": "container",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
