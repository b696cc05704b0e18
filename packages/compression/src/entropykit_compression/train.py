"""Rate-distortion training through Lightning Fabric (spec §1.3, §6 item 6).

Loss: ``lambda * 255^2 * MSE + bpp`` (compressai's ``RateDistortionLoss``), plus, for a model with
guided selective compression, ``gsc_weight`` times the binary cross-entropy of its code/skip
logits against the guidance target ``1[scale >= tau]``. Optimisers as MLIC++: Adam on the network
(learning rate ``lr``, divided by 10 for the last ``lr_drop`` share of the steps) and a separate
Adam (``aux_lr``) on the entropy bottleneck's quantiles, driven by the auxiliary loss; gradients
clipped to norm 1.0.

Data: random crops (:class:`entropykit_compression.data.CropDataset`) of the bundled training
photos or of a user's image folder, mixed with procedural images; the held-out evaluation photos
are never used.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from entropykit_compression.data import CropDataset, image_folder
from entropykit_compression.model import MLIC
from entropykit_compression.zoo import MODELS, SIZES, build_model
from entropykit_shared.runtime import (
    FabricConfig,
    StepCallback,
    fabric_from_config,
    finish_fabric,
    seed_everything,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.losses import RateDistortionLoss


@dataclass
class TrainConfig:
    """One training run.

    Attributes:
        model: one of :data:`entropykit_compression.zoo.MODELS`.
        size: ``small`` (CPU scale), ``paper`` or ``tiny`` (tests).
        overrides: MLIC component flags, e.g. ``{"hgcp": False}`` (ablations).
        lmbda: rate-distortion trade-off (paper MSE values 0.0018 ... 0.0483).
        steps: optimiser steps.
        batch_size: crops per step (paper: 32 on a GPU).
        crop: crop side in pixels, a multiple of 64 (paper: 256, then 512).
        lr: network learning rate (paper: 1e-4).
        lr_drop: share of the steps at the end run at lr / 10 (paper: decayed to 1e-5 at the end).
        aux_lr: learning rate of the quantile (auxiliary) optimiser (paper: 1e-3).
        clip: gradient-norm clipping (paper: 1.0).
        gsc_weight: weight of the GSC guidance loss (models with GSC only).
        gsc_phase: share of the steps, at the end, in which GSC is switched on and trained (the
            paper trains it in a phase after the main training; before it every element is
            coded, so the transforms and the entropy model learn without skipping).
        data_dir: a folder of training images (default: the bundled training photos).
        procedural_fraction: share of procedural images among the crops.
        workers: DataLoader worker processes (0: load in the training process).
        log_every: steps between logged rows.
        fabric: devices, strategy and precision.
    """

    model: str = "mlicv2"
    size: str = "small"
    overrides: dict[str, Any] = field(default_factory=dict)
    lmbda: float = 0.0067
    steps: int = 2000
    batch_size: int = 8
    crop: int = 128
    lr: float = 1e-4
    lr_drop: float = 0.1
    aux_lr: float = 1e-3
    clip: float = 1.0
    gsc_weight: float = 0.01
    gsc_phase: float = 0.2
    data_dir: str = ""
    procedural_fraction: float = 0.5
    workers: int = 0
    log_every: int = 50
    fabric: FabricConfig = field(default_factory=FabricConfig)

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.size not in SIZES:
            raise ValueError(f"size must be one of {tuple(SIZES)}, got {self.size!r}")
        if not self.lmbda > 0:
            raise ValueError(f"lmbda must be positive, got {self.lmbda}")
        for name in ("steps", "batch_size", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if self.crop < 64 or self.crop % 64:
            raise ValueError(f"crop must be a multiple of 64 pixels, got {self.crop}")
        if not 0 <= self.lr_drop < 1:
            raise ValueError(f"lr_drop must lie in [0, 1), got {self.lr_drop}")
        if not 0 <= self.gsc_phase <= 1:
            raise ValueError(f"gsc_phase must lie in [0, 1], got {self.gsc_phase}")
        if self.data_dir and not Path(self.data_dir).expanduser().is_dir():
            raise ValueError(
                f"data_dir {self.data_dir!r} is not a folder; pass a folder of images or leave it "
                "empty for the bundled training photos"
            )

    @classmethod
    def quick(cls, **overrides: Any) -> TrainConfig:
        """Seconds-long preset for tests and the quick demo: the tiny model, 64-px crops."""
        values = {"size": "tiny", "steps": 30, "batch_size": 4, "crop": 64, "lr": 1e-3}
        values.update(overrides)
        return cls(**values)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the trained model, in eval mode with its CDF tables built (``update(force=True)``).
        history: one row per ``log_every`` steps: step, loss, bpp, mse, psnr (of the noisy
            training reconstruction), aux loss, learning rate, and the GSC skip rate if any.
        seconds: wall time of the loop.
    """

    model: Any
    history: list[dict[str, float]]
    seconds: float


def _psnr_from_mse(mse: float) -> float:
    return float("inf") if mse <= 0 else -10.0 * math.log10(mse)


def train(
    cfg: TrainConfig,
    *,
    seed: int = 0,
    device: str = "cpu",
    logger: StepCallback | None = None,
) -> TrainResult:
    """Train ``cfg.model`` from scratch on random crops; returns the trained model and history."""
    fabric = fabric_from_config(device, cfg.fabric)
    seed_everything(seed)
    sources = image_folder(cfg.data_dir) if cfg.data_dir else None
    dataset = CropDataset(
        sources,
        crop_size=cfg.crop,
        length=cfg.steps * cfg.batch_size,
        procedural_fraction=cfg.procedural_fraction,
        seed=seed,
    )
    loader = DataLoader(
        dataset, batch_size=cfg.batch_size, shuffle=False, num_workers=cfg.workers, drop_last=True
    )
    loader = fabric.setup_dataloaders(loader, move_to_device=True)
    model = build_model(cfg.model, cfg.size, cfg.overrides)
    aux_params = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    net_params = [p for n, p in model.named_parameters() if not n.endswith(".quantiles")]
    optimizer = torch.optim.Adam(net_params, lr=cfg.lr)
    aux_optimizer = torch.optim.Adam(aux_params, lr=cfg.aux_lr)
    module, optimizer, aux_optimizer = fabric.setup(model, optimizer, aux_optimizer)
    criterion = RateDistortionLoss(lmbda=cfg.lmbda)
    drop_at = math.ceil(cfg.steps * (1 - cfg.lr_drop))
    gsc_from = math.ceil(cfg.steps * (1 - cfg.gsc_phase))
    has_gsc = isinstance(model, MLIC) and model.config.flag("gsc")

    history: list[dict[str, float]] = []
    sums: dict[str, float] = {}
    start = time.perf_counter()
    module.train()
    for step, x in enumerate(loader, start=1):
        if step == drop_at + 1 and cfg.lr_drop > 0:
            for group in optimizer.param_groups:
                group["lr"] = cfg.lr / 10
        if has_gsc:
            model.gsc_enabled = step > gsc_from
        out = module(x)
        terms = criterion(out, x)
        loss = terms["loss"]
        if "gsc" in out:
            gsc = out["gsc"]
            loss = loss + cfg.gsc_weight * F.binary_cross_entropy_with_logits(
                gsc["logits"], gsc["targets"]
            )
        if not torch.isfinite(loss):
            raise FloatingPointError(
                f"the loss became {float(loss)} at step {step}; lower lr (now {cfg.lr})"
            )
        optimizer.zero_grad()
        fabric.backward(loss)
        fabric.clip_gradients(module, optimizer, max_norm=cfg.clip)
        optimizer.step()
        aux_loss = model.aux_loss()
        aux_optimizer.zero_grad()
        fabric.backward(aux_loss)
        aux_optimizer.step()

        row = {
            "loss": loss.item(),
            "bpp": terms["bpp_loss"].item(),
            "mse": terms["mse_loss"].item(),
            "aux": aux_loss.item(),
        }
        if has_gsc:  # 0 before the GSC phase: every element is coded
            row["skip_rate"] = out["gsc"]["skip_rate"] if "gsc" in out else 0.0
        for key, value in row.items():
            sums[key] = sums.get(key, 0.0) + value
        if step % cfg.log_every == 0 or step == cfg.steps:
            count = step - (history[-1]["step"] if history else 0)
            mean = {key: value / count for key, value in sums.items()}
            mean["psnr"] = _psnr_from_mse(mean["mse"])
            record = {"step": float(step), **mean, "lr": optimizer.param_groups[0]["lr"]}
            history.append(record)
            sums = {}
            if logger is not None and fabric.is_global_zero:
                logger(step, {k: v for k, v in record.items() if k != "step"})
    seconds = time.perf_counter() - start
    finish_fabric(fabric)
    model.eval()
    if has_gsc:
        model.gsc_enabled = True
    model.update(force=True)
    return TrainResult(model=model, history=history, seconds=seconds)
