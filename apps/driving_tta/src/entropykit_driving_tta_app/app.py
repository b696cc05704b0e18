"""The ``entropykit-driving-tta`` command: demo, collect, train, evaluate, predict, bench."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from entropykit_driving_tta.bench import (
    CONTROLS,
    BenchConfig,
    PipelineConfig,
    check_methods,
    ttt_config,
)
from entropykit_driving_tta.centaur import TTTConfig
from entropykit_driving_tta.collect import TEST_SEED0
from entropykit_driving_tta.parallel import resolve_workers
from entropykit_driving_tta.sim import get_scenario
from entropykit_driving_tta.train import TrainConfig

from entropykit import DomainApp, Run, UsageError, pyplot

app = DomainApp(
    "driving_tta",
    help="Centaur: cluster-entropy test-time training for a trajectory-scoring driving planner, "
    "scored with NAVSIM's PDM score in highway-env.",
)


def main() -> None:
    app()


def _load(checkpoint: str) -> tuple[Any, Any, dict[str, Any]]:
    from entropykit_driving_tta.train import load_checkpoint

    if not checkpoint:
        raise UsageError(
            "pass a planner checkpoint with --set checkpoint=PATH (written by "
            "`entropykit-driving-tta train` to <run>/checkpoints/planner.pt)"
        )
    try:
        return load_checkpoint(Path(checkpoint).expanduser())
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc)) from None


def _open_loop_report(run: Run, rows: list[dict[str, Any]], name: str, title: str) -> None:
    """PDMS per method with the paired 95% CI of its difference to the base planner."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    names = [r["method"] for r in rows]
    ax.bar(names, [r["pdms"] for r in rows], color="tab:blue", alpha=0.8)
    for i, r in enumerate(rows):
        if "d_pdms" in r:
            ax.annotate(
                f"{r['d_pdms']:+.2f}\n[{r['d_pdms_lo']:+.2f}, {r['d_pdms_hi']:+.2f}]",
                (i, r["pdms"]), ha="center", va="bottom", fontsize=6,
            )  # fmt: skip
    ax.set_ylabel("PDMS (x100)")
    lo = min(r["pdms"] for r in rows)
    ax.set_ylim(max(0.0, lo - 15), 100)
    ax.tick_params(axis="x", labelrotation=30, labelsize=8)
    ax.set_title("open loop; labels: change vs base with 95% episode-bootstrap CI", fontsize=8)
    fig.tight_layout()
    run.save_plot(fig, name, title)


def _scene_plot(run: Run, model: Any, vocab: Any, logs: list[Any], cfg: TTTConfig) -> str:
    """Bird's-eye plot of the most uncertain decision of the first test log."""
    import torch
    from entropykit_driving_tta.centaur import Planner
    from entropykit_driving_tta.features import decision_frames, frame_features
    from entropykit_driving_tta.render import plot_scene

    planner = Planner(model, vocab, cfg)
    log = logs[0]
    best, best_h = decision_frames(log)[0], -1.0
    for t in decision_frames(log):
        a, s = frame_features(log, t)
        with torch.no_grad():
            h = float(
                planner.entropy(
                    planner.scores(torch.as_tensor(a)[None], torch.as_tensor(s)[None])["score"]
                )[0]
            )
        if h > best_h:
            best, best_h = t, h
    a, s = frame_features(log, best)
    with torch.no_grad():
        score = planner.scores(torch.as_tensor(a)[None], torch.as_tensor(s)[None])["score"][0]
    p = torch.softmax(score / cfg.tau, -1).numpy()
    probs = np.bincount(vocab.clusters, weights=p, minlength=vocab.n_clusters)
    choice = int(score.argmax())
    path = plot_scene(
        log, best, vocab, score.numpy(), probs, choice, run.plot_path("scene"),
        title=f"{log.scenario} seed {log.seed}, t = {best / 10:.1f} s, cluster entropy "
        f"{best_h:.2f} nats (most uncertain decision of the episode)",
    )  # fmt: skip
    run.report.figure(
        path, "Scored proposals (colour: planning score; red: chosen) and cluster probabilities"
    )
    return str(path)


# ----------------------------------------------------------------------------- demo
@dataclass
class DemoConfig:
    """Collect a little expert data, build a vocabulary, train briefly, then compare the base
    planner with Centaur on a shifted scenario (open and closed loop)."""

    pipeline: PipelineConfig = field(
        default_factory=lambda: PipelineConfig(
            train_episodes=8, vocab_size=32, train=TrainConfig(epochs=5, lr=1e-3)
        )
    )
    shift: str = "dense"
    test_episodes: int = 3
    test_seconds: float = 0.0  # length of the test episodes (0: the scenario's own)
    closed_loop_episodes: int = 2
    closed_loop_seconds: float = 15.0
    ttt: TTTConfig = field(default_factory=TTTConfig)

    def __post_init__(self) -> None:
        get_scenario(self.shift)

    @classmethod
    def quick(cls) -> DemoConfig:
        return cls(
            pipeline=PipelineConfig.quick(),
            test_episodes=1,
            test_seconds=10.0,
            closed_loop_episodes=1,
            closed_loop_seconds=4.0,
        )


@app.verb(config=DemoConfig)
def demo(run: Run) -> dict:
    """Collect, build the vocabulary, train briefly, compare base vs Centaur on a shift, and
    plot one scene's scored proposals and cluster probabilities."""
    from entropykit_driving_tta.bench import _frames_for, prepare
    from entropykit_driving_tta.centaur import Planner
    from entropykit_driving_tta.closed_loop import closed_loop_table, run_episode
    from entropykit_driving_tta.evaluate import open_loop, open_loop_table
    from entropykit_driving_tta.train import save_checkpoint

    cfg: DemoConfig = run.cfg
    prep = prepare(cfg.pipeline, seed=run.seed, device=run.device, logger=run.metrics)
    save_checkpoint(run.checkpoint_path("planner.pt"), prep.model, prep.vocab)
    run.plot_metrics(["loss", "imi", "nc", "ttc"], x="epoch", caption="Training loss per epoch")
    logs, frames, _ = _frames_for(
        cfg.shift, TEST_SEED0, cfg.test_episodes, prep.vocab, 1, cfg.test_seconds
    )
    methods = {"none": ttt_config(cfg.ttt, "none"), "centaur": ttt_config(cfg.ttt, "centaur")}
    runs = open_loop(prep.model, prep.vocab, frames, logs, methods, run.seed)
    rows = open_loop_table(runs, frames.episode, base="none", n_boot=2000, seed=run.seed)
    run.report.table(rows, title=f"Open loop on {cfg.shift} (test seeds from {TEST_SEED0})")
    _open_loop_report(run, rows, "open_loop", f"Open-loop PDMS on {cfg.shift}")
    closed: dict[str, list[Any]] = {}
    for name in ("none", "centaur"):
        planner = Planner(prep.model, prep.vocab, methods[name])
        closed[name] = [
            run_episode(cfg.shift, TEST_SEED0 + i, planner, duration=cfg.closed_loop_seconds)
            for i in range(cfg.closed_loop_episodes)
        ]
    closed_rows = closed_loop_table(closed)
    run.report.table(closed_rows, title=f"Closed loop on {cfg.shift}")
    _scene_plot(run, prep.model, prep.vocab, logs, cfg.ttt)
    by = {r["method"]: r for r in rows}
    return {
        "vocab_size": prep.vocab.size,
        "train_frames": len(prep.frames),
        "final_train_loss": round(prep.history[-1]["loss"], 4),
        "first_train_loss": round(prep.history[0]["loss"], 4),
        "pdms_base": round(by["none"]["pdms"], 2),
        "pdms_centaur": round(by["centaur"]["pdms"], 2),
        "pdms_oracle": round(by["oracle"]["pdms"], 2),
        "pdms_expert": round(by["idm_expert"]["pdms"], 2),
        "closed_loop_at_fault": {r["policy"]: r["at_fault_rate"] for r in closed_rows},
    }


# ----------------------------------------------------------------------------- collect
@dataclass
class CollectConfig:
    """Expert (IDM/MOBIL) episodes of one scenario, logged at 10 Hz into <run>/logs/."""

    scenario: str = "highway"
    episodes: int = 40
    first_seed: int = 0
    workers: int = 0  # 0: all cores

    def __post_init__(self) -> None:
        get_scenario(self.scenario)
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")

    @classmethod
    def quick(cls) -> CollectConfig:
        return cls(episodes=2)


@app.verb(config=CollectConfig)
def collect(run: Run) -> dict:
    """Roll out the IDM/MOBIL expert and save one log per episode (crashes dropped, counted)."""
    from entropykit_driving_tta.collect import collect as collect_logs
    from entropykit_driving_tta.collect import save_logs

    cfg: CollectConfig = run.cfg
    workers = resolve_workers(cfg.workers)
    seeds = range(cfg.first_seed, cfg.first_seed + cfg.episodes)
    res = collect_logs(cfg.scenario, seeds, workers=workers, progress=True)
    save_logs(res.logs, run.path / "logs")
    speeds = np.concatenate([lg.speed[:, 0] for lg in res.logs]) if res.logs else np.zeros(1)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.hist(speeds, bins=30, color="tab:blue")
    ax.set_xlabel("expert speed (m/s)")
    ax.set_ylabel("frames")
    fig.tight_layout()
    run.save_plot(fig, "speeds", "Expert speed over all logged frames")
    return {
        "scenario": cfg.scenario,
        "kept": len(res.logs),
        "dropped": res.dropped,
        "frames": res.n_frames,
        "logs": str(run.path / "logs"),
    }


# ----------------------------------------------------------------------------- train
@dataclass
class TrainVerbConfig:
    """Train Hydra-lite; the checkpoint (weights + vocabulary + hash) is checkpoints/planner.pt."""

    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    logs: str = ""  # folder of logs from `collect` (default: collect pipeline.train_episodes)

    @classmethod
    def quick(cls) -> TrainVerbConfig:
        return cls(pipeline=PipelineConfig.quick())


@app.verb(config=TrainVerbConfig)
def train(run: Run) -> dict:
    """Expert logs -> vocabulary -> teacher scores -> Hydra-lite, saved with its vocabulary."""
    from entropykit_driving_tta.bench import prepare
    from entropykit_driving_tta.collect import load_logs
    from entropykit_driving_tta.train import save_checkpoint

    cfg: TrainVerbConfig = run.cfg
    logs = None
    if cfg.logs:
        try:
            logs = load_logs(Path(cfg.logs).expanduser())
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    prep = prepare(
        cfg.pipeline, seed=run.seed, device=run.device, logger=run.metrics, progress=True, logs=logs
    )
    vocab, model, history, n_frames = prep.vocab, prep.model, prep.history, len(prep.frames)
    seconds = sum(prep.seconds.values())
    save_checkpoint(run.checkpoint_path("planner.pt"), model, vocab, {"seed": run.seed})
    vocab.save(run.path / "vocabulary.npz")
    run.plot_metrics(["loss", "imi", "nc", "dac", "ttc", "ep", "comfort"], x="epoch")
    run.summary_extra["seconds"] = round(seconds, 1)
    return {
        "checkpoint": str(run.checkpoint_path("planner.pt")),
        "vocab_size": vocab.size,
        "vocab_hash": vocab.hash,
        "clusters": list(vocab.cluster_names),
        "frames": n_frames,
        "first_loss": round(history[0]["loss"], 4),
        "final_loss": round(history[-1]["loss"], 4),
    }


# ----------------------------------------------------------------------------- evaluate
@dataclass
class EvaluateConfig:
    """Open loop (and optionally closed loop) of a checkpoint on one scenario's test seeds."""

    checkpoint: str = ""
    shift: str = "dense"
    episodes: int = 10
    first_seed: int = TEST_SEED0
    logs: str = ""  # folder of logs to evaluate on instead of collecting
    methods: list[str] = field(default_factory=lambda: ["none", "centaur", "placebo", "fallback"])
    ttt: TTTConfig = field(default_factory=TTTConfig)
    closed_loop_episodes: int = 0
    workers: int = 0

    def __post_init__(self) -> None:
        get_scenario(self.shift)
        check_methods(self.methods)

    @classmethod
    def quick(cls) -> EvaluateConfig:
        return cls(episodes=1, methods=["none", "centaur"], closed_loop_episodes=1)


@app.verb(config=EvaluateConfig)
def evaluate(run: Run) -> dict:
    """Per-method NAVSIM sub-scores and PDMS with paired CIs, uncertainty AUROC, and
    closed-loop at-fault collision rates on one scenario."""
    from entropykit_driving_tta.centaur import Planner
    from entropykit_driving_tta.closed_loop import closed_loop_table, run_episode
    from entropykit_driving_tta.collect import collect as collect_logs
    from entropykit_driving_tta.collect import load_logs
    from entropykit_driving_tta.evaluate import (
        nontrivial_mask,
        open_loop,
        open_loop_table,
        uncertainty_auroc,
    )
    from entropykit_driving_tta.features import build_frames

    cfg: EvaluateConfig = run.cfg
    model, vocab, _ = _load(cfg.checkpoint)
    workers = resolve_workers(cfg.workers)
    if cfg.logs:
        try:
            logs = load_logs(Path(cfg.logs).expanduser())
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    else:
        seeds = range(cfg.first_seed, cfg.first_seed + cfg.episodes)
        logs = collect_logs(cfg.shift, seeds, workers=workers, progress=True).logs
    frames = build_frames(logs, vocab, workers=workers, progress=True)
    methods = {m: ttt_config(cfg.ttt, m) for m in cfg.methods}
    runs = open_loop(model, vocab, frames, logs, methods, run.seed)
    mask = nontrivial_mask(frames)
    rows = open_loop_table(runs, frames.episode, mask, "none", seed=run.seed)
    auroc = uncertainty_auroc(runs["none"], mask)
    run.report.table(rows, title=f"Open loop, {logs[0].scenario}: sub-scores and PDMS (x100)")
    run.report.table(auroc, title="Uncertainty before any update as a failure predictor")
    _open_loop_report(run, rows, "open_loop", "Open-loop PDMS per method")
    _scene_plot(run, model, vocab, logs, cfg.ttt)
    result: dict[str, Any] = {"frames": int(mask.sum()), "open_loop": rows, "auroc": auroc}
    if cfg.closed_loop_episodes:
        closed = {}
        for m in [*cfg.methods, "idm"]:
            pol = "idm" if m == "idm" else Planner(model, vocab, methods[m])
            closed[m] = [
                run_episode(cfg.shift, cfg.first_seed + i, pol)
                for i in run.progress(range(cfg.closed_loop_episodes), desc=f"closed loop {m}")
            ]
        result["closed_loop"] = closed_loop_table(closed)
        run.report.table(result["closed_loop"], title="Closed loop (paired seeds)")
    (run.path / "evaluation.json").write_text(
        json.dumps(result, indent=1, default=float), encoding="utf-8"
    )
    return result


# ----------------------------------------------------------------------------- predict
@dataclass
class PredictConfig:
    """Drive one seeded episode with a checkpoint and render it."""

    checkpoint: str = ""
    scenario: str = "dense"
    seed: int = TEST_SEED0
    method: str = "centaur"
    ttt: TTTConfig = field(default_factory=TTTConfig)
    seconds: float = 20.0
    video: str = "episode.gif"  # .gif or .mp4, written into the run directory

    def __post_init__(self) -> None:
        get_scenario(self.scenario)
        if self.method not in CONTROLS and self.method != "idm":
            raise ValueError(
                f"method must be 'idm' or one of {list(CONTROLS)}, got {self.method!r}"
            )
        if Path(self.video).suffix.lower() not in (".gif", ".mp4"):
            raise ValueError(f"video must end in .gif or .mp4, got {self.video!r}")

    @classmethod
    def quick(cls) -> PredictConfig:
        return cls(seconds=3.0)


@app.verb(config=PredictConfig)
def predict(run: Run) -> dict:
    """Closed-loop episode with the planner (and TTT), rendered to an animated GIF or MP4,
    with every decision's cluster entropy and choice in decisions.jsonl."""
    from entropykit_driving_tta.centaur import Planner
    from entropykit_driving_tta.closed_loop import run_episode
    from entropykit_driving_tta.render import render_episode

    cfg: PredictConfig = run.cfg
    model, vocab, _ = _load(cfg.checkpoint)
    policy = (
        "idm" if cfg.method == "idm" else Planner(model, vocab, ttt_config(cfg.ttt, cfg.method))
    )
    res = run_episode(cfg.scenario, cfg.seed, policy, duration=cfg.seconds)
    video = render_episode(res.log, run.path / Path(cfg.video).name, vocab, res.plans)
    with (run.path / "decisions.jsonl").open("w", encoding="utf-8") as fh:
        for d in res.decisions:
            fh.write(json.dumps({k: v for k, v in d.items()}, default=float) + "\n")
    if res.decisions:
        plt = pyplot()
        fig, ax = plt.subplots(figsize=(6, 3))
        tt = [d["frame"] / 10 for d in res.decisions]
        ax.plot(tt, [d["h_before"] for d in res.decisions], label="before update")
        ax.plot(tt, [d["h_after"] for d in res.decisions], label="after update")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("cluster entropy (nats)")
        ax.legend(fontsize=8)
        fig.tight_layout()
        run.save_plot(fig, "entropy", "Cluster entropy at every decision")
    return {"video": str(video), "policy": res.policy, **res.metrics}


# ----------------------------------------------------------------------------- bench
@app.verb(config=BenchConfig)
def bench(run: Run) -> dict:
    """Train once; choose the TTT learning rate on validation seeds; then open loop on every
    shift (Centaur vs base and controls, paired CIs), closed loop, safety suite, AUROC, ms per
    decision."""
    from entropykit_driving_tta.bench import run_bench

    cfg: BenchConfig = run.cfg
    out = run_bench(
        cfg,
        seed=run.seed,
        device=run.device,
        progress=lambda it: run.progress(it),
        logger=run.metrics,
        checkpoint=str(run.checkpoint_path("planner.pt")),
    )
    (run.path / "bench.json").write_text(json.dumps(out, indent=1, default=float), encoding="utf-8")
    run.report.table([out["training"]], title="Training")
    run.report.table(out["validation"]["rows"], title="TTT learning rate on validation seeds")
    run.report.table(out["open_loop"], title="Open loop per shift (x100; deltas vs base, 95% CI)")
    run.report.table(out["auroc"], title="Uncertainty AUROC (failure: NC = 0 or PDMS < 0.5)")
    run.report.table(out["closed_loop"], title="Closed loop (paired seeds, Wilson CIs, McNemar)")
    run.report.table(out["safety"], title="Safety suite")
    run.report.table(out.get("ttt_effect", []), title="What the update does")
    plt = pyplot()
    shifts = list(dict.fromkeys(r["shift"] for r in out["open_loop"]))
    methods = [m for m in cfg.methods if m != "none"]
    fig, ax = plt.subplots(figsize=(7.5, 3.8))
    width = 0.8 / max(len(methods), 1)
    for j, m in enumerate(methods):
        rows = [
            next(r for r in out["open_loop"] if r["shift"] == s and r["method"] == m)
            for s in shifts
        ]
        x = np.arange(len(shifts)) + (j - (len(methods) - 1) / 2) * width
        d = np.array([r["d_pdms"] for r in rows])
        err = np.array(
            [
                [r["d_pdms"] - r["d_pdms_lo"] for r in rows],
                [r["d_pdms_hi"] - r["d_pdms"] for r in rows],
            ]
        )
        ax.bar(x, d, width, yerr=err, capsize=2, label=m)
    ax.axhline(0, color="k", lw=0.8)
    ax.set_xticks(range(len(shifts)), shifts)
    ax.set_ylabel("PDMS change vs base (x100)")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    run.save_plot(fig, "open_loop_delta", "Open-loop PDMS change against the base planner (95% CI)")
    return {
        "chosen_lr": out["validation"]["chosen_lr"],
        "open_loop": {
            f"{r['shift']}/{r['method']}": round(r.get("d_pdms", r["pdms"]), 3)
            for r in out["open_loop"]
        },
        "seconds": round(out["seconds"], 1),
    }


if __name__ == "__main__":
    main()
