"""The training loop of the training-dynamics study: supervised, random-label (overfitting) and
SimCLR (contrastive) training of a small network, with a per-epoch hook where the representation
is measured.

Paper setting (Liao et al. 2023, official code): timm backbones trained from scratch on 224-pixel
MNIST / CIFAR-10 / STL-10, AdamW (lr 1e-4, 1e-5 for MNIST), batch 128, 200 epochs, linear warm-up
for ``min(10, epochs // 5)`` epochs then cosine decay; SimCLR with a 2-layer projection to 128-d and
a linear probe refitted every epoch; random labels permuted once, without augmentation.

CPU-scale changes (documented defaults of :class:`TrainConfig`): the digits at 16 x 16 pixels, a
small CNN or ViT, 30 epochs, and lr 1e-3 (1e-4 barely moves a small network in 30 epochs of ~10
steps). The contrastive loss is the standard NT-Xent of SimCLR (Chen et al. 2020) at temperature
0.5; the paper's code instead sums the exponentiated positive and negative similarities over the
whole batch before taking one logarithm, at temperature 1.0. The linear probe is multinomial
logistic regression fitted by L-BFGS on the frozen features of the clean training images (the
paper trains a linear layer for 10 epochs with AdamW on augmented views); it is deterministic and
converges in well under a second at this size.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from entropykit_repr_entropy.data import (
    Augmentation,
    ImageSplit,
    load_digits_split,
    permuted_labels,
    two_views,
)
from entropykit_repr_entropy.models import MODELS, ProjectionHead, build_model
from entropykit_shared.runtime import FabricConfig, StepCallback, fabric_from_config, finish_fabric

#: Training conditions: cross-entropy on true labels with augmentation; cross-entropy on labels
#: permuted once, without augmentation; SimCLR on two augmented views with a linear probe.
CONDITIONS: tuple[str, ...] = ("supervised", "contrastive", "overfit")

#: ``epoch_callback(epoch, model)``: called after each epoch (and at epoch 0 before training when
#: ``eval_before_training``) with the classifier model in eval mode; a returned mapping of numbers
#: is added to that epoch's history row and log line.
EpochCallback = Callable[[int, nn.Module], Mapping[str, float] | None]


@dataclass
class TrainConfig:
    """Training-dynamics run. Defaults are the CPU-scale study on the bundled digits.

    Attributes:
        model: a registered model name (``"cnn"``, ``"vit"``).
        condition: one of :data:`CONDITIONS`.
        epochs: training epochs (paper: 200).
        batch_size: images per optimizer step and process (paper: 128).
        lr: AdamW peak learning rate (paper: 1e-4 on 224-pixel images, 1e-5 for MNIST).
        weight_decay: AdamW weight decay (paper: the AdamW default 0.01).
        warmup_epochs: linear warm-up length; ``None`` gives the paper's ``min(10, epochs // 5)``.
            The rate then decays along a cosine towards 0 (reached just after the last step); it
            is updated every step.
        temperature: NT-Xent temperature (contrastive only).
        projection_dim: output size of the SimCLR projection head (paper: 128).
        image_size: side length the digits are resized to (ignored when ``data`` is passed).
        val_fraction: held-out share of the digits (ignored when ``data`` is passed).
        split_seed: seed of the digits' train/validation split, kept apart from ``seed`` so that
            runs with several seeds see the same validation images.
        max_train: use only the first ``max_train`` training images (``None``: all).
        max_val: use only the first ``max_val`` validation images (``None``: all).
        seed: seed of the weights, batch order, augmentations and the label permutation.
        model_kwargs: options of the model (``width``, ``feature_dim``, ``conv_init_std``...; see
            :func:`~entropykit_repr_entropy.models.build_model`).
        augmentation: the augmentation of the supervised and contrastive conditions.
        probe_steps: L-BFGS iterations of the contrastive linear probe.
        probe_l2: L2 penalty of the probe on standardised features.
        eval_before_training: also evaluate (and call ``epoch_callback``) at epoch 0, before the
            first step, as the paper does.
        eval_batch_size: images per forward pass during evaluation.
        fabric: devices, strategy and precision (Lightning Fabric).
    """

    model: str = "cnn"
    condition: str = "supervised"
    epochs: int = 30
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_epochs: int | None = None
    temperature: float = 0.5
    projection_dim: int = 128
    image_size: int = 16
    val_fraction: float = 0.33
    split_seed: int = 0
    max_train: int | None = None
    max_val: int | None = None
    seed: int = 0
    model_kwargs: dict[str, Any] = field(default_factory=dict)
    augmentation: Augmentation = field(default_factory=Augmentation)
    probe_steps: int = 100
    probe_l2: float = 1e-4
    eval_before_training: bool = True
    eval_batch_size: int = 512
    fabric: FabricConfig = field(default_factory=FabricConfig)

    def __post_init__(self) -> None:
        if self.condition not in CONDITIONS:
            raise ValueError(
                f"unknown condition {self.condition!r}; choose one of {', '.join(CONDITIONS)}"
            )
        if self.model not in MODELS:
            raise ValueError(f"unknown model {self.model!r}; choose one of {', '.join(MODELS)}")
        positive = {
            "epochs": self.epochs,
            "lr": self.lr,
            "temperature": self.temperature,
            "projection_dim": self.projection_dim,
            "probe_steps": self.probe_steps,
            "eval_batch_size": self.eval_batch_size,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if self.batch_size < 2:
            raise ValueError(f"batch_size must be >= 2 (batch norm), got {self.batch_size}")
        if self.weight_decay < 0 or self.probe_l2 < 0:
            raise ValueError("weight_decay and probe_l2 must be >= 0")
        if self.warmup_epochs is not None and not 0 <= self.warmup_epochs <= self.epochs:
            raise ValueError(
                f"warmup_epochs must lie in [0, epochs={self.epochs}], got {self.warmup_epochs}"
            )
        for name in ("max_train", "max_val"):
            value = getattr(self, name)
            if value is not None and value < 2:
                raise ValueError(f"{name} must be >= 2 images or None, got {value}")

    @classmethod
    def quick(cls, **overrides: Any) -> TrainConfig:
        """A seconds-long preset for tests and demos: 2 epochs on 300 training and 200
        validation digits at 16 x 16, a narrow CNN, batches of 32 at lr 1e-2 (so that two
        epochs visibly lower the loss), a 20-step probe."""
        values: dict[str, Any] = {
            "epochs": 2,
            "batch_size": 32,
            "lr": 1e-2,
            "max_train": 300,
            "max_val": 200,
            "model_kwargs": {"width": 8, "feature_dim": 32},
            "probe_steps": 20,
        }
        values.update(overrides)
        return cls(**values)

    @property
    def warmup(self) -> int:
        """Warm-up epochs actually used."""
        if self.warmup_epochs is not None:
            return self.warmup_epochs
        return min(10, self.epochs // 5)


@dataclass
class TrainResult:
    """What :func:`train` returns.

    Attributes:
        model: the trained classifier (for the contrastive condition its ``classifier`` holds the
            last linear probe), in eval mode, on the training device.
        head: the SimCLR projection head (``None`` for the other conditions).
        history: one row per evaluated epoch: ``epoch``; ``loss`` and ``lr`` (training epochs
            only: mean training loss, learning rate of the epoch's last step); ``train_acc``
            (clean training images, true labels); ``val_acc`` and ``val_loss``; ``fit_acc``
            (overfit only: accuracy on the permuted labels trained on); ``seconds``; plus what
            the epoch callback returned. Accuracies are fractions in [0, 1].
        val_acc: validation accuracy after the last epoch.
        train_labels: ``(N_train,)`` labels the loss used (permuted for ``overfit``).
        seconds_total: wall time of :func:`train`.
        seconds_in_callback: part of it spent inside ``epoch_callback``.
    """

    model: nn.Module
    head: nn.Module | None
    history: list[dict[str, float]]
    val_acc: float
    train_labels: torch.Tensor
    seconds_total: float
    seconds_in_callback: float


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """Normalised-temperature cross-entropy (SimCLR, Chen et al. 2020).

    With ``z = [z1; z2]`` L2-normalised and ``s_ij = z_i·z_j / temperature``, each of the 2B
    vectors classifies its partner view among the other 2B - 1 vectors:
    ``loss = mean_i -log(exp(s_i,p(i)) / Σ_{k≠i} exp(s_ik))`` (natural log).

    Args:
        z1: ``(B, D)`` projections of the first views.
        z2: ``(B, D)`` projections of the second views (row i pairs with row i of ``z1``).
        temperature: softmax temperature (> 0).

    Returns:
        Scalar loss in nats; its minimum is 0 and for B >= 2 it exceeds ``log(2B - 1)`` when
        all vectors coincide.
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(
            f"z1 and z2 must be two (B, D) tensors of the same shape, got {tuple(z1.shape)} and "
            f"{tuple(z2.shape)}"
        )
    if z1.shape[0] < 2:
        raise ValueError("nt_xent needs at least 2 pairs (negatives come from the batch)")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    b = z1.shape[0]
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = z @ z.T / temperature
    self_mask = torch.eye(2 * b, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    partner = torch.arange(2 * b, device=z.device).roll(b)
    return F.cross_entropy(sim, partner)


def warmup_cosine(step: int, warmup_steps: int, total_steps: int) -> float:
    """Learning-rate factor: linear ramp ``(step + 1) / warmup_steps``, then a cosine from 1 to 0
    over the remaining steps (``step`` counts from 0)."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    decay = max(1, total_steps - warmup_steps)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, (step - warmup_steps) / decay)))


class _Contrastive(nn.Module):
    """Encoder features followed by the projection head: what SimCLR trains."""

    def __init__(self, net: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.net = net
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.net.features(x))


def _features(net: nn.Module, x: torch.Tensor, fabric: Any, batch_size: int) -> torch.Tensor:
    """Penultimate features of ``x`` in eval mode, float32 on the training device."""
    dtype = next(net.parameters()).dtype
    chunks = []
    with torch.no_grad(), fabric.autocast():
        for part in x.split(batch_size):
            chunks.append(net.features(part.to(fabric.device, dtype)).float())
    return torch.cat(chunks)


def _fit_probe(
    feats: torch.Tensor, labels: torch.Tensor, num_classes: int, steps: int, l2: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Multinomial logistic regression on standardised features by L-BFGS, folded back to the raw
    feature scale: returns ``(weight (K, D), bias (K,))``."""
    mean = feats.mean(0)
    scale = feats.std(0).clamp_min(1e-8)
    xs = (feats - mean) / scale
    weight = torch.zeros(num_classes, feats.shape[1], device=feats.device, requires_grad=True)
    bias = torch.zeros(num_classes, device=feats.device, requires_grad=True)
    opt = torch.optim.LBFGS([weight, bias], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(xs @ weight.T + bias, labels) + 0.5 * l2 * weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    w = weight.detach() / scale
    return w, bias.detach() - w @ mean


def _evaluate(
    net: nn.Module,
    data: ImageSplit,
    targets: torch.Tensor,
    cfg: TrainConfig,
    fabric: Any,
) -> dict[str, float]:
    """Accuracies (true labels) on the clean training and validation images; for the
    contrastive condition the probe is refitted first and written into ``net.classifier``."""
    net.eval()
    device = fabric.device
    f_train = _features(net, data.x_train, fabric, cfg.eval_batch_size)
    f_val = _features(net, data.x_val, fabric, cfg.eval_batch_size)
    y_train, y_val = data.y_train.to(device), data.y_val.to(device)
    if cfg.condition == "contrastive":
        weight, bias = _fit_probe(f_train, y_train, data.num_classes, cfg.probe_steps, cfg.probe_l2)
        with torch.no_grad():
            net.classifier.weight.copy_(weight)
            net.classifier.bias.copy_(bias)
    else:
        weight = net.classifier.weight.float()
        bias = net.classifier.bias.float()
    with torch.no_grad():
        logits_train = f_train @ weight.T + bias
        logits_val = f_val @ weight.T + bias
        row = {
            "train_acc": float((logits_train.argmax(1) == y_train).float().mean()),
            "val_acc": float((logits_val.argmax(1) == y_val).float().mean()),
            "val_loss": float(F.cross_entropy(logits_val, y_val)),
        }
        if cfg.condition == "overfit":
            fit = logits_train.argmax(1) == targets.to(device)
            row["fit_acc"] = float(fit.float().mean())
    return row


def _seed_of(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def train(
    cfg: TrainConfig,
    *,
    data: ImageSplit | None = None,
    device: str = "cpu",
    logger: StepCallback | None = None,
    epoch_callback: EpochCallback | None = None,
) -> TrainResult:
    """Train one network under one condition and evaluate it after every epoch.

    Args:
        cfg: the run's configuration.
        data: images and labels; ``None`` loads the bundled digits (``cfg.image_size``,
            ``cfg.val_fraction``, ``cfg.split_seed``). ``cfg.max_train`` / ``cfg.max_val`` apply
            either way.
        device: ``"auto" | "cpu" | "cuda" | "mps"`` (see ``entropykit_shared.runtime``).
        logger: called as ``logger(step, metrics)`` after every optimizer step (``loss``, ``lr``)
            and after every evaluation (the history row, with ``epoch``); on the main process only.
        epoch_callback: ``epoch_callback(epoch, model)`` after every evaluation, where ``model`` is
            the classifier in eval mode (``model.features(x)`` gives Z); a returned mapping is
            merged into the history row. Runs on the main process only.

    Returns:
        A :class:`TrainResult`.

    Each process trains on its own contiguous shard of a shared per-epoch permutation (the
    remainder of ``N_train / world_size`` is skipped for that epoch, as is a last batch of one
    image, which batch norm cannot train on); evaluation uses all images on every process. With
    one process on the CPU, the same config and seed give the same history. The global random
    state is saved and restored around the run.
    """
    start = time.perf_counter()
    if data is None:
        data = load_digits_split(cfg.val_fraction, cfg.split_seed, cfg.image_size)
    if cfg.max_train is not None or cfg.max_val is not None:
        data = data.take(cfg.max_train or len(data.y_train), cfg.max_val)
    overfit = cfg.condition == "overfit"
    contrastive = cfg.condition == "contrastive"
    targets = permuted_labels(data.y_train, cfg.seed) if overfit else data.y_train

    fabric = fabric_from_config(device, cfg.fabric)
    rank, world = fabric.global_rank, fabric.world_size
    per_rank = len(targets) // world
    if per_rank < 2:
        raise ValueError(
            f"{len(targets)} training images cannot be shared by {world} processes; "
            "use more images or fewer devices"
        )
    steps_per_epoch = math.ceil(per_rank / cfg.batch_size)
    if per_rank % cfg.batch_size == 1:
        steps_per_epoch -= 1
    total_steps = steps_per_epoch * cfg.epochs
    warmup_steps = steps_per_epoch * cfg.warmup
    cuda_devices = [fabric.device.index or 0] if fabric.device.type == "cuda" else []

    with torch.random.fork_rng(devices=cuda_devices):
        torch.manual_seed(cfg.seed)
        net = build_model(
            cfg.model,
            num_classes=data.num_classes,
            in_channels=data.in_channels,
            image_size=data.image_size,
            seed=cfg.seed,
            **cfg.model_kwargs,
        )
        head: nn.Module | None = None
        trainable: nn.Module = net
        if contrastive:
            head = ProjectionHead(net.num_features, out_dim=cfg.projection_dim)
            net.classifier.requires_grad_(False)  # refitted by the probe, not by the loss
            trainable = _Contrastive(net, head)
        params = [p for p in trainable.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: warmup_cosine(s, warmup_steps, total_steps)
        )
        module, optimizer = fabric.setup(trainable, optimizer)
        order_gen = torch.Generator().manual_seed(_seed_of(cfg.seed, 0))
        aug_gen = torch.Generator().manual_seed(_seed_of(cfg.seed, 1 + rank))

        history: list[dict[str, float]] = []
        callback_seconds = 0.0
        step = 0

        def finish_epoch(epoch: int, row: dict[str, float], epoch_start: float) -> None:
            nonlocal callback_seconds
            row = {"epoch": float(epoch), **row, **_evaluate(net, data, targets, cfg, fabric)}
            if epoch_callback is not None and fabric.is_global_zero:
                t0 = time.perf_counter()
                extra = epoch_callback(epoch, net)
                callback_seconds += time.perf_counter() - t0
                if extra:
                    row.update({k: float(v) for k, v in extra.items()})
            row["seconds"] = time.perf_counter() - epoch_start
            history.append(row)
            if logger is not None and fabric.is_global_zero:
                logger(step, row)

        if cfg.eval_before_training:
            finish_epoch(0, {}, time.perf_counter())
        for epoch in range(1, cfg.epochs + 1):
            epoch_start = time.perf_counter()
            module.train()
            perm = torch.randperm(len(targets), generator=order_gen)
            shard = perm[rank * per_rank : (rank + 1) * per_rank]
            loss_sum = torch.zeros((), device=fabric.device)
            for batch in shard.split(cfg.batch_size)[:steps_per_epoch]:
                x = data.x_train[batch]
                if contrastive:
                    v1, v2 = two_views(x, aug_gen, cfg.augmentation)
                    z1, z2 = module(fabric.to_device(torch.cat([v1, v2]))).chunk(2)
                    loss = nt_xent(z1, z2, cfg.temperature)
                else:
                    if not overfit:
                        x = cfg.augmentation(x, aug_gen)
                    x, y = fabric.to_device((x, targets[batch]))
                    loss = F.cross_entropy(module(x), y)
                lr = scheduler.get_last_lr()[0]  # the rate this step uses
                optimizer.zero_grad(set_to_none=True)
                fabric.backward(loss)
                optimizer.step()
                scheduler.step()
                step += 1
                loss_sum += loss.detach()
                if logger is not None and fabric.is_global_zero:
                    logger(step, {"loss": float(loss.detach()), "lr": lr})
            mean_loss = fabric.all_reduce(loss_sum / steps_per_epoch, reduce_op="mean")
            row = {"loss": float(mean_loss), "lr": lr}
            finish_epoch(epoch, row, epoch_start)

    finish_fabric(fabric)
    net.classifier.requires_grad_(True)
    net.eval()
    return TrainResult(
        model=net,
        head=head,
        history=history,
        val_acc=history[-1]["val_acc"],
        train_labels=targets,
        seconds_total=time.perf_counter() - start,
        seconds_in_callback=callback_seconds,
    )
