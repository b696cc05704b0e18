"""The training-dynamics study: train under each condition and seed, measuring DSE(Z),
DSMI(Z;Y) and DSMI(Z;X) of the penultimate representation of held-out images after every epoch
(spec §2.3, at CPU scale on the bundled digits)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from torch import nn

from entropykit_repr_entropy.data import ImageSplit, load_digits_split
from entropykit_repr_entropy.tracker import RepresentationTracker, TrackerConfig
from entropykit_repr_entropy.train import CONDITIONS, TrainConfig, TrainResult, train
from entropykit_shared.runtime import StepCallback


def _demo_tracker() -> TrackerConfig:
    return TrackerConfig(max_samples=500, sigma="median", baselines=("cse",))


@dataclass
class StudyConfig:
    """Conditions x seeds of :func:`track_training` runs.

    Attributes:
        train: the training run (its ``condition`` and ``seed`` are replaced per run).
        tracker: what is measured after each epoch, on the validation images.
        conditions: any of ``supervised``, ``contrastive``, ``overfit``.
        seeds: one run per seed and condition.
    """

    train: TrainConfig = field(default_factory=lambda: TrainConfig(epochs=15))
    tracker: TrackerConfig = field(default_factory=_demo_tracker)
    conditions: list[str] = field(default_factory=lambda: ["supervised", "overfit"])
    seeds: list[int] = field(default_factory=lambda: [0])

    def __post_init__(self) -> None:
        bad = [c for c in self.conditions if c not in CONDITIONS]
        if bad or not self.conditions:
            raise ValueError(f"conditions must be a non-empty list from {CONDITIONS}, got {bad}")
        if not self.seeds:
            raise ValueError("seeds must list at least one seed")

    @classmethod
    def quick(cls) -> StudyConfig:
        return cls(
            train=TrainConfig.quick(epochs=1),
            tracker=TrackerConfig(
                max_samples=100, sigma="median", baselines=("cse",), num_repetitions=1, n_clusters=5
            ),
        )


def track_training(
    cfg: TrainConfig,
    tracker: TrackerConfig,
    *,
    data: ImageSplit | None = None,
    device: str = "cpu",
    logger: StepCallback | None = None,
    extra_trackers: Mapping[str, TrackerConfig] | None = None,
) -> TrainResult:
    """Train once (:func:`~entropykit_repr_entropy.train.train`) and measure the penultimate
    representation of the validation images after every ``tracker.every`` epochs; the
    measurements are merged into ``result.history`` (keys ``dse/penultimate``,
    ``dsmi_zy/penultimate``, ``dsmi_zx/penultimate``, baselines) and their cost is
    ``result.seconds_in_callback``.

    ``extra_trackers`` measure the same run under other settings (e.g. another bandwidth)
    without training it again: ``{"sigma=10": TrackerConfig(sigma=10.0)}`` adds the keys
    ``"sigma=10:dse/penultimate"``, ... Their time is taken out of ``result.seconds_total`` and
    ``result.seconds_in_callback``, which describe a run with ``tracker`` alone."""
    extra = dict(extra_trackers or {})
    if any(not isinstance(c, TrackerConfig) for c in extra.values()):
        raise ValueError("extra_trackers must map names to TrackerConfig objects")
    if data is None:
        data = load_digits_split(cfg.val_fraction, cfg.split_seed, cfg.image_size)
    if cfg.max_train is not None or cfg.max_val is not None:
        data = data.take(cfg.max_train or len(data.y_train), cfg.max_val)
        cfg = replace(cfg, max_train=None, max_val=None)
    x_val, y_val = data.x_val, data.y_val
    configs = {"": tracker, **{f"{name}:": c for name, c in extra.items()}}
    trackers: dict[str, RepresentationTracker] = {}

    def measure(epoch: int, model: nn.Module) -> dict[str, float] | None:
        if not trackers:  # one tracker per setting: the clusters of X are computed once
            trackers.update(
                (
                    prefix,
                    RepresentationTracker(
                        model,
                        x_val,
                        labels=y_val.numpy(),
                        inputs_for_clusters=x_val.flatten(1),
                        config=config,
                    ),
                )
                for prefix, config in configs.items()
            )
        row: dict[str, float] = {}
        for prefix, tr in trackers.items():
            out = tr(epoch)
            if out is not None:
                row.update({prefix + k: v for k, v in out.items() if "/" in k or not prefix})
        return row or None

    result = train(cfg, data=data, device=device, logger=logger, epoch_callback=measure)
    if not trackers:
        return result
    extra_seconds = sum(tr.seconds for prefix, tr in trackers.items() if prefix)
    return replace(
        result,
        seconds_total=result.seconds_total - extra_seconds,
        seconds_in_callback=result.seconds_in_callback - extra_seconds,
    )


def _reseeded(trackers: Mapping[str, TrackerConfig] | None, seed: int) -> dict[str, TrackerConfig]:
    return {name: replace(c, seed=seed) for name, c in (trackers or {}).items()}


def run_study(
    cfg: StudyConfig,
    *,
    device: str = "cpu",
    progress: Callable[[Sequence[Any]], Any] | None = None,
    logger_for: Callable[[str, int], StepCallback | None] | None = None,
    extra_trackers: Mapping[str, TrackerConfig] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Every (condition, seed) run of ``cfg``; returns ``{"<condition>/seed<k>": history}`` and
    adds ``val_acc`` and the tracking overhead (of ``cfg.tracker`` alone) to each run's last row.
    ``extra_trackers`` as in :func:`track_training` (each reseeded per run)."""
    data = load_digits_split(cfg.train.val_fraction, cfg.train.split_seed, cfg.train.image_size)
    runs = [(c, s) for c in cfg.conditions for s in cfg.seeds]
    out: dict[str, list[dict[str, Any]]] = {}
    for condition, seed in progress(runs) if progress is not None else runs:
        run_cfg = replace(cfg.train, condition=condition, seed=seed)
        logger = logger_for(condition, seed) if logger_for is not None else None
        result = track_training(
            run_cfg,
            replace(cfg.tracker, seed=seed),
            data=data,
            device=device,
            logger=logger,
            extra_trackers=_reseeded(extra_trackers, seed),
        )
        history = [dict(row) for row in result.history]
        history[-1]["tracking_share"] = result.seconds_in_callback / result.seconds_total
        out[f"{condition}/seed{seed}"] = history
    return out


def run_init_study(
    train_cfg: TrainConfig,
    tracker: TrackerConfig,
    *,
    conv_init_stds: Sequence[float] = (0.01, 0.1),
    seeds: Sequence[int] = (0,),
    device: str = "cpu",
    extra_trackers: Mapping[str, TrackerConfig] | None = None,
) -> list[dict[str, float]]:
    """The initialisation study (spec §2.3): supervised training from conv weights drawn from
    N(0, s) for each ``s`` in ``conv_init_stds`` (paper: 0.01 gives a low initial DSE, 0.1 a high
    one); returns one row per (s, seed) with the initial and final DSE and the final validation
    accuracy. The CNN's ``conv_init_std`` option is used; the trackers measure only the first and
    last epoch. Each of ``extra_trackers`` adds ``"<name>:initial_dse"`` and
    ``"<name>:final_dse"``."""
    if not conv_init_stds or any(s <= 0 for s in conv_init_stds):
        raise ValueError(f"conv_init_stds must be positive numbers, got {list(conv_init_stds)}")
    data = load_digits_split(train_cfg.val_fraction, train_cfg.split_seed, train_cfg.image_size)
    rows = []
    for std in conv_init_stds:
        for seed in seeds:
            cfg = replace(
                train_cfg,
                condition="supervised",
                seed=seed,
                model_kwargs={**train_cfg.model_kwargs, "conv_init_std": float(std)},
            )
            extra = {
                name: replace(c, every=cfg.epochs)
                for name, c in _reseeded(extra_trackers, seed).items()
            }
            result = track_training(
                cfg,
                replace(tracker, every=cfg.epochs, seed=seed),
                data=data,
                device=device,
                extra_trackers=extra,
            )
            measured = [r for r in result.history if "dse/penultimate" in r]
            row = {"conv_init_std": float(std), "seed": float(seed)}
            for prefix in ["", *(f"{name}:" for name in extra)]:
                row[f"{prefix}initial_dse"] = float(measured[0][f"{prefix}dse/penultimate"])
                row[f"{prefix}final_dse"] = float(measured[-1][f"{prefix}dse/penultimate"])
            rows.append({**row, "val_acc": float(result.val_acc)})
    return rows
