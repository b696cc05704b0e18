"""The paper's claims at CPU scale (spec §5 anchor measurements, §6 item 10).

Every learned model is trained from scratch on the same crops with the same step budget at each
lambda, then evaluated with real bitstreams on the held-out set (the bundled held-out photos and
procedural dead-leaves images never used for training). Reported:

- RD curves (mean bpp and PSNR per lambda or quality) of MLICv2, MLIC++, compressai's
  mean-scale hyperprior, scale hyperprior and factorized prior, JPEG, WebP and AVIF;
- BD-rate / BD-PSNR (pchip and cubic) of MLICv2 against the mean-scale hyperprior and against
  MLIC++, and of every codec against WebP;
- MLICv2+ (SGA-refined latents, same decoder) against MLICv2 on centre crops of the photos;
- rate-estimate accuracy (real bitstream vs likelihood estimate) and encode/decode time per
  image.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from entropykit_compression.codecs import DEFAULT_QUALITIES
from entropykit_compression.data import (
    HELD_OUT,
    bundled_images,
    eval_dead_leaves,
    pad_to_multiple,
)
from entropykit_compression.evaluate import bd_table, classic_curves, evaluate_model, mean_point
from entropykit_compression.model import MLIC, STRIDE
from entropykit_compression.sga import refine
from entropykit_compression.train import TrainConfig, train
from entropykit_compression.zoo import save_checkpoint

Progress = Callable[[Iterable[Any]], Iterable[Any]]


@dataclass
class BenchConfig:
    """The benchmark's budget.

    Attributes:
        train: the training run shared by every model (its ``model`` and ``lmbda`` are set per
            run; same data, seed and steps for all).
        models: learned models to train.
        lambdas: rate-distortion trade-offs (>= 4 for BD-rate; paper MSE values).
        photos: bundled held-out photos to evaluate on.
        dead_leaves: procedural evaluation images (seeds 0..n-1, disjoint from training seeds).
        dead_leaves_size: (height, width) of each.
        codecs: classic codecs.
        qualities: their quality settings.
        sga_iters: SGA steps per photo for MLICv2+ (0: skip; paper 2000).
        sga_lr: SGA learning rate.
        sga_crop: MLICv2 and MLICv2+ are compared on centre crops of this side of the photos
            (0: whole photos), to bound the cost of the per-image optimisation on CPU.
    """

    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(size="compact", steps=1000, lr=5e-4, log_every=100)
    )
    models: list[str] = field(
        default_factory=lambda: ["mlicv2", "mlicpp", "mean_scale", "hyperprior", "factorized"]
    )
    lambdas: list[float] = field(default_factory=lambda: [0.0035, 0.0067, 0.013, 0.025])
    photos: list[str] = field(default_factory=lambda: list(HELD_OUT))
    dead_leaves: int = 6
    dead_leaves_size: tuple[int, int] = (256, 384)
    codecs: list[str] = field(default_factory=lambda: ["jpeg", "webp", "avif"])
    qualities: dict[str, list[int]] = field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_QUALITIES.items()}
    )
    sga_iters: int = 300
    sga_lr: float = 5e-3
    sga_crop: int = 256

    def __post_init__(self) -> None:
        if len(self.lambdas) < 1 or any(not lm > 0 for lm in self.lambdas):
            raise ValueError(f"lambdas must be positive numbers, got {self.lambdas}")
        missing = [c for c in self.codecs if c not in self.qualities]
        if missing:
            raise ValueError(f"no qualities given for codecs {missing}")

    @classmethod
    def quick(cls) -> BenchConfig:
        return cls(
            train=TrainConfig.quick(steps=10),
            models=["mlicv2", "mean_scale"],
            lambdas=[0.0067, 0.025],
            photos=["astronaut"],
            dead_leaves=1,
            dead_leaves_size=(64, 64),
            codecs=["jpeg"],
            qualities={"jpeg": [20, 60]},
            sga_iters=5,
            sga_crop=64,
        )


def eval_set(cfg: BenchConfig) -> list[tuple[str, torch.Tensor]]:
    """The held-out images: the photos, then the dead-leaves images."""
    photos = list(bundled_images(cfg.photos).items()) if cfg.photos else []
    h, w = cfg.dead_leaves_size
    leaves = eval_dead_leaves(cfg.dead_leaves, h, w) if cfg.dead_leaves else {}
    return photos + list(leaves.items())


def _refined_rows(
    model: MLIC, images: Sequence[tuple[str, torch.Tensor]], lmbda: float, cfg: BenchConfig
) -> list[dict[str, Any]]:
    """MLICv2+ rows: SGA-refined latents coded with the unchanged coder."""
    from entropykit_compression.data import crop_to
    from entropykit_compression.metrics import bpp, ms_ssim, psnr

    rows = []
    for name, image in images:
        x, size = pad_to_multiple(image[None], STRIDE)
        start = time.perf_counter()
        result = refine(model, x, lmbda, iters=cfg.sga_iters, lr=cfg.sga_lr)
        seconds = time.perf_counter() - start
        enc = model.compress_latents(result.y, result.z)
        x_hat = crop_to(model.decompress(enc["strings"], enc["shape"])["x_hat"], size)[0]
        num_bytes = sum(len(s) for streams in enc["strings"] for s in streams)
        rows.append(
            {
                "image": name,
                "bpp": bpp(num_bytes, *size),
                "psnr": float(psnr(x_hat, image)),
                "ms_ssim": float(ms_ssim(x_hat, image)),
                "refine_seconds": seconds,
                "rd_before": result.before["loss"],
                "rd_after": result.after["loss"],
            }
        )
    return rows


def _centre(image: torch.Tensor, size: int) -> torch.Tensor:
    if not size:
        return image
    h, w = image.shape[-2:]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[:, top : top + size, left : left + size]


def run_bench(
    cfg: BenchConfig,
    *,
    seed: int = 0,
    device: str = "cpu",
    progress: Progress | None = None,
    checkpoint_dir: str | Path | None = None,
) -> dict[str, Any]:
    """Train, evaluate and compare (see the module docstring). Returns ``{"curves", "rows",
    "bd", "rate_accuracy", "timing", "sga", "training"}``; with ``checkpoint_dir`` every trained
    model is saved there as ``<model>_<lmbda>.pt``."""
    images = eval_set(cfg)
    photo_images = [(n, _centre(img, cfg.sga_crop)) for n, img in images[: len(cfg.photos)]]
    runs = [(m, lm) for m in cfg.models for lm in cfg.lambdas]
    curves: dict[str, list[dict[str, float]]] = {}
    rows: list[dict[str, Any]] = []
    training: list[dict[str, Any]] = []
    sga_rows: list[dict[str, Any]] = []
    for model_name, lmbda in progress(runs) if progress is not None else runs:
        result = train(replace(cfg.train, model=model_name, lmbda=lmbda), seed=seed, device=device)
        model = result.model.cpu()
        if checkpoint_dir is not None:
            save_checkpoint(
                Path(checkpoint_dir) / f"{model_name}_{lmbda:g}.pt",
                model,
                name=model_name,
                size=cfg.train.size,
                overrides=cfg.train.overrides,
                lmbda=lmbda,
                steps=cfg.train.steps,
            )
        model_rows = evaluate_model(model, images, name=model_name)
        for row in model_rows:
            row["lmbda"] = lmbda
        rows += model_rows
        curves.setdefault(model_name, []).append({"lmbda": lmbda, **mean_point(model_rows)})
        training.append(
            {
                "model": model_name,
                "lmbda": lmbda,
                "seconds": result.seconds,
                "final_loss": result.history[-1]["loss"],
                "params": sum(p.numel() for p in model.parameters()),
            }
        )
        if model_name == "mlicv2" and cfg.sga_iters > 0 and photo_images:
            refined = _refined_rows(model, photo_images, lmbda, cfg)
            for row in refined:
                row["lmbda"] = lmbda
            sga_rows += refined
            plain = evaluate_model(model, photo_images, name="mlicv2 (photos)")
            curves.setdefault("mlicv2 (photos)", []).append({"lmbda": lmbda, **mean_point(plain)})
            curves.setdefault("mlicv2+ SGA (photos)", []).append(
                {"lmbda": lmbda, **mean_point(refined)}
            )
    classic, classic_rows = classic_curves(images, {c: cfg.qualities[c] for c in cfg.codecs})
    curves.update(classic)
    rows += classic_rows
    main = {k: v for k, v in curves.items() if "photos" not in k}
    bd: dict[str, list[dict[str, Any]]] = {}
    for anchor in ("mean_scale", "mlicpp", "webp"):
        if anchor in main:
            bd[f"vs_{anchor}"] = bd_table(main, anchor)
    if "mlicv2 (photos)" in curves:
        photos_only = {k: v for k, v in curves.items() if "photos" in k}
        bd["sga_vs_mlicv2"] = bd_table(photos_only, "mlicv2 (photos)")
    learned_rows = [r for r in rows if "est_bpp" in r]
    rate_accuracy = []
    timing = []
    for model_name in cfg.models:
        mine = [r for r in learned_rows if r["codec"] == model_name]
        gaps = [abs(r["bpp"] - r["est_bpp"]) / r["est_bpp"] for r in mine]
        rate_accuracy.append(
            {
                "model": model_name,
                "mean_rel_gap": float(np.mean(gaps)),
                "max_rel_gap": float(np.max(gaps)),
            }
        )
        timing.append(
            {
                "model": model_name,
                "encode_s": float(np.mean([r["encode_seconds"] for r in mine])),
                "decode_s": float(np.mean([r["decode_seconds"] for r in mine])),
            }
        )
    for codec in cfg.codecs:
        mine = [r for r in rows if r["codec"] == codec]
        timing.append(
            {
                "model": codec,
                "encode_s": float(np.mean([r["encode_seconds"] for r in mine])),
                "decode_s": float(np.mean([r["decode_seconds"] for r in mine])),
            }
        )
    return {
        "curves": curves,
        "rows": rows,
        "bd": bd,
        "rate_accuracy": rate_accuracy,
        "timing": timing,
        "sga": sga_rows,
        "training": training,
        "images": [name for name, _ in images],
    }
