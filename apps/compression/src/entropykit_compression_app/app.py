"""The ``entropykit-compression`` command: demo, train, evaluate, compress, decompress, bench."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from entropykit_compression.bench import BenchConfig
from entropykit_compression.codecs import DEFAULT_QUALITIES
from entropykit_compression.train import TrainConfig

from entropykit import DomainApp, Run, UsageError, pyplot

app = DomainApp(
    "compression",
    help="Learned image compression with multi-reference entropy models (MLIC++ / MLICv2), "
    "real bitstreams, SGA refinement and codec baselines.",
)


def main() -> None:
    app()


def _center_crop(image: Any, size: int) -> Any:
    h, w = image.shape[-2:]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return image[:, top : top + size, left : left + size]


def _eval_images(folder: str, crop: int, names: list[str]) -> list[tuple[str, Any]]:
    """A user's folder, or the bundled held-out photos (``names``), centre-cropped to ``crop``
    pixels when ``crop`` > 0."""
    from entropykit_compression.data import bundled_images, image_folder

    try:
        images = image_folder(folder) if folder else list(bundled_images(names).items())
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    return [(n, _center_crop(img, crop) if crop else img) for n, img in images]


def _plot_rd(run: Run, curves: dict[str, list[dict[str, float]]], name: str, title: str) -> None:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    for codec, points in curves.items():
        pts = sorted(points, key=lambda p: p["bpp"])
        style = "o-" if len(pts) > 1 else "*"
        ax.plot([p["bpp"] for p in pts], [p["psnr"] for p in pts], style, label=codec, ms=8)
    ax.set_xlabel("bits per pixel")
    ax.set_ylabel("PSNR (dB, RGB)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    run.save_plot(fig, name, title)


def _classic_curves(
    images: list[tuple[str, Any]], codecs: list[str]
) -> tuple[dict[str, list[dict[str, float]]], list[dict[str, Any]]]:
    from entropykit_compression.evaluate import classic_curves

    return classic_curves(images, {c: DEFAULT_QUALITIES[c] for c in codecs})


def _check_codecs(codecs: list[str]) -> None:
    from entropykit_compression.codecs import available_codecs

    missing = [c for c in codecs if c not in available_codecs()]
    if missing:
        raise ValueError(
            f"codecs {missing} are not available in this Pillow; available: {available_codecs()}"
        )


# ----------------------------------------------------------------------------- demo
@dataclass
class DemoConfig:
    """Train a small MLICv2 briefly, then code the bundled photos and compare with JPEG/WebP."""

    train: TrainConfig = field(
        default_factory=lambda: TrainConfig(
            size="tiny", steps=300, batch_size=8, crop=128, lr=1e-3, log_every=50
        )
    )
    images: list[str] = field(default_factory=lambda: ["astronaut", "chelsea", "coffee"])
    crop: int = 256  # centre crop of each photo (0: whole images)
    codecs: list[str] = field(default_factory=lambda: ["jpeg", "webp"])

    def __post_init__(self) -> None:
        _check_codecs(self.codecs)

    @classmethod
    def quick(cls) -> DemoConfig:
        return cls(train=TrainConfig.quick(), images=["astronaut", "coffee"], crop=128)


def _side_by_side(
    run: Run, image: Any, learned: Any, learned_bpp: float, codecs: list[str]
) -> None:
    """Original, learned reconstruction and each classic codec at the matched rate."""
    from entropykit_compression.codecs import decode_classic, encode_classic, match_rate

    panels = [("original", image), (f"learned {learned_bpp:.3f} bpp", learned)]
    for codec in codecs:
        row = match_rate(image, codec, learned_bpp)
        recon = decode_classic(encode_classic(image, codec, row["quality"]))
        panels.append((f"{codec} q={row['quality']} {row['bpp']:.3f} bpp", recon))
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.4))
    for ax, (title, img) in zip(axes, panels, strict=True):
        ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy())
        ax.set_title(title, fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    run.save_plot(fig, "side_by_side", "Crops at the learned model's rate")


@app.verb(config=DemoConfig)
def demo(run: Run) -> dict:
    """Train a small MLICv2 briefly, compress and decompress the bundled photos with real
    bitstreams, and plot it against JPEG and WebP."""
    from entropykit_compression.evaluate import code_image, mean_point
    from entropykit_compression.train import train

    cfg: DemoConfig = run.cfg
    result = train(cfg.train, seed=run.seed, device=run.device, logger=run.metrics)
    model = result.model.cpu()
    images = _eval_images("", cfg.crop, cfg.images)
    rows = []
    for name, image in run.progress(images, desc="images"):
        coded = code_image(model, image)
        rows.append({"image": name, **{k: v for k, v in coded.items() if k != "x_hat"}})
    first = code_image(model, images[0][1])
    learned = mean_point(rows)
    curves, _ = _classic_curves(images, cfg.codecs)
    curves = {f"{cfg.train.model} ({cfg.train.steps} steps)": [learned], **curves}
    _plot_rd(run, curves, "rd", "Rate-distortion on the bundled photos (mean over images)")
    _side_by_side(run, images[0][1], first["x_hat"], first["bpp"], cfg.codecs)
    run.report.table(rows, title="Learned codec per image (real bitstreams)")
    run.summary_extra["train_seconds"] = round(result.seconds, 1)  # timings vary: not a result
    return {
        "model": cfg.train.model,
        "bpp": round(learned["bpp"], 4),
        "est_bpp": round(learned["est_bpp"], 4),
        "psnr": round(learned["psnr"], 3),
        "final_train_loss": round(result.history[-1]["loss"], 4),
    }


# ----------------------------------------------------------------------------- train
@dataclass
class TrainVerbConfig:
    """One model at one lambda; the checkpoint goes to checkpoints/model.pt."""

    train: TrainConfig = field(default_factory=TrainConfig)
    half: bool = False  # store the weights in float16 (half the file size)

    @classmethod
    def quick(cls) -> TrainVerbConfig:
        return cls(train=TrainConfig.quick())


@app.verb(config=TrainVerbConfig)
def train(run: Run) -> dict:
    """Train one model (mlicv2, mlicpp or a compressai baseline) at one lambda."""
    from entropykit_compression.train import train as train_model
    from entropykit_compression.zoo import save_checkpoint

    cfg: TrainVerbConfig = run.cfg
    t = cfg.train
    result = train_model(t, seed=run.seed, device=run.device, logger=run.metrics)
    digest = save_checkpoint(
        run.checkpoint_path("model.pt"),
        result.model.cpu(),
        name=t.model,
        size=t.size,
        overrides=t.overrides,
        lmbda=t.lmbda,
        steps=t.steps,
        half=cfg.half,
    )
    run.plot_metrics(["loss", "bpp", "psnr"])
    last = result.history[-1]
    run.summary_extra["train_seconds"] = round(result.seconds, 1)
    return {
        "model": t.model,
        "lmbda": t.lmbda,
        "steps": t.steps,
        "checkpoint_hash": digest,
        "loss": round(last["loss"], 4),
        "bpp": round(last["bpp"], 4),
        "psnr": round(last["psnr"], 3),
    }


# ----------------------------------------------------------------------------- evaluate
@dataclass
class EvaluateConfig:
    """Real-bitstream evaluation of checkpoints (one RD point each) against classic codecs."""

    checkpoints: list[str] = field(default_factory=list)  # default: the shipped checkpoint
    codecs: list[str] = field(default_factory=lambda: ["jpeg", "webp", "avif"])
    anchor: str = "webp"  # BD-rate reference curve
    crop: int = 0  # centre crop (0: whole images)

    def __post_init__(self) -> None:
        _check_codecs(self.codecs)
        missing = [c for c in self.checkpoints if not Path(c).expanduser().is_file()]
        if missing:
            raise ValueError(f"checkpoints {missing} do not exist; pass .pt files `train` wrote")

    @classmethod
    def quick(cls) -> EvaluateConfig:
        return cls(codecs=["jpeg", "webp"], crop=128)


def _load(checkpoint: str) -> tuple[Any, dict[str, Any]]:
    from entropykit_compression.zoo import default_checkpoint, load_checkpoint

    try:
        return load_checkpoint(checkpoint or default_checkpoint())
    except ValueError as exc:
        raise UsageError(str(exc)) from None


@app.verb(config=EvaluateConfig)
def evaluate(
    run: Run,
    folder: Annotated[
        str, typer.Argument(help="folder of images (default: the bundled held-out photos)")
    ] = "",
) -> dict:
    """Per-image and mean bpp (real bitstreams), PSNR and MS-SSIM of the checkpoints and of
    JPEG/WebP/AVIF on a folder of images; RD plot and BD-rate table."""
    from entropykit_compression.data import HELD_OUT
    from entropykit_compression.evaluate import bd_table, evaluate_model, mean_point

    cfg: EvaluateConfig = run.cfg
    images = _eval_images(folder, cfg.crop, list(HELD_OUT))
    rows: list[dict[str, Any]] = []
    learned: dict[str, list[dict[str, float]]] = {}
    for checkpoint in cfg.checkpoints or [""]:
        model, meta = _load(checkpoint)
        label = f"{meta['name']} ({meta['size']})"
        model_rows = evaluate_model(model, images, name=label)
        rows += model_rows
        learned.setdefault(label, []).append({"lmbda": meta["lmbda"], **mean_point(model_rows)})
    curves, classic_rows = _classic_curves(images, cfg.codecs)
    rows += classic_rows
    curves = {**learned, **curves}
    (run.path / "evaluation.json").write_text(
        json.dumps({"rows": rows, "curves": curves}, indent=1), encoding="utf-8"
    )
    _plot_rd(run, curves, "rd", "Rate-distortion (mean over images)")
    table = bd_table(curves, cfg.anchor) if cfg.anchor in curves else []
    if table:
        run.report.table(table, title=f"BD-rate and BD-PSNR against {cfg.anchor}")
    run.report.table(
        [{"codec": k, **p} for k, pts in learned.items() for p in pts], title="Learned codecs"
    )
    return {"images": len(images), "learned": learned, "bd": table}


# ----------------------------------------------------------------------------- the codec
@dataclass
class CodecConfig:
    """The checkpoint that codes (default: the one shipped with the package)."""

    checkpoint: str = ""


@app.verb(config=CodecConfig)
def compress(
    run: Run,
    image: Annotated[Path, typer.Argument(help="image to compress (PNG, JPEG, ...)")],
    output: Annotated[Path, typer.Argument(help="compressed file to write (.ekic)")],
) -> dict:
    """Compress an image into a file (header: model, config, checkpoint hash, size)."""
    from entropykit_compression.data import load_image
    from entropykit_compression.evaluate import compress_image

    cfg: CodecConfig = run.cfg
    if output.exists():
        raise UsageError(f"{output} exists; choose a new file name (nothing is overwritten)")
    try:
        x = load_image(image)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    model, meta = _load(cfg.checkpoint)
    info = compress_image(model, x, output, meta)
    return {"input": str(image), "output": str(output), "height": x.shape[1],
            "width": x.shape[2], **info}  # fmt: skip


@app.verb(config=CodecConfig)
def decompress(
    run: Run,
    file: Annotated[Path, typer.Argument(help="file written by `compress`")],
    output: Annotated[Path, typer.Argument(help="PNG to write")],
) -> dict:
    """Decode a compressed file back to a PNG."""
    from entropykit_compression.container import ContainerError
    from entropykit_compression.data import save_png
    from entropykit_compression.evaluate import decompress_file

    cfg: CodecConfig = run.cfg
    if not file.is_file():
        raise UsageError(f"{file} does not exist")
    if output.exists():
        raise UsageError(f"{output} exists; choose a new file name (nothing is overwritten)")
    model, meta = _load(cfg.checkpoint)
    try:
        x_hat = decompress_file(model, file, meta)
    except ContainerError as exc:
        raise UsageError(str(exc)) from None
    save_png(x_hat, output)
    return {"input": str(file), "output": str(output), "height": x_hat.shape[1],
            "width": x_hat.shape[2]}  # fmt: skip


# ----------------------------------------------------------------------------- bench
@app.verb(config=BenchConfig)
def bench(run: Run) -> dict:
    """Every learned model trained on the same data and steps at several lambdas, against JPEG,
    WebP and AVIF: RD curves, BD-rates, MLICv2+ (SGA), rate accuracy and coding time."""
    from entropykit_compression.bench import run_bench

    cfg = run.cfg
    out = run_bench(
        cfg,
        seed=run.seed,
        device=run.device,
        progress=lambda r: run.progress(r, desc="models"),
        checkpoint_dir=run.checkpoint_path("x").parent,
    )
    (run.path / "bench.json").write_text(json.dumps(out, indent=1), encoding="utf-8")
    main_curves = {k: v for k, v in out["curves"].items() if "photos" not in k}
    _plot_rd(run, main_curves, "rd", "Held-out set: mean RD points per lambda / quality")
    photo_curves = {k: v for k, v in out["curves"].items() if "photos" in k}
    if photo_curves:
        _plot_rd(run, photo_curves, "rd_sga", "Photos: MLICv2 vs MLICv2+ (SGA-refined latents)")
    for name, table in out["bd"].items():
        run.report.table(table, title=f"BD metrics {name}")
    run.report.table(out["rate_accuracy"], title="Real bitstream vs likelihood estimate")
    run.report.table(out["timing"], title="Encode / decode seconds per image")
    run.report.table(out["training"], title="Training runs")
    return {"bd": out["bd"], "rate_accuracy": out["rate_accuracy"], "timing": out["timing"]}


if __name__ == "__main__":
    main()
