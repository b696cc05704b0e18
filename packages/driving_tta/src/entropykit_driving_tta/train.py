"""Training Hydra-lite through Lightning Fabric, and its checkpoints.

A checkpoint holds the weights, the model config and the vocabulary itself (poses, clusters,
hash), so a planner always scores the vocabulary it was trained on; loading it with a
different vocabulary raises :class:`~entropykit_driving_tta.vocab.VocabularyMismatchError`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from entropykit_driving_tta.features import FrameSet
from entropykit_driving_tta.model import HydraLite, LossWeights, ModelConfig, hydra_loss
from entropykit_driving_tta.vocab import Vocabulary
from entropykit_shared.runtime import (
    FabricConfig,
    StepCallback,
    fabric_from_config,
    seed_everything,
)


@dataclass
class TrainConfig:
    """Hydra-lite training (spec defaults: Adam 2e-4 with cosine decay, batch 64, 20 epochs).

    Attributes:
        epochs, batch_size, lr, weight_decay: optimisation.
        grad_clip: max gradient norm.
        model: sizes; loss: loss weights.
        fabric: devices and precision.
    """

    epochs: int = 20
    batch_size: int = 64
    lr: float = 2e-4
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossWeights = field(default_factory=LossWeights)
    fabric: FabricConfig = field(default_factory=FabricConfig)

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("epochs and batch_size must be >= 1 and lr > 0")


@dataclass
class TrainResult:
    model: HydraLite
    vocab: Vocabulary
    history: list[dict[str, float]]


def _tensors(frames: FrameSet) -> tuple[torch.Tensor, ...]:
    return (
        torch.from_numpy(frames.agents),
        torch.from_numpy(frames.status),
        torch.from_numpy(frames.expert),
        torch.from_numpy(frames.teacher),
    )


def train(
    frames: FrameSet,
    vocab: Vocabulary,
    cfg: TrainConfig | None = None,
    *,
    seed: int = 0,
    device: str = "cpu",
    logger: StepCallback | None = None,
) -> TrainResult:
    """Train a planner on teacher-labelled frames; returns it with the per-epoch history."""
    cfg = cfg or TrainConfig()
    vocab.check_matches(frames.vocab_hash, what="frame set")
    if len(frames) < 2:
        raise ValueError(f"training needs at least 2 frames, got {len(frames)}")
    fabric = fabric_from_config(device, cfg.fabric)
    seed_everything(seed)
    vocab8 = torch.from_numpy(vocab.subsampled()).float()
    model = HydraLite(vocab8, cfg.model)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(frames) / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, total) / total))
    )
    module, opt = fabric.setup(model, opt)
    data = _tensors(frames)
    vocab8 = fabric.to_device(vocab8)
    gen = torch.Generator().manual_seed(int(seed))
    history: list[dict[str, float]] = []
    step = 0
    for epoch in range(cfg.epochs):
        module.train()
        perm = torch.randperm(len(frames), generator=gen)
        sums: dict[str, float] = {}
        n_seen = 0
        for i in range(0, len(frames), cfg.batch_size):
            idx = perm[i : i + cfg.batch_size]
            agents, status, expert, teacher = (fabric.to_device(t[idx]) for t in data)
            logits = module(agents, status)
            loss, parts = hydra_loss(logits, expert, teacher, vocab8, cfg.loss)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite training loss at epoch {epoch}, step {step}")
            opt.zero_grad(set_to_none=True)
            fabric.backward(loss)
            fabric.clip_gradients(module, opt, max_norm=cfg.grad_clip)
            opt.step()
            sched.step()
            step += 1
            b = len(idx)
            n_seen += b
            for k, v in {"loss": float(loss.detach()), **parts}.items():
                sums[k] = sums.get(k, 0.0) + v * b
        row = {"epoch": float(epoch), **{k: v / n_seen for k, v in sums.items()}}
        history.append(row)
        if logger is not None:
            logger(epoch, row)
    model.eval()
    return TrainResult(model=model, vocab=vocab, history=history)


def save_checkpoint(
    path: str | Path, model: HydraLite, vocab: Vocabulary, extra: dict[str, Any] | None = None
) -> Path:
    path = Path(path)
    torch.save(
        {
            "format": "entropykit-driving-tta/hydra-lite",
            "state_dict": model.state_dict(),
            "model": asdict(model.cfg),
            "vocab_poses": vocab.poses,
            "vocab_clusters": vocab.clusters,
            "vocab_cluster_names": list(vocab.cluster_names),
            "vocab_hash": vocab.hash,
            "extra": extra or {},
        },
        path,
    )
    return path


def load_checkpoint(
    path: str | Path, vocab: Vocabulary | None = None
) -> tuple[HydraLite, Vocabulary, dict[str, Any]]:
    """Model, its vocabulary and the extra metadata. Passing ``vocab`` checks it matches."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no checkpoint at {path}; train one with `entropykit-driving-tta train`"
        )
    try:
        ck = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:
        raise ValueError(f"{path} is not a readable checkpoint: {err}") from err
    if not isinstance(ck, dict) or ck.get("format") != "entropykit-driving-tta/hydra-lite":
        raise ValueError(f"{path} is not an entropykit-driving-tta planner checkpoint")
    stored = Vocabulary(
        poses=np.asarray(ck["vocab_poses"], dtype=np.float32),
        clusters=np.asarray(ck["vocab_clusters"], dtype=np.int64),
        cluster_names=tuple(ck["vocab_cluster_names"]),
    )
    stored.check_matches(ck["vocab_hash"], what="checkpoint (corrupted vocabulary)")
    if vocab is not None:
        vocab.check_matches(ck["vocab_hash"], what="checkpoint")
    model = HydraLite(torch.from_numpy(stored.subsampled()), ModelConfig(**ck["model"]))
    model.load_state_dict(ck["state_dict"])
    model.eval()
    return model, stored, ck.get("extra", {})
