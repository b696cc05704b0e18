"""The MLIC model (entropykit_compression.model) and its codec path: exact compress/decompress
round trips for every variant and ablation, causality of the checkerboard context model, LRP
placement, guided selective compression (GSC), checkpoints, the container codec and bad input.

All models are the tiny test size (N = 16, M = 32, 2 slices) with weights from
``torch.manual_seed``; none is trained here (training lives in test_compression_train_sga.py).
"""

from __future__ import annotations

import io
import multiprocessing
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from entropykit_compression.container import ContainerError
from entropykit_compression.data import pad_to_multiple
from entropykit_compression.evaluate import code_image, compress_image, decompress_file
from entropykit_compression.layers import anchor_mask
from entropykit_compression.model import COMPONENTS, MLIC, MLICConfig
from entropykit_compression.zoo import load_checkpoint, save_checkpoint
from PIL import Image

from entropykit_shared.testing import assert_bad_input
from entropykit_shared.testing import one_thread as one_thread  # autouse: one thread per pool

C = 16  # channels per slice of the tiny model (M = 32, 2 slices)


def make_model(variant: str = "mlicv2", seed: int = 0, **flags: Any) -> MLIC:
    """A tiny model with seeded weights, in eval mode with its CDF tables built."""
    torch.manual_seed(seed)
    model = MLIC(MLICConfig.tiny(variant, **flags))
    model.eval()
    model.update(force=True)
    return model


def images(batch: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """Smooth random test images (B, 3, H, W) in [0, 1]: upsampled noise, so the latents are
    not all in the tails of the untrained entropy model."""
    gen = torch.Generator().manual_seed(seed)
    coarse = torch.rand(batch, 3, height // 8 + 1, width // 8 + 1, generator=gen)
    smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear")
    return (smooth + 0.05 * torch.rand(batch, 3, height, width, generator=gen)).clamp(0, 1)


@dataclass
class Call:
    """One ``code(part, s, scales, means, positions)`` call of ``MLIC._slices`` and its result."""

    part: str
    s: int
    scales: torch.Tensor
    means: torch.Tensor
    positions: torch.Tensor
    out: torch.Tensor


@dataclass
class Recording:
    calls: list[Call] = field(default_factory=list)
    y_hats: list[torch.Tensor] = field(default_factory=list)  # one per _slices run (per image)

    def params(self) -> dict[tuple[int, str], Call]:
        return {(c.s, c.part): c for c in self.calls}


@contextmanager
def record(model: MLIC) -> Iterator[Recording]:
    """Wrap ``model._slices`` so every code() call and every returned y_hat is recorded."""
    rec = Recording()
    original = model._slices

    def wrapped(hyper_params: torch.Tensor, code: Callable[..., torch.Tensor]) -> torch.Tensor:
        def recording_code(part: str, s: int, scales: Any, means: Any, pos: Any) -> Any:
            out = code(part, s, scales, means, pos)
            rec.calls.append(
                Call(part, s, scales.detach().clone(), means.detach().clone(), pos, out.detach())
            )
            return out

        y_hat = original(hyper_params, recording_code)
        rec.y_hats.append(y_hat.detach().clone())
        return y_hat

    model._slices = wrapped  # type: ignore[method-assign]
    try:
        yield rec
    finally:
        del model._slices


def round_trip(model: MLIC, x: torch.Tensor) -> dict[str, Any]:
    """compress + decompress + eval forward, with the y_hat of each path recorded."""
    with record(model) as enc_rec:
        enc = model.compress(x)
    with record(model) as dec_rec:
        dec = model.decompress(enc["strings"], enc["shape"])
    with torch.no_grad(), record(model) as fwd_rec:
        fwd = model(x)
    return {"enc": enc, "dec": dec, "fwd": fwd, "rec": (enc_rec, dec_rec, fwd_rec)}


def assert_exact_round_trip(model: MLIC, x: torch.Tensor) -> dict[str, Any]:
    r = round_trip(model, x)
    enc_rec, dec_rec, fwd_rec = r["rec"]
    assert len(enc_rec.y_hats) == len(dec_rec.y_hats) == x.shape[0]  # one _slices run per image
    for y_enc, y_dec in zip(enc_rec.y_hats, dec_rec.y_hats, strict=True):
        assert torch.equal(y_enc, y_dec), "decoded y_hat differs from the encoder's y_hat"
    # forward rounds with a straight-through estimator, (round(v) - v) + v: equal up to float
    # error, so its y_hat and x_hat agree with the codec's within 1e-5.
    y_fwd = fwd_rec.y_hats[0]
    torch.testing.assert_close(torch.cat(enc_rec.y_hats), y_fwd, rtol=0, atol=1e-5)
    x_hat = r["dec"]["x_hat"]
    assert x_hat.shape == x.shape
    assert (x_hat - r["fwd"]["x_hat"].clamp(0, 1)).abs().max() <= 1e-5
    return r


# ------------------------------------------------------------------------------ round trips
ABLATIONS = [("mlicv2", {}), ("mlicpp", {})]
ABLATIONS += [("mlicv2", {name: False}) for name in COMPONENTS]
ABLATIONS += [("mlicpp", {name: True}) for name in COMPONENTS]


@pytest.mark.parametrize(
    ("variant", "flags"),
    ABLATIONS,
    ids=[f"{v}-" + ("-".join(f"{k}={x}" for k, x in f.items()) or "default") for v, f in ABLATIONS],
)
def test_round_trip_is_exact_for_every_variant_and_ablation(variant, flags):
    model = make_model(variant, **flags)
    for name, value in flags.items():
        assert model.config.flag(name) is value
    r = assert_exact_round_trip(model, images(1, 64, 128, seed=1))
    y_strings, z_strings = r["enc"]["strings"]
    assert all(isinstance(s, bytes) and len(s) > 4 for s in (*y_strings, *z_strings))
    assert r["enc"]["shape"] == (1, 2)  # z is 1/64 of the input
    assert r["enc"]["skip_rate"] == 0.0  # a fresh GSC codes everything (bias +4)


@pytest.mark.parametrize("variant", ["mlicv2", "mlicpp"])
def test_batch_of_two_equals_two_single_images(variant):
    model = make_model(variant, seed=2)
    x = images(2, 128, 192, seed=3)
    r = assert_exact_round_trip(model, x)
    singles = [model.compress(x[i : i + 1]) for i in range(2)]
    for i, single in enumerate(singles):
        assert r["enc"]["strings"][0][i] == single["strings"][0][0]
        assert r["enc"]["strings"][1][i] == single["strings"][1][0]
        x_i = model.decompress(single["strings"], single["shape"])["x_hat"]
        assert torch.equal(x_i[0], r["dec"]["x_hat"][i])
    assert r["enc"]["strings"][0][0] != r["enc"]["strings"][0][1]


def test_code_image_pads_an_odd_size_and_returns_the_original_size():
    model = make_model("mlicv2", seed=4)
    image = images(1, 130, 190, seed=5)[0]
    row = code_image(model, image)
    assert row["x_hat"].shape == (3, 130, 190)
    assert row["x_hat"].min() >= 0
    assert row["x_hat"].max() <= 1
    assert row["bpp"] == pytest.approx(row["bytes"] * 8 / (130 * 190))  # original pixel count
    assert row["est_bpp"] > 0
    assert row["psnr"] > 0
    # the padded image round-trips exactly; code_image returns the top-left crop of it
    padded, _ = pad_to_multiple(image[None], 64)
    assert padded.shape[-2:] == (192, 192)
    full = assert_exact_round_trip(model, padded)["dec"]["x_hat"]
    assert torch.equal(full[0, :, :130, :190], row["x_hat"])


# ------------------------------------------------------------------------------ causality
def _latents(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    y = 3 * torch.randn(1, 2 * C, 8, 8, generator=gen)
    z = 3 * torch.randn(1, 16, 2, 2, generator=gen)
    return y, z


def _context(model: MLIC, y: torch.Tensor, z: torch.Tensor) -> tuple[dict, torch.Tensor]:
    with torch.no_grad(), record(model) as rec:
        out = model.forward_latents(y, z)
    return rec.params(), out["likelihoods"]["y"]


def _same(a: Call, b: Call) -> bool:
    return torch.equal(a.scales, b.scales) and torch.equal(a.means, b.means)


# (perturbed slice, perturbed positions, parameter sets that must stay bit-identical, ones that
# must change). Anchor parameters of slice s see the hyperprior and slices < s only; non-anchor
# parameters also see the decoded anchors of slice s, never its non-anchor values.
CAUSALITY = [
    (0, "nonanchor", [(0, "anchor"), (0, "nonanchor")], [(1, "anchor"), (1, "nonanchor")]),
    (0, "anchor", [(0, "anchor")], [(0, "nonanchor"), (1, "anchor"), (1, "nonanchor")]),
    (1, "nonanchor", [(0, "anchor"), (0, "nonanchor"), (1, "anchor"), (1, "nonanchor")], []),
    (1, "anchor", [(0, "anchor"), (0, "nonanchor"), (1, "anchor")], [(1, "nonanchor")]),
    (1, "all", [(0, "anchor"), (0, "nonanchor"), (1, "anchor")], [(1, "nonanchor")]),
]


@pytest.mark.parametrize("variant", ["mlicv2", "mlicpp"])
@pytest.mark.parametrize(("s", "where", "unchanged", "changed"), CAUSALITY)
def test_context_model_is_causal(variant, s, where, unchanged, changed):
    model = make_model(variant, seed=6)
    y, z = _latents(7)
    base, lik = _context(model, y, z)
    mask = anchor_mask(8, 8).bool()[0, 0]
    where_mask = {"anchor": mask, "nonanchor": ~mask, "all": torch.ones_like(mask)}[where]
    y2 = y.clone()
    y2[:, s * C : (s + 1) * C, where_mask] += 3.0  # an integer shift: every rounded value moves
    pert, lik2 = _context(model, y2, z)
    for key in unchanged:
        assert _same(base[key], pert[key]), f"{key} parameters saw the perturbation of {where}"
    for key in changed:
        assert not _same(base[key], pert[key]), f"{key} parameters ignore slice {s} {where}"
    if where == "nonanchor":  # the anchor likelihoods of the slice are untouched (spec §6.3)
        sl = slice(s * C, (s + 1) * C)
        assert torch.equal(lik[:, sl][..., mask], lik2[:, sl][..., mask])
        assert not torch.equal(lik[:, sl][..., ~mask], lik2[:, sl][..., ~mask])


# ------------------------------------------------------------------------------ checkerboard
def test_anchor_mask_parity():
    expected = torch.tensor([[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1]], dtype=torch.float32)
    mask = anchor_mask(3, 4)
    assert mask.shape == (1, 1, 3, 4)
    assert mask.dtype == torch.float32
    assert torch.equal(mask[0, 0], expected)
    i, j = torch.meshgrid(torch.arange(5), torch.arange(7), indexing="ij")
    assert torch.equal(anchor_mask(5, 7)[0, 0].bool(), (i + j) % 2 == 1)


def test_decoding_order_positions_and_lrp_placement(monkeypatch):
    model = make_model("mlicv2", seed=8)
    local_inputs: dict[int, torch.Tensor] = {}
    for s, sm in enumerate(model.slice_models):  # LocalContext sees y_hat right after anchors

        def spy(y_anchor: torch.Tensor, s: int = s, forward: Any = sm.local.forward) -> Any:
            local_inputs[s] = y_anchor.detach().clone()
            return forward(y_anchor)

        monkeypatch.setattr(sm.local, "forward", spy)
    y, z = _latents(9)
    with torch.no_grad(), record(model) as rec:
        model.forward_latents(y, z)
    assert [(c.s, c.part) for c in rec.calls] == [
        (0, "anchor"),
        (0, "nonanchor"),
        (1, "anchor"),
        (1, "nonanchor"),
    ]
    mask = anchor_mask(8, 8)
    for c in rec.calls:
        expected = mask if c.part == "anchor" else 1 - mask
        assert torch.equal(c.positions, expected)
        assert torch.all(c.out[(expected == 0).expand_as(c.out)] == 0)  # a part codes only itself
    amask = mask.bool().expand(1, C, 8, 8)
    y_hat = rec.y_hats[0]
    for s in range(2):
        y_a = local_inputs[s]
        code_a = rec.params()[(s, "anchor")].out
        assert torch.all(y_a[~amask] == 0), "the anchor LRP touched non-anchor positions"
        assert not torch.equal(y_a[amask], code_a[amask]), "no anchor LRP at anchor positions"
        y_s = y_hat[:, s * C : (s + 1) * C]
        assert torch.equal(y_s[amask], y_a[amask]), "the non-anchor LRP touched anchors"
        code_n = rec.params()[(s, "nonanchor")].out
        assert not torch.equal(y_s[~amask], code_n[~amask]), "no LRP at non-anchor positions"


# ------------------------------------------------------------------------------ GSC
def _skip_channels(model: MLIC, s: int, channels: slice) -> None:
    """Make slice s's GSC predictor skip the given channels everywhere (its last layer has zero
    weights at init, so the logit is the bias)."""
    with torch.no_grad():
        model.slice_models[s].gsc[-1].bias[channels] = -4.0


def test_gsc_skipped_elements_decode_to_the_mean_and_cost_no_bits():
    x = images(1, 64, 128, seed=10)
    model = make_model("mlicv2", seed=11)
    coded_all = model.compress(x)
    _skip_channels(model, 0, slice(0, 8))  # half of slice 0 = a quarter of y
    r = assert_exact_round_trip(model, x)
    assert r["enc"]["skip_rate"] == 0.25
    assert len(r["enc"]["strings"][0][0]) < len(coded_all["strings"][0][0])
    assert r["enc"]["strings"][1] == coded_all["strings"][1]  # z is not affected
    for rec in r["rec"][:2]:  # encoder and decoder
        for c in rec.calls:
            if c.s == 0:
                where = c.positions.bool().expand_as(c.out).clone()
                where[:, 8:] = False
                assert torch.equal(c.out[where], c.means[where]), "skipped != mean"
    assert r["fwd"]["gsc"]["skip_rate"] == 0.25
    lik = r["fwd"]["likelihoods"]["y"]
    assert torch.all(lik[:, :8] == 1.0)  # skipped: likelihood exactly 1, no rate
    assert torch.all(lik[:, 8:] < 1.0)
    model.train()
    with torch.no_grad():
        lik_train = model(x)["likelihoods"]["y"]
    assert torch.all(lik_train[:, :8] == 1.0)
    assert torch.all(lik_train[:, 8:] < 1.0)


@pytest.mark.parametrize("variant", ["mlicv2", "mlicpp"])
def test_a_spatially_varying_skip_mask_is_recomputed_by_the_decoder(variant, monkeypatch):
    """The decoder recomputes the skip decision from already decoded information only: a mask
    that depends on the predicted scales (which depend on earlier decoded values) still gives
    an exact round trip."""
    model = make_model(variant, seed=12)

    def gsc_mask(sm: Any, scales: torch.Tensor, means: torch.Tensor) -> Any:
        keep = (scales > scales.median()).to(scales.dtype)
        return keep, 2 * keep - 1

    monkeypatch.setattr(model, "_gsc_mask", gsc_mask)
    r = assert_exact_round_trip(model, images(1, 64, 128, seed=13))
    assert 0.3 < r["enc"]["skip_rate"] < 0.7
    assert r["fwd"]["gsc"]["skip_rate"] == pytest.approx(r["enc"]["skip_rate"])
    for c in r["rec"][0].calls:
        skipped = (c.positions.bool() & (c.scales <= c.scales.median())).expand_as(c.out)
        assert torch.equal(c.out[skipped], c.means[skipped])


def _all_skipped_round_trip() -> dict[str, Any]:
    model = make_model("mlicv2", seed=14)
    for s in range(2):
        _skip_channels(model, s, slice(None))
    x = images(1, 64, 64, seed=15)
    enc = model.compress(x)
    x_hat = model.decompress(enc["strings"], enc["shape"])["x_hat"]
    with torch.no_grad():
        fwd = model(x)
    return {
        "skip_rate": enc["skip_rate"],
        "y_bytes": len(enc["strings"][0][0]),
        "error": float((x_hat - fwd["x_hat"].clamp(0, 1)).abs().max()),
        "lik_min": float(fwd["likelihoods"]["y"].min()),
    }


def _isolated(fn: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Run ``fn`` in a forked child so that a crash in native code (segfault) fails this test
    instead of killing the test session. Returns fn's result."""
    ctx = multiprocessing.get_context("fork")
    receive, send = ctx.Pipe(duplex=False)

    def target() -> None:
        try:
            send.send(("ok", fn()))
        except BaseException as exc:  # report any error to the parent
            send.send(("error", f"{type(exc).__name__}: {exc}"))

    child = ctx.Process(target=target)
    child.start()
    child.join(timeout)
    if child.is_alive():
        child.kill()
        pytest.fail(f"hung for more than {timeout} s")
    assert child.exitcode == 0, f"the process crashed (exit code {child.exitcode})"
    status, value = receive.recv()
    assert status == "ok", value
    return value


def test_an_image_whose_every_element_is_skipped_round_trips():
    """GSC may skip every y element of an image (flat content, heavy skipping). Then the y
    stream has no symbol at all, and compressai's BufferedRansEncoder.flush() on an empty
    encoder writes its final state through a null pointer (SIGSEGV). Run in a child process."""
    result = _isolated(_all_skipped_round_trip)
    assert result["skip_rate"] == 1.0
    assert result["y_bytes"] <= 8  # no symbol: at most the flushed rANS state
    assert result["error"] <= 1e-5
    assert result["lik_min"] == 1.0


# ------------------------------------------------------------------------------ checkpoints
@pytest.mark.parametrize(
    ("name", "overrides"), [("mlicv2", {}), ("mlicpp", {"gsc": True, "rope": True})]
)
def test_checkpoint_round_trip_gives_identical_bitstreams(tmp_path, name, overrides):
    torch.manual_seed(16)
    from entropykit_compression.zoo import build_model

    model = build_model(name, "tiny", overrides)
    model.eval()
    model.update(force=True)
    digest = save_checkpoint(
        tmp_path / "ck.pt", model, name=name, size="tiny", overrides=overrides, lmbda=0.01
    )
    loaded, meta = load_checkpoint(tmp_path / "ck.pt")
    assert meta["hash"] == digest
    assert len(digest) == 16
    assert meta["name"] == name
    assert meta["size"] == "tiny"
    assert meta["lmbda"] == 0.01
    assert meta["config"] == model.config.resolved()
    assert not loaded.training
    x = images(1, 64, 128, seed=17)
    enc, enc2 = model.compress(x), loaded.compress(x)
    assert enc["strings"] == enc2["strings"]
    x_hat = model.decompress(enc["strings"], enc["shape"])["x_hat"]
    assert torch.equal(loaded.decompress(enc["strings"], enc["shape"])["x_hat"], x_hat)


def test_load_checkpoint_rejects_foreign_files(tmp_path):
    png = tmp_path / "image.png"
    Image.new("RGB", (8, 8)).save(png)
    assert_bad_input(load_checkpoint, png, match="not a readable checkpoint")
    plain = tmp_path / "plain.pt"
    torch.save({"state_dict": {}, "name": "mlicv2"}, plain)
    assert_bad_input(load_checkpoint, plain, match="not an entropykit-compression checkpoint")
    other = tmp_path / "other.pt"
    torch.save({"format": "someone-else/3"}, other)
    assert_bad_input(load_checkpoint, other, match="not an entropykit-compression checkpoint")
    assert_bad_input(load_checkpoint, tmp_path / "missing.pt", match="does not exist")


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory) -> list[tuple[MLIC, dict[str, Any]]]:
    """Two tiny mlicv2 checkpoints with different weights, loaded back."""
    root = tmp_path_factory.mktemp("checkpoints")
    out = []
    for seed in (18, 19):
        model = make_model("mlicv2", seed=seed)
        save_checkpoint(root / f"ck{seed}.pt", model, name="mlicv2", size="tiny")
        out.append(load_checkpoint(root / f"ck{seed}.pt"))
    return out


def test_container_codec_round_trip(tmp_path, two_checkpoints):
    (model, meta), _ = two_checkpoints
    image = images(1, 70, 90, seed=20)[0]
    path = tmp_path / "image.ekic"
    info = compress_image(model, image, path, meta)
    assert info["bytes"] == path.stat().st_size
    assert info["bpp"] == pytest.approx(info["bytes"] * 8 / (70 * 90))
    assert info["skip_rate"] == 0.0
    decoded = decompress_file(model, path, meta)
    assert decoded.shape == (3, 70, 90)
    assert torch.equal(decoded, code_image(model, image)["x_hat"])


def test_container_from_another_checkpoint_or_damaged_raises(tmp_path, two_checkpoints):
    (model, meta), (other, other_meta) = two_checkpoints
    assert meta["hash"] != other_meta["hash"]
    path = tmp_path / "image.ekic"
    compress_image(model, images(1, 64, 64, seed=21)[0], path, meta)
    assert_bad_input(
        decompress_file, other, path, other_meta, match=meta["hash"], error=ContainerError
    )
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.ekic"
    damaged.write_bytes(bytes(data))
    start = time.perf_counter()
    assert_bad_input(decompress_file, model, damaged, meta, match="corrupted", error=ContainerError)
    truncated = tmp_path / "truncated.ekic"
    truncated.write_bytes(bytes(data[:-7]))
    assert_bad_input(decompress_file, model, truncated, meta, match="truncated|corrupted",
                     error=ContainerError)  # fmt: skip
    assert time.perf_counter() - start < 2.0


# ------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize("method", ["forward", "compress"])
def test_bad_images_are_rejected(method):
    model = make_model("mlicpp", seed=22)
    fn = getattr(model, method)
    assert_bad_input(fn, torch.rand(1, 3, 64, 96), match="pad_to_multiple")
    assert_bad_input(fn, torch.rand(1, 3, 130, 64), match="not a multiple of 64")
    nan = torch.rand(1, 3, 64, 64)
    nan[0, 1, 5, 5] = float("nan")
    assert_bad_input(fn, nan, match="NaN")
    assert_bad_input(fn, torch.rand(1, 1, 64, 64), match=r"\(B, 3, H, W\)")
    assert_bad_input(fn, torch.rand(3, 64, 64), match=r"\(B, 3, H, W\)")


@pytest.mark.parametrize("method", ["forward", "compress"])
def test_integer_images_and_empty_batches_are_rejected_with_value_error(method):
    """An 8-bit image (values 0..255) or an empty batch must be refused up front with a
    ValueError that names the problem, not fail deep inside a conv or a reshape."""
    model = make_model("mlicpp", seed=22)
    fn = getattr(model, method)
    x8 = torch.zeros(1, 3, 64, 64, dtype=torch.uint8)
    assert_bad_input(fn, x8, match="float")
    assert_bad_input(fn, torch.zeros(0, 3, 64, 64), match="empty|at least one")


def test_coding_without_cdf_tables_says_to_call_update():
    torch.manual_seed(23)
    model = MLIC(MLICConfig.tiny("mlicv2"))
    model.eval()  # no update(force=True): no CDF tables
    x = torch.rand(1, 3, 64, 64)
    assert_bad_input(model.compress, x, match=r"update\(force=True\)", error=RuntimeError)
    assert_bad_input(
        model.decompress, [[b"\0" * 8], [b"\0" * 8]], (1, 1), match="update", error=RuntimeError
    )


def test_bad_latents_and_strings_are_rejected():
    model = make_model("mlicv2", seed=24)
    y, z = _latents(25)
    assert_bad_input(model.compress_latents, y, z[:, :, :1].repeat(2, 1, 1, 1), match="batch")
    assert_bad_input(model.compress_latents, y[0], z, match=r"\(B, C, h, w\)")
    y_nan = y.clone()
    y_nan[0, 0, 0, 0] = float("inf")
    assert_bad_input(model.compress_latents, y_nan, z, match="NaN or infinite")
    assert_bad_input(model.decompress, [[b"ab"]], (1, 1), match=r"\[y_strings, z_strings\]")
    assert_bad_input(model.decompress, [[b"a", b"b"], [b"c"]], (1, 1), match="one stream per")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"variant": "mlic"}, "variant must be one of"),
        ({"N": 0}, "N must be a positive int"),
        ({"M": True}, "M must be a positive int"),
        ({"slices": 2.0}, "slices must be a positive int"),
        ({"slices": 3}, r"slices \(3\) must divide M \(32\)"),
        ({"slices": 32}, "even number of channels per slice"),
        ({"window": 4}, "window must be odd"),
        ({"gsc_threshold": 0.0}, "gsc_threshold must be positive"),
    ],
)
def test_config_validation(kwargs, match):
    assert_bad_input(MLICConfig.tiny, match=match, **kwargs)


def test_model_rejects_a_non_config():
    assert_bad_input(MLIC, {"N": 16}, match="config must be an MLICConfig")


def test_config_resolves_variant_defaults():
    assert all(MLICConfig.tiny("mlicv2").flag(n) for n in COMPONENTS)
    assert not any(MLICConfig.tiny("mlicpp").flag(n) for n in COMPONENTS)
    resolved = MLICConfig.tiny("mlicv2", cr=False).resolved()
    assert resolved["cr"] is False
    assert resolved["hgcp"] is True
    assert resolved["M"] == 32
    assert MLICConfig.small().M == 128
    assert MLICConfig().slices == 10


def test_checkpoint_bytes_are_not_a_pickle_exploit(tmp_path):
    """load_checkpoint uses torch.load(weights_only=True): an arbitrary pickled object is
    refused with ValueError instead of being executed."""
    path = tmp_path / "evil.pt"
    buffer = io.BytesIO()
    torch.save({"format": "entropykit-compression/1", "obj": Path("x")}, buffer)
    path.write_bytes(buffer.getvalue())
    assert_bad_input(load_checkpoint, path, match="not a readable checkpoint")
