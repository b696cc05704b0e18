"""The ``entropykit-repr-entropy`` command: demo, train, evaluate, predict, bench."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
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


def _plot_histories(run: Run, histories: dict[str, list[dict[str, Any]]]) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(1, len(SERIES), figsize=(4.2 * len(SERIES), 3.4))
    for ax, (key, title) in zip(axes, SERIES, strict=True):
        for name, history in histories.items():
            rows = [r for r in history if key in r]
            ax.plot([r["epoch"] for r in rows], [r[key] for r in rows], marker=".", label=name)
        ax.set_xlabel("epoch")
        ax.set_title(title)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    run.save_plot(fig, "per_epoch", "DSE, DSMI and accuracy of the penultimate layer per epoch")


def _final(history: list[dict[str, Any]]) -> dict[str, float]:
    last = history[-1]
    keys = [k for k, _ in SERIES]
    return {k.split("/")[0]: round(float(last[k]), 4) for k in keys if k in last}


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


@dataclass
class TrainVerbConfig:
    """One training run with per-epoch tracking, on the bundled digits or on ``data_dir``: a
    local folder with one sub-folder of images per class (or train/ and val/ folders of those),
    resized to ``train.image_size``."""

    train: TrainConfig = field(default_factory=TrainConfig)
    data_dir: str = ""
    grayscale: bool = False

    def __post_init__(self) -> None:
        if self.data_dir and not Path(self.data_dir).expanduser().is_dir():
            raise ValueError(
                f"data_dir {self.data_dir!r} is not a folder; pass a folder with one sub-folder "
                "of images per class, or leave it empty for the bundled digits"
            )

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
    data = None
    if cfg.data_dir:
        from entropykit_repr_entropy.data import image_folder

        data = image_folder(
            cfg.data_dir,
            cfg.train.image_size,
            val_fraction=cfg.train.val_fraction,
            seed=cfg.train.split_seed,
            grayscale=cfg.grayscale,
        )
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
    histories = run_study(
        cfg.study, device=run.device, progress=lambda r: run.progress(r, desc="runs")
    )
    _plot_histories(run, histories)
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
        cfg.study.train, cfg.study.tracker, seeds=cfg.study.seeds, device=run.device
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
    """Measure a saved model's penultimate representation on the digits' validation split."""

    tracker: TrackerConfig = field(
        default_factory=lambda: TrackerConfig(max_samples=500, sigma="median", baselines=("cse",))
    )

    @classmethod
    def quick(cls) -> EvaluateConfig:
        return cls(tracker=StudyConfig.quick().tracker)


def _check_checkpoint(checkpoint: Path) -> None:
    if not checkpoint.is_file():
        raise UsageError(f"{checkpoint} does not exist; pass the model.pt a train run saved")


@app.verb(config=EvaluateConfig, validate=_check_checkpoint)
def evaluate(
    run: Run,
    checkpoint: Annotated[Path, typer.Argument(help="checkpoints/model.pt of a train run")],
) -> dict:
    """DSE, DSMI(Z;Y), DSMI(Z;X) and baselines of a trained model's penultimate layer on the
    validation images it was trained next to (the digits, or the train run's data_dir)."""
    import torch
    from entropykit_repr_entropy.data import load_digits_split
    from entropykit_repr_entropy.models import build_model
    from entropykit_repr_entropy.tracker import RepresentationTracker

    cfg: EvaluateConfig = run.cfg
    saved = torch.load(checkpoint, map_location="cpu", weights_only=False)
    if not isinstance(saved, dict) or "config" not in saved or "state_dict" not in saved:
        raise UsageError(f"{checkpoint} is not a checkpoint of `entropykit-repr-entropy train`")
    tcfg = saved["config"]
    if saved.get("data_dir"):
        from entropykit_repr_entropy.data import image_folder

        data = image_folder(
            saved["data_dir"],
            tcfg["image_size"],
            val_fraction=tcfg["val_fraction"],
            seed=tcfg["split_seed"],
            grayscale=bool(saved.get("grayscale")),
        )
    else:
        data = load_digits_split(tcfg["val_fraction"], tcfg["split_seed"], tcfg["image_size"])
    model = build_model(
        tcfg["model"],
        num_classes=data.num_classes,
        in_channels=data.in_channels,
        image_size=data.image_size,
        **tcfg["model_kwargs"],
    )
    model.load_state_dict(saved["state_dict"])
    tracker = RepresentationTracker(
        model,
        data.x_val,
        labels=data.y_val.numpy(),
        inputs_for_clusters=data.x_val.flatten(1),
        config=cfg.tracker,
    )
    out = tracker.measure(0)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    names = [k for k in out if "/" in k]
    ax.bar([k.split("/")[0] for k in names], [out[k] for k in names], color="tab:blue")
    ax.set_ylabel("bits")
    fig.tight_layout()
    run.save_plot(fig, "entropies", "Entropies of the penultimate representation")
    return {k.split("/")[0]: round(float(v), 4) for k, v in out.items() if "/" in k}


if __name__ == "__main__":
    main()
