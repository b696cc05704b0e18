"""MLICv2+: instance adaptation by Stochastic Gumbel Annealing (Yang, Bamler & Mandt, NeurIPS
2020; spec §1.2.6).

For one image, the encoder's latents y and z are optimised against that image's rate-distortion
loss ``bpp + lambda * 255^2 * MSE`` with the decoder frozen. Rounding is replaced by SGA: each
element goes to its floor or its ceiling with Gumbel-softmax weights whose logits are
``-atanh(distance) / T``, and the temperature anneals from 0.5 towards 0. At the end the refined
latents are rounded as usual and entropy-coded: the bitstream format and the decoder are
unchanged, so decoding costs the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from entropykit_compression.model import MLIC

_EDGE = 1e-5  # distances clamped to [-1 + eps, 1 - eps] before atanh


def sga_temperature(step: int, total: int, rate: float = 1e-3, start: float = 0.35) -> float:
    """Annealing schedule ``T(t) = min(0.5, 0.5 * exp(-rate * (t - start * total)))``: constant
    0.5 for the first ``start`` share of the steps, then exponential decay."""
    return min(0.5, 0.5 * math.exp(-rate * (step - start * total)))


def sga_round(v: torch.Tensor, temperature: float, generator: torch.Generator) -> torch.Tensor:
    """Stochastic Gumbel annealed rounding of ``v``: a Gumbel-softmax mix of ``floor(v)`` and
    ``ceil(v)`` with logits ``-atanh(v - floor v) / T`` and ``-atanh(ceil v - v) / T``;
    differentiable in ``v``, and it tends to the nearest integer as T -> 0. The Gumbel noise is
    drawn from ``generator`` (the global RNG is not touched)."""
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    lo = torch.floor(v.detach())
    d_lo = (v - lo).clamp(-1 + _EDGE, 1 - _EDGE)
    d_hi = (lo + 1 - v).clamp(-1 + _EDGE, 1 - _EDGE)
    logits = torch.stack((-torch.atanh(d_lo), -torch.atanh(d_hi)), dim=-1) / temperature
    u = torch.rand(logits.shape, generator=generator, dtype=v.dtype, device=v.device)
    exponential = -torch.log(u.clamp_min(1e-20))  # Exp(1) noise; Gumbel = -log of it
    gumbel = -torch.log(exponential.clamp_min(1e-20))
    weights = (logits + gumbel).softmax(dim=-1)
    return lo + weights[..., 1]


@dataclass
class RefineResult:
    """Latents refined by :func:`refine` and the image's hard-rounded RD terms before and after.

    Attributes:
        y, z: the refined latents, to entropy-code with ``model.compress_latents(y, z)``.
        before, after: ``{"loss", "bpp", "mse"}`` of the encoder's latents and of the refined
            ones, evaluated with normal rounding (likelihood estimate of the rate).
        history: ``{"step", "loss", "temperature"}`` every 50 steps (relaxed loss).
    """

    y: torch.Tensor
    z: torch.Tensor
    before: dict[str, float]
    after: dict[str, float]
    history: list[dict[str, float]]


def _rd(model: MLIC, out: dict[str, Any], x: torch.Tensor, lmbda: float) -> dict[str, Any]:
    num_pixels = x.shape[0] * x.shape[2] * x.shape[3]
    bits = sum((-torch.log2(lik)).sum() for lik in out["likelihoods"].values())
    bpp = bits / num_pixels
    mse = torch.mean((out["x_hat"] - x) ** 2)
    return {"loss": bpp + lmbda * 255**2 * mse, "bpp": bpp, "mse": mse}


def _hard_rd(model: MLIC, y: torch.Tensor, z: torch.Tensor, x: torch.Tensor, lmbda: float) -> dict:
    with torch.no_grad():
        terms = _rd(model, model.forward_latents(y, z), x, lmbda)
    return {k: float(v) for k, v in terms.items()}


def refine(
    model: MLIC,
    x: torch.Tensor,
    lmbda: float,
    iters: int = 2000,
    lr: float = 5e-3,
    *,
    seed: int = 0,
    anneal_rate: float = 1e-3,
    anneal_start: float = 0.35,
) -> RefineResult:
    """SGA refinement of the latents of ``x`` (1, 3, H, W), H and W multiples of 64, for a trained
    :class:`MLIC` in eval mode (its weights are not changed).

    Args:
        lmbda: the rate-distortion trade-off the model was trained with.
        iters: Adam steps (paper setting: 2000).
        lr: Adam learning rate on (y, z) (5e-3).
        seed: seed of the Gumbel noise.
        anneal_rate, anneal_start: the temperature schedule (:func:`sga_temperature`).
    """
    if not isinstance(model, MLIC):
        raise ValueError(f"refine needs an MLIC model, got {type(model).__name__}")
    if model.training:
        raise ValueError("put the model in eval mode (model.eval()) before refining")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be a positive int, got {iters!r}")
    if not lmbda > 0 or not lr > 0:
        raise ValueError(f"lmbda and lr must be positive, got {lmbda} and {lr}")
    model._check_input(x)
    with torch.no_grad():
        y0 = model.g_a(x)
        z0 = model.h_a(y0)
    before = _hard_rd(model, y0, z0, x, lmbda)
    y = y0.clone().requires_grad_(True)
    z = z0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([y, z], lr=lr)
    generator = torch.Generator(device=x.device).manual_seed(seed)
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    history: list[dict[str, float]] = []
    try:
        for step in range(iters):
            temperature = sga_temperature(step, iters, anneal_rate, anneal_start)

            def relaxed(v: torch.Tensor, t: float = temperature) -> torch.Tensor:
                return sga_round(v, t, generator)

            loss = _rd(model, model.forward_latents(y, z, relaxed=relaxed), x, lmbda)["loss"]
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if step % 50 == 0 or step == iters - 1:
                history.append(
                    {"step": float(step), "loss": loss.item(), "temperature": temperature}
                )
    finally:
        for p in frozen:
            p.requires_grad_(True)
    y_ref, z_ref = y.detach(), z.detach()
    after = _hard_rd(model, y_ref, z_ref, x, lmbda)
    return RefineResult(y=y_ref, z=z_ref, before=before, after=after, history=history)
