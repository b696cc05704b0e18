"""Training (entropykit_compression.train), rate accuracy of the real bitstream after training,
and MLICv2+ instance adaptation by Stochastic Gumbel Annealing (entropykit_compression.sga).

The trained models are module fixtures: the tiny size, TrainConfig.quick, 60-100 steps (STEPS),
trained once and shared by the tests below.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import torch
from entropykit_compression.data import procedural_image, save_png
from entropykit_compression.evaluate import code_image
from entropykit_compression.model import MLIC, MLICConfig
from entropykit_compression.sga import refine, sga_round, sga_temperature
from entropykit_compression.train import TrainConfig, TrainResult, train
from entropykit_compression.zoo import build_model

from entropykit_shared.testing import assert_bad_input
from entropykit_shared.testing import one_thread as one_thread  # autouse: one thread per pool

# Steps per model (log every 20): mlicv2 is the model SGA refines and the main rate check;
# the others only need to show a falling loss and a working coder.
STEPS = {"mlicv2": 100, "mlicpp": 60, "mean_scale": 60}
LMBDA = TrainConfig.quick().lmbda
HISTORY_KEYS = {"step", "loss", "bpp", "mse", "psnr", "aux", "lr"}


def _train(model: str) -> TrainResult:
    return train(TrainConfig.quick(model=model, steps=STEPS[model], log_every=20), seed=0)


@pytest.fixture(scope="module")
def trained_mlicv2() -> TrainResult:
    return _train("mlicv2")


@pytest.fixture(scope="module")
def trained_mlicpp() -> TrainResult:
    return _train("mlicpp")


@pytest.fixture(scope="module")
def trained_mean_scale() -> TrainResult:
    return _train("mean_scale")


# ------------------------------------------------------------------------------ training
@pytest.mark.parametrize("name", ["mlicv2", "mlicpp", "mean_scale"])
def test_training_lowers_the_loss(name, request):
    result: TrainResult = request.getfixturevalue(f"trained_{name}")
    history = result.history
    assert [row["step"] for row in history] == [float(s) for s in range(20, STEPS[name] + 1, 20)]
    keys = HISTORY_KEYS | ({"skip_rate"} if name == "mlicv2" else set())
    for row in history:
        assert set(row) == keys
        assert all(math.isfinite(v) for v in row.values()), row
    assert history[-1]["loss"] < history[0]["loss"]
    # lr 1e-3 (quick preset), divided by 10 for the last 10 % of the steps
    assert history[0]["lr"] == pytest.approx(1e-3)
    assert history[-1]["lr"] == pytest.approx(1e-4)
    assert result.seconds > 0
    assert not result.model.training  # returned ready to code: eval mode, CDF tables built
    assert result.model.gaussian_conditional.quantized_cdf.numel() > 0


def test_training_is_deterministic_for_a_seed():
    cfg = TrainConfig.quick(model="mlicv2", steps=3, batch_size=2, log_every=1)
    logged: list[tuple[int, dict[str, float]]] = []
    first = train(cfg, seed=7, logger=lambda step, row: logged.append((step, row)))
    second = train(cfg, seed=7)
    other = train(cfg, seed=8)
    assert first.history == second.history
    assert first.history != other.history
    assert [{"step": float(step), **row} for step, row in logged] == first.history
    for a, b in zip(
        first.model.state_dict().values(), second.model.state_dict().values(), strict=True
    ):
        assert torch.equal(a, b)


def test_training_on_an_image_folder(tmp_path):
    for seed in range(2):
        save_png(procedural_image(80, 96, seed=seed), tmp_path / f"img{seed}.png")
    cfg = TrainConfig.quick(model="mlicpp", steps=2, batch_size=2, data_dir=str(tmp_path))
    result = train(cfg, seed=0)
    assert len(result.history) == 1
    assert math.isfinite(result.history[0]["loss"])


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ({"crop": 96}, "crop must be a multiple of 64"),
        ({"crop": 32}, "crop must be a multiple of 64"),
        ({"model": "mlic"}, "model must be one of"),
        ({"size": "huge"}, "size must be one of"),
        ({"lmbda": 0.0}, "lmbda must be positive"),
        ({"lmbda": -0.01}, "lmbda must be positive"),
        ({"steps": 0}, "steps must be a positive int"),
        ({"batch_size": 1.5}, "batch_size must be a positive int"),
        ({"lr_drop": 1.0}, r"lr_drop must lie in \[0, 1\)"),
        ({"data_dir": "/nonexistent/entropykit-images"}, "data_dir .* is not a folder"),
    ],
)
def test_bad_training_configs_are_rejected(overrides, match):
    assert_bad_input(TrainConfig.quick, match=match, **overrides)


# ------------------------------------------------------------------------------ rate accuracy
@contextmanager
def _recorded_parts(model: MLIC) -> Iterator[list[tuple[int, Any, Any, Any]]]:
    """Record (slice, scales, means, positions) of every code() call of ``model._slices``."""
    calls: list[tuple[int, Any, Any, Any]] = []
    original = model._slices

    def wrapped(hyper_params: torch.Tensor, code: Any) -> torch.Tensor:
        def spy(part: str, s: int, scales: Any, means: Any, pos: Any) -> Any:
            calls.append((s, scales, means, pos))
            return code(part, s, scales, means, pos)

        return original(hyper_params, spy)

    model._slices = wrapped  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        del model._slices


def _rate_terms(model: MLIC, x: torch.Tensor) -> dict[str, float]:
    """Bits of y and z: likelihood estimate, real stream, and the ideal cost of y under the
    coder's own tables (each scale snapped to compressai's 64-level scale table, as
    GaussianConditional.build_indexes does)."""
    gc = model.gaussian_conditional
    with torch.no_grad(), _recorded_parts(model) as calls:
        y = model.g_a(x)
        z = model.h_a(y)
        out = model.forward_latents(y, z)
    y_slices = y.split(model.slice_ch, dim=1)
    table_bits = 0.0
    for s, scales, means, pos in calls:
        coded = model._selection(s, scales, means, pos)
        snapped = gc.scale_table[gc.build_indexes(scales).long()]
        y_q = gc.quantize(y_slices[s], "dequantize", means)
        lik = gc.likelihood_lower_bound(gc._likelihood(y_q, snapped, means))
        table_bits += float(-torch.log2(lik)[coded].sum())
    enc = model.compress(x)
    return {
        "est_y": float(-torch.log2(out["likelihoods"]["y"]).sum()),
        "est_z": float(-torch.log2(out["likelihoods"]["z"]).sum()),
        "table_y": table_bits,
        "real_y": 8.0 * len(enc["strings"][0][0]),
        "real_z": 8.0 * len(enc["strings"][1][0]),
    }


@pytest.mark.parametrize("name", ["mlicv2", "mlicpp"])
def test_real_bitstream_rate_matches_the_likelihood_estimate(name, request):
    """Spec §6.2: real bpp within 3 % of the likelihood estimate.

    Measured on 128x128 dead-leaves images (seeds 3-5) after this module's short training:
    mlicv2 (~0.37 bpp) -0.8 % to -0.4 %; mlicpp (0.05-0.12 bpp) +0.3 % to +13.8 %, i.e. 7 to
    116 bits more than the estimate. The mlicpp excess is the fixed cost of the two rANS streams
    (y and z), not a coding error: compressai's coder (rANS64) starts from the state 2^31 and
    flushes its 64-bit state at the end, so every stream costs between 32 and 64 bits more than
    its information content (measured: 44-58 bits for y over the ideal cost under the coder's
    tables, 48 for z), which is ~14 % of a 0.05 bpp image of 16384 pixels. Hence the bound
    |real - est| <= 3 % of est + 2 * 64 bits, and the plain 3 % where the rate is large enough
    (mlicv2). The y stream is also checked against the ideal cost of exactly the coded symbols
    under the coder's own tables (scales snapped to the 64-level scale table) plus the flush.
    """
    model = request.getfixturevalue(f"trained_{name}").model
    pixels = 128 * 128
    for seed in (3, 4, 5):
        image = procedural_image(128, 128, seed=seed, kind="dead_leaves")
        row = code_image(model, image)
        terms = _rate_terms(model, image[None])
        est_bits = terms["est_y"] + terms["est_z"]
        assert row["est_bpp"] == pytest.approx(est_bits / pixels, rel=1e-4)
        assert row["bpp"] * pixels == terms["real_y"] + terms["real_z"]
        assert abs(row["bpp"] - row["est_bpp"]) <= 0.03 * row["est_bpp"] + 2 * 64 / pixels
        if name == "mlicv2":
            assert abs(row["bpp"] - row["est_bpp"]) <= 0.03 * row["est_bpp"]
        # 64: the flushed state; 1 %: the 16-bit precision of the quantised CDFs
        assert terms["real_y"] <= 1.01 * terms["table_y"] + 64


# ------------------------------------------------------------------------------ SGA
def test_sga_temperature_schedule():
    total = 1000
    assert sga_temperature(0, total) == 0.5
    assert sga_temperature(350, total) == 0.5  # constant for the first 35 % of the steps
    assert sga_temperature(450, total) == pytest.approx(0.5 * math.exp(-1e-3 * 100))
    assert sga_temperature(999, total) == pytest.approx(0.5 * math.exp(-1e-3 * 649))
    assert sga_temperature(100, 200, rate=0.01, start=0.25) == pytest.approx(
        0.5 * math.exp(-0.01 * 50)
    )
    values = [sga_temperature(t, 2000) for t in range(2000)]
    assert all(0 < v <= 0.5 for v in values)
    assert all(b <= a for a, b in itertools.pairwise(values))
    assert values[-1] < values[700] == 0.5


def test_sga_round_stays_between_floor_and_ceil_and_anneals_to_round():
    gen = torch.Generator().manual_seed(0)
    v = 20 * torch.rand(4000, generator=gen, dtype=torch.float64) - 10
    v[:5] = torch.tensor([-2.0, 0.0, 3.0, 0.25, -0.75], dtype=torch.float64)  # integers too
    for temperature in (0.5, 0.1, 1e-4):
        out = sga_round(v, temperature, torch.Generator().manual_seed(1))
        assert out.dtype == v.dtype
        assert out.shape == v.shape
        assert torch.all(out >= torch.floor(v))
        assert torch.all(out <= torch.floor(v) + 1)
    far = (v - torch.round(v)).abs() < 0.45  # not within 0.05 of a half
    cold = sga_round(v, 1e-4, torch.Generator().manual_seed(2))
    torch.testing.assert_close(cold[far], torch.round(v)[far], rtol=0, atol=1e-6)
    assert torch.equal(cold[:3], v[:3])  # integers stay themselves when cold
    warm = sga_round(v, 0.5, torch.Generator().manual_seed(2))
    assert (warm - torch.round(v)).abs().max() > 0.3  # a warm sample is genuinely soft


def test_sga_round_is_differentiable_seeded_and_leaves_the_global_rng_alone():
    v = torch.linspace(-3.3, 3.7, 101, requires_grad=True)
    state = torch.get_rng_state()
    out = sga_round(v, 0.5, torch.Generator().manual_seed(3))
    (out * torch.arange(101.0)).sum().backward()
    assert torch.equal(torch.get_rng_state(), state)
    assert v.grad is not None
    assert torch.all(torch.isfinite(v.grad))
    assert v.grad.abs().sum() > 0
    again = sga_round(v.detach(), 0.5, torch.Generator().manual_seed(3))
    other = sga_round(v.detach(), 0.5, torch.Generator().manual_seed(4))
    assert torch.equal(out.detach(), again)
    assert not torch.equal(again, other)
    assert_bad_input(sga_round, v, 0.0, torch.Generator(), match="temperature must be positive")


def _real_rd(model: MLIC, y: Any, z: Any, x: torch.Tensor) -> dict[str, float]:
    """RD loss of the real bitstream of latents (y, z), decoded with the normal decompress."""
    enc = model.compress_latents(y, z)
    x_hat = model.decompress(enc["strings"], enc["shape"])["x_hat"]
    bits = 8 * sum(len(s) for streams in enc["strings"] for s in streams)
    bpp = bits / (x.shape[-2] * x.shape[-1])
    mse = float(((x_hat - x) ** 2).mean())
    return {"loss": bpp + LMBDA * 255**2 * mse, "bpp": bpp, "mse": mse, "x_hat": x_hat}


def test_refine_lowers_the_rd_loss_of_the_real_bitstream(trained_mlicv2):
    model = trained_mlicv2.model
    x = procedural_image(64, 64, seed=6, kind="dead_leaves")[None]
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    result = refine(model, x, LMBDA, iters=50, lr=5e-3, seed=0)
    assert result.after["loss"] < result.before["loss"]
    assert set(result.before) == set(result.after) == {"loss", "bpp", "mse"}
    assert [h["step"] for h in result.history] == [0.0, 49.0]
    assert [h["temperature"] for h in result.history] == [0.5, sga_temperature(49, 50)]
    assert result.y.shape == model.g_a(x).shape
    assert not result.y.requires_grad
    # the model is untouched: same weights, still trainable, still in eval mode
    assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    assert all(p.requires_grad for p in model.parameters())
    assert not model.training
    with torch.no_grad():
        y0 = model.g_a(x)
        z0 = model.h_a(y0)
    plain = _real_rd(model, y0, z0, x)
    refined = _real_rd(model, result.y, result.z, x)
    assert refined["loss"] < plain["loss"]  # measured on real bitstreams, not the relaxed loss
    # the same decoder decodes the refined stream to what refine optimised
    with torch.no_grad():
        expected = model.forward_latents(result.y, result.z)["x_hat"].clamp(0, 1)
    assert (refined["x_hat"] - expected).abs().max() <= 1e-5
    assert result.after["loss"] == pytest.approx(refined["loss"], rel=0.1)


def test_refine_rejects_bad_input():
    torch.manual_seed(0)
    model = MLIC(MLICConfig.tiny("mlicv2"))  # a fresh module is in train mode
    x = torch.rand(1, 3, 64, 64)
    assert_bad_input(refine, model, x, LMBDA, iters=1, match="eval mode")
    model.eval()
    assert_bad_input(refine, build_model("mean_scale", "tiny"), x, LMBDA, match="MLIC model")
    assert_bad_input(refine, model, x, LMBDA, iters=0, match="iters must be a positive int")
    assert_bad_input(refine, model, x, LMBDA, iters=True, match="iters must be a positive int")
    assert_bad_input(refine, model, x, 0.0, iters=1, match="lmbda and lr must be positive")
    assert_bad_input(refine, model, x, LMBDA, iters=1, lr=-1.0, match="must be positive")
    assert_bad_input(refine, model, torch.rand(1, 3, 64, 96), LMBDA, match="pad_to_multiple")
