"""The ``entropykit-repr-entropy`` command: demo, train, evaluate, predict, bench."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

import typer
from entropykit_repr_entropy.study import (
    StudyConfig,
    run_init_study,
    run_study,
    track_training,
)
from entropykit_repr_entropy.tracker import TrackerConfig
from entropykit_repr_entropy.train import TrainConfig

from entropykit import DomainApp, Run, UsageError, pyplot

app = DomainApp(
    "repr_entropy",
    help="Diffusion spectral entropy (DSE) and mutual information (DSMI) of neural "
    "representations during training.",
)

#: Per-epoch series plotted for every run (key in the history, axis label).
SERIES: tuple[tuple[str, str], ...] = (
    ("dse/penultimate", "DSE(Z) (bits)"),
    ("dsmi_zy/penultimate", "DSMI(Z;Y) (bits)"),
    ("dsmi_zx/penultimate", "DSMI(Z;X) (bits)"),
    ("val_acc", "validation accuracy"),
)


def main() -> None:
    app()


def _plot_histories(
    run: Run, histories: dict[str, list[dict[str, Any]]], prefix: str = "", tag: str = ""
) -> None:
    """One panel per SERIES entry; ``prefix`` selects an extra tracker's keys (``"sigma=10:"``),
    whose plot is named ``per_epoch_<tag>``."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(SERIES), figsize=(4.2 * len(SERIES), 3.4))
    for ax, (key, title) in zip(axes, SERIES, strict=True):
        if key != "val_acc":
            key, title = prefix + key, f"{title} {prefix.rstrip(':')}".strip()
        for name, history in histories.items():
            rows = [r for r in history if key in r]
            ax.plot([r["epoch"] for r in rows], [r[key] for r in rows], marker=".", label=name)
        ax.set_xlabel("epoch")
        ax.set_title(title)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    name = f"per_epoch_{tag}" if tag else "per_epoch"
    run.save_plot(
        fig, name, f"DSE, DSMI and accuracy of the penultimate layer per epoch {prefix}".strip()
    )


def _final(history: list[dict[str, Any]], prefix: str = "") -> dict[str, float]:
    """The last row's SERIES values (``prefix``: an extra tracker's, without val_acc)."""
    last = history[-1]
    keys = [prefix + k for k, _ in SERIES if not (prefix and k == "val_acc")]
    return {k[len(prefix) :].split("/")[0]: round(float(last[k]), 4) for k in keys if k in last}


@app.verb(config=StudyConfig)
def demo(run: Run) -> dict:
    """Train a small CNN on the bundled digits with true and with permuted labels, measuring
    DSE(Z), DSMI(Z;Y) and DSMI(Z;X) of held-out images after every epoch."""
    cfg: StudyConfig = run.cfg
    histories = run_study(
        cfg,
        device=run.device,
        progress=lambda runs: run.progress(runs, desc="runs"),
    )
    for name, history in histories.items():
        for row in history:
            run.log(
                step=int(row["epoch"]), run=name, **{k: v for k, v in row.items() if k != "epoch"}
            )
    _plot_histories(run, histories)
    (run.path / "histories.json").write_text(json.dumps(histories, indent=1), encoding="utf-8")
    # timings vary from run to run: kept out of the (deterministic) results
    run.summary_extra["tracking_share"] = {n: h[-1]["tracking_share"] for n, h in histories.items()}
    return {name: _final(h) for name, h in histories.items()}


def _check_data_dir(data_dir: str) -> None:
    if data_dir and not Path(data_dir).expanduser().is_dir():
        raise ValueError(
            f"data_dir {data_dir!r} is not a folder; pass a folder with one sub-folder of images "
            "per class (or train/ and val/ folders of those), or leave it empty for the bundled "
            "digits"
        )


def _image_data(
    data_dir: str, image_size: int, val_fraction: float, split_seed: int, grayscale: bool
) -> Any:
    """The bundled digits (``data_dir`` empty) or an image folder, as an ImageSplit."""
    from entropykit_repr_entropy.data import image_folder, load_digits_split

    if not data_dir:
        return load_digits_split(val_fraction, split_seed, image_size)
    return image_folder(
        data_dir, image_size, val_fraction=val_fraction, seed=split_seed, grayscale=grayscale
    )


@dataclass
class TrainVerbConfig:
    """One training run with per-epoch tracking, on the bundled digits or on ``data_dir``: a
    local folder with one sub-folder of images per class (or train/ and val/ folders of those),
    resized to ``train.image_size``."""

    train: TrainConfig = field(default_factory=TrainConfig)
    data_dir: str = ""
    grayscale: bool = False

    def __post_init__(self) -> None:
        _check_data_dir(self.data_dir)

    tracker: TrackerConfig = field(
        default_factory=lambda: TrackerConfig(max_samples=500, sigma="median", baselines=("cse",))
    )

    @classmethod
    def quick(cls) -> TrainVerbConfig:
        quick = StudyConfig.quick()
        return cls(train=quick.train, tracker=quick.tracker)


@app.verb(config=TrainVerbConfig)
def train(run: Run) -> dict:
    """Train one network under one condition (supervised, contrastive or overfit) and track its
    representation; saves the model to checkpoints/model.pt."""
    import torch

    cfg: TrainVerbConfig = run.cfg
    t = cfg.train
    data = _image_data(cfg.data_dir, t.image_size, t.val_fraction, t.split_seed, cfg.grayscale)
    result = track_training(
        cfg.train, cfg.tracker, data=data, device=run.device, logger=run.metrics
    )
    name = f"{cfg.train.condition}/seed{run.seed}"
    _plot_histories(run, {name: result.history})
    torch.save(
        {
            "config": asdict(cfg.train),
            "data_dir": cfg.data_dir,
            "grayscale": cfg.grayscale,
            "num_classes": data.num_classes,
            "in_channels": data.in_channels,
            "state_dict": result.model.state_dict(),
        },
        run.checkpoint_path("model.pt"),
    )
    run.summary_extra["tracking_share"] = result.seconds_in_callback / result.seconds_total
    return {**_final(result.history), "val_acc": round(result.val_acc, 4)}


@dataclass
class EmbeddingsConfig:
    """How DSE/DSMI of given embeddings are computed."""

    sigma: str = "median"  # a number or a bandwidth rule: median, sqrt_dim, ...
    t: int = 1
    max_n: int = 3000
    seed: int = 0

    def sigma_value(self) -> float | str:
        try:
            return float(self.sigma)
        except ValueError:
            return self.sigma


def _check_embeddings(embeddings: Path, labels: Path | None = None) -> None:
    for p in (embeddings, labels):
        if p is not None and not p.is_file():
            raise UsageError(f"{p} does not exist; pass a .npy, .npz, .pt or .pth file")


@app.verb(config=EmbeddingsConfig, validate=_check_embeddings)
def predict(
    run: Run,
    embeddings: Annotated[Path, typer.Argument(help="(N, D) embeddings: .npy, .npz, .pt")],
    labels: Annotated[Path | None, typer.Option(help="(N,) integer labels file")] = None,
) -> dict:
    """DSE, CSE and (with labels) DSMI(Z;Y) of an embeddings file."""
    import numpy as np
    from entropykit_repr_entropy.embeddings import describe_embeddings, load_array

    cfg: EmbeddingsConfig = run.cfg
    try:
        z = load_array(embeddings)
        y = None if labels is None else load_array(labels).astype(np.int64)
        out = describe_embeddings(
            z, y, sigma=cfg.sigma_value(), t=cfg.t, max_n=cfg.max_n, seed=cfg.seed
        )
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.0, 3.2))
    names = [k for k in ("dse", "cse", "dsmi_zy", "max_bits") if k in out]
    ax.bar(names, [out[k] for k in names], color="tab:blue")
    ax.set_ylabel("bits")
    fig.tight_layout()
    run.save_plot(fig, "entropies", "DSE, CSE, DSMI(Z;Y) and the log2 N ceiling")
    return out


@dataclass
class ReprBenchConfig:
    """The paper's claims at CPU scale: the training study over several seeds and conditions,
    and the toy comparisons with the baselines."""

    study: StudyConfig = field(
        default_factory=lambda: StudyConfig(
            train=TrainConfig(epochs=30),
            conditions=["supervised", "overfit", "contrastive"],
            seeds=[0, 1, 2],
        )
    )
    # the paper's absolute bandwidth, measured on the same runs next to study.tracker.sigma
    # (None: skip); also used for the initialisation study's contrast
    fixed_sigma: float | None = 10.0
    toy_n: int = 500
    toy_repetitions: int = 3  # independent draws of every toy data set (seeds from --seed)
    toy_dims: list[int] = field(default_factory=lambda: [8, 32, 128, 512])
    blob_dims: list[int] = field(default_factory=lambda: [20, 200, 2000])

    @classmethod
    def quick(cls) -> ReprBenchConfig:
        return cls(
            study=StudyConfig.quick(),
            toy_n=120,
            toy_dims=[4, 32],
            blob_dims=[10, 50],
            toy_repetitions=1,
        )


@app.verb(config=ReprBenchConfig)
def bench(run: Run) -> dict:
    """Training study over seeds (DSE and DSMI per epoch per condition) and the toy claims: DSE
    tracks intrinsic dimension where CSE saturates; DSMI stays above zero in high dimension."""
    from entropykit_repr_entropy.toys import (
        run_dimension_sweep,
        run_intrinsic_dimension,
        run_label_corruption,
    )

    cfg: ReprBenchConfig = run.cfg
    extra = {}
    if cfg.fixed_sigma is not None:
        extra[f"sigma={cfg.fixed_sigma:g}"] = replace(
            cfg.study.tracker, sigma=float(cfg.fixed_sigma), baselines=()
        )
    histories = run_study(
        cfg.study,
        device=run.device,
        progress=lambda r: run.progress(r, desc="runs"),
        extra_trackers=extra,
    )
    _plot_histories(run, histories)
    for name in extra:
        _plot_histories(run, histories, prefix=f"{name}:", tag="fixed_sigma")
    dims = run_intrinsic_dimension(
        dims=tuple(cfg.toy_dims),
        n=cfg.toy_n,
        ambient_dim=max(cfg.toy_dims),
        noises=(0.01,),
        sigma="median",
        repetitions=cfg.toy_repetitions,
        seed=run.seed,
    )
    sweep = run_dimension_sweep(
        dims=tuple(cfg.blob_dims), n=4 * cfg.toy_n, seed=run.seed, repetitions=cfg.toy_repetitions
    )
    corruption = run_label_corruption(
        dim=cfg.blob_dims[0], n=4 * cfg.toy_n, seed=run.seed, repetitions=cfg.toy_repetitions
    )
    init = run_init_study(
        cfg.study.train,
        cfg.study.tracker,
        seeds=cfg.study.seeds,
        device=run.device,
        extra_trackers=extra,
    )
    run.report.table(init, title="Initialisation: initial DSE vs final accuracy")
    run.report.table(dims, title="Intrinsic dimension: DSE vs CSE (bits)")
    run.report.table(sweep, title="Blob MI vs dimension: DSMI vs CSMI and KSG (bits)")
    run.report.table(corruption, title="Blob MI vs label corruption (bits)")
    tables = {
        "histories": histories,
        "intrinsic_dimension": dims,
        "dimension_sweep": sweep,
        "label_corruption": corruption,
        "initialisation": init,
    }
    (run.path / "bench.json").write_text(json.dumps(tables, indent=1), encoding="utf-8")
    final = {name: _final(h) for name, h in histories.items()}
    for extra_name in extra:
        for name, h in histories.items():
            final[name].update(
                {f"{extra_name}:{k}": v for k, v in _final(h, f"{extra_name}:").items()}
            )
    run.summary_extra["tracking_share"] = {n: h[-1]["tracking_share"] for n, h in histories.items()}
    return {
        "final": final,
        "intrinsic_dimension": dims,
        "dimension_sweep": sweep,
        "label_corruption": corruption,
        "initialisation": init,
    }


@dataclass
class EvaluateConfig:
    """Measure layers of a saved model on a data set: by default the validation split of the data
    it was trained on (the digits or the train run's data_dir). ``tracker.layers`` picks the
    layers (``penultimate`` or dotted module names, e.g. ``conv.3``; a wrong name lists the
    valid ones)."""

    tracker: TrackerConfig = field(
        default_factory=lambda: TrackerConfig(max_samples=500, sigma="median", baselines=("cse",))
    )
    data_dir: str = ""  # another image folder (class sub-folders), resized to the model's input
    split: str = "val"  # "val" or "train": which split of the data is measured

    def __post_init__(self) -> None:
        _check_data_dir(self.data_dir)
        if self.split not in ("val", "train"):
            raise ValueError(f"split must be 'val' or 'train', got {self.split!r}")

    @classmethod
    def quick(cls) -> EvaluateConfig:
        return cls(tracker=StudyConfig.quick().tracker)


def _check_checkpoint(checkpoint: Path) -> None:
    if not checkpoint.is_file():
        raise UsageError(f"{checkpoint} does not exist; pass the model.pt a train run saved")


def _load_checkpoint(checkpoint: Path, data_dir: str) -> tuple[Any, Any]:
    """(model, data) of a ``train`` checkpoint; ``data_dir`` replaces the data it was trained on."""
    import torch
    from entropykit_repr_entropy.models import build_model

    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if not isinstance(saved, dict) or "config" not in saved or "state_dict" not in saved:
        raise UsageError(f"{checkpoint} is not a checkpoint of `entropykit-repr-entropy train`")
    tcfg = saved["config"]
    in_channels = saved.get("in_channels")
    # a foreign folder is read with the channels the model takes (digits models are grayscale)
    grayscale = in_channels == 1 if data_dir else bool(saved.get("grayscale"))
    data = _image_data(
        data_dir or saved.get("data_dir", ""),
        tcfg["image_size"],
        tcfg["val_fraction"],
        tcfg["split_seed"],
        grayscale,
    )
    in_channels = in_channels or data.in_channels
    if data.in_channels != in_channels:
        raise UsageError(
            f"the model takes {in_channels}-channel images but the data has {data.in_channels}"
        )
    model = build_model(
        tcfg["model"],
        num_classes=saved.get("num_classes", data.num_classes),
        in_channels=in_channels,
        image_size=data.image_size,
        **tcfg["model_kwargs"],
    )
    model.load_state_dict(saved["state_dict"])
    return model, data


@app.verb(config=EvaluateConfig, validate=_check_checkpoint)
def evaluate(
    run: Run,
    checkpoint: Annotated[Path, typer.Argument(help="checkpoints/model.pt of a train run")],
) -> dict:
    """DSE, DSMI(Z;Y), DSMI(Z;X) and baselines of a trained model's layers (the penultimate by
    default) on the images it was trained next to, or on another image folder."""
    from entropykit_repr_entropy.tracker import RepresentationTracker

    cfg: EvaluateConfig = run.cfg
    model, data = _load_checkpoint(checkpoint, cfg.data_dir)
    x, y = (data.x_val, data.y_val) if cfg.split == "val" else (data.x_train, data.y_train)
    tracker = RepresentationTracker(
        model, x, labels=y.numpy(), inputs_for_clusters=x.flatten(1), config=cfg.tracker
    )
    try:
        out = tracker.measure(0)
    except ValueError as exc:  # e.g. no such layer: the message lists the valid names
        raise UsageError(str(exc)) from None
    results: dict[str, dict[str, float]] = {}
    for key, value in out.items():
        if "/" in key:
            metric, layer = key.split("/", 1)
            results.setdefault(layer, {})[metric] = round(float(value), 4)
    metrics = list(next(iter(results.values())))
    run.report.table(
        [{"layer": layer, **row} for layer, row in results.items()],
        title=f"Entropies by layer ({cfg.split} split, {out['n_samples']} images, bits)",
    )
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(results), 3.4))
    for metric in metrics:
        ax.plot(list(results), [row[metric] for row in results.values()], marker="o", label=metric)
    ax.set_xlabel("layer")
    ax.set_ylabel("bits")
    ax.legend(fontsize=7)
    fig.tight_layout()
    run.save_plot(fig, "entropies", "DSE, DSMI and baselines of each measured layer")
    return results


if __name__ == "__main__":
    main()
