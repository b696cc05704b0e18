"""The ``entropykit-llm-uq`` command: demo, evaluate, predict, perturb, bench."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from entropykit_llm_uq.bench import BenchConfig, run_bench
from entropykit_llm_uq.config import DemoConfig, EvaluateConfig, PredictConfig, UQConfig
from entropykit_llm_uq.data import QAItem, factual_qa, load_questions
from entropykit_llm_uq.evaluate import methods_of, metric_results
from entropykit_llm_uq.factory import build_backend, build_embedder, build_nli, build_source
from entropykit_llm_uq.pipeline import PipelineRun, perturb_questions, run_pipeline

from entropykit import DomainApp, Run, UsageError
from entropykit_llm_uq_app import plots

app = DomainApp(
    "llm_uq",
    help="Inv-Entropy: uncertainty of LLM answers from a dual random walk over perturbed "
    "questions and replicated answers (GAAP perturbations, TSU, the paper's baselines).",
)

#: Methods shown in the compact plots (the full set goes to the tables).
_SHOWN = ("inv_entropy", "ni_entropy", "nr_inv_entropy", "semantic_entropy", "lexsim", "degmat")
_UNLABELLED = "(no gold answer)"


def main() -> None:
    app()


# -- helpers -------------------------------------------------------------------------------


def _perturbed(
    run: Run, uq: UQConfig, items: list[QAItem], *, need_backend: bool = True
) -> tuple[Any, Any, list[list[str]]]:
    """(backend or None, embedder, perturbations of every question)."""
    backend = None
    if need_backend or uq.perturbation == "paraphrase":
        backend = build_backend(
            uq.backend,
            items=items,
            seed=run.seed,
            device=run.device,
            cache_dir=uq.resolved_cache_dir(),
        )
    embedder = build_embedder(uq, run.device)
    perts = perturb_questions(
        items,
        uq,
        embedder=embedder,
        backend=backend,
        source=build_source(uq) if uq.perturbation == "gaap" else None,
        seed=run.seed,
        cache_dir=uq.resolved_cache_dir(),
        progress=lambda it: run.progress(it, desc="perturb", total=len(items)),
    )
    return backend, embedder, perts


def _score(run: Run, uq: UQConfig, items: list[QAItem], *, judge: bool = True) -> PipelineRun:
    backend, embedder, perts = _perturbed(run, uq, items)
    result = run_pipeline(
        items,
        uq,
        backend=backend,
        embedder=embedder,
        perturbations=perts,
        nli=build_nli(uq, run.device),
        seed=run.seed,
        judge=judge,
        progress=lambda it: run.progress(it, desc="score", total=len(items)),
    )
    run.summary_extra["timing_s"] = {k: round(v, 4) for k, v in result.timings.items()}
    return result


def _write_records(run: Run, result: PipelineRun, methods: list[str], *, gold: bool) -> None:
    with (run.path / "records.jsonl").open("w", encoding="utf-8") as fh:
        for r in result.results:
            rec = r.to_record()
            if not gold:
                for key in ("gold", "correct"):
                    rec.pop(key)
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    cols = ["id", "question", "reference_answer"] + (["gold", "correct"] if gold else [])
    with (run.path / "scores.csv").open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols + methods)
        for r in result.results:
            rec = r.to_record()
            w.writerow([rec[c] for c in cols] + [f"{r.scores[m]:.6g}" for m in methods])


def _metric_rows(metrics: dict[str, dict[str, tuple[float, float]]]) -> list[dict[str, Any]]:
    return [
        {"method": plots.label(m), **{k: f"{v[0]:.3f} ± {v[1]:.3f}" for k, v in by.items()}}
        for m, by in metrics.items()
    ]


def _report_metrics(run: Run, result: PipelineRun, methods: list[str], table: dict) -> None:
    run.report.table(_metric_rows(table["metrics"]), title="Metrics (paired bootstrap mean ± std)")
    run.save_plot(
        plots.metric_bars(table["metrics"], "auroc"), "auroc", "AUROC of each method (± std)"
    )
    shown = [m for m in methods if m in _SHOWN]
    run.save_plot(plots.roc_curves(result, shown), "roc", "ROC curves (confidence = -uncertainty)")
    run.save_plot(
        plots.uncertainty_vs_correctness(result, shown),
        "uncertainty_vs_correctness",
        "Each question's uncertainty, green = correct answer, red = wrong",
    )


def _questions_from(arg: str) -> list[QAItem]:
    """A question file (.csv/.jsonl with gold answers, or .txt one question per line) or one
    question given on the command line."""
    path = Path(arg)
    if path.suffix.lower() == ".txt" and path.is_file():
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
        return [QAItem(f"q{k:04d}", q, (_UNLABELLED,)) for k, q in enumerate(lines) if q]
    if path.suffix.lower() in {".csv", ".jsonl", ".json"}:
        return load_questions(path)
    return [QAItem("q0000", arg, (_UNLABELLED,))]


def _check_questions(questions: str) -> None:
    path = Path(questions)
    if path.suffix.lower() in {".csv", ".jsonl", ".json", ".txt"} and not path.is_file():
        raise UsageError(
            f"{questions} does not exist; pass a question file or a question in quotes"
        )
    if not questions.strip():
        raise UsageError("the question is empty; pass a question in quotes or a question file")
    try:
        _questions_from(questions)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _check_data(data: Path) -> None:
    if not data.is_file():
        raise UsageError(f"{data} does not exist; pass a CSV (question,value) or JSONL file")
    try:
        load_questions(data)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


# -- verbs ---------------------------------------------------------------------------------


@app.verb(config=DemoConfig)
def demo(run: Run) -> dict:
    """Answer a few generated factual questions with the bundled SmolLM2-135M, score each with
    Inv-Entropy and the baselines, and plot uncertainty against correctness."""
    cfg: DemoConfig = run.cfg
    items = factual_qa(cfg.questions, seed=run.seed)
    result = _score(run, cfg.uq, items)
    methods = methods_of(cfg.uq)
    _write_records(run, result, methods, gold=True)
    run.report.table(
        [
            {
                "question": r.item.question,
                "answer": r.reference,
                "gold": r.item.answers[0],
                "correct": r.correct,
                "Inv-Entropy": round(r.scores["inv_entropy"], 4),
            }
            for r in result.results
        ],
        title="Answers",
    )
    out: dict[str, Any] = {
        "questions": len(items),
        "accuracy": float(sum(bool(r.correct) for r in result.results) / len(items)),
        "mean_inv_entropy": float(result.scores("inv_entropy").mean()),
    }
    labels = result.labels()
    if 0 < labels.sum() < len(labels):
        table = metric_results(result, methods, n_boot=50, seed=42)
        _report_metrics(run, result, methods, table)
        out["auroc"] = {m: round(v["auroc"][0], 4) for m, v in table["metrics"].items()}
    else:
        run.report.text(
            "Every answer was judged the same (all right or all wrong): AUROC is undefined; "
            "run with more questions (--set questions=20)."
        )
        shown = [m for m in methods if m in _SHOWN]
        run.save_plot(plots.uncertainty_vs_correctness(result, shown), "uncertainty_vs_correctness")
    return out


@app.verb(config=EvaluateConfig, validate=_check_data)
def evaluate(
    run: Run,
    data: Annotated[Path, typer.Argument(help="questions: CSV with question,value or JSONL")],
) -> dict:
    """Score every question of a file and write per-question scores and the metric table."""
    cfg: EvaluateConfig = run.cfg
    items = load_questions(data)
    if cfg.limit:
        items = items[: cfg.limit]
    result = _score(run, cfg.uq, items)
    methods = methods_of(cfg.uq)
    _write_records(run, result, methods, gold=True)
    table = metric_results(result, methods, n_boot=cfg.n_boot, seed=cfg.metric_seed)
    _report_metrics(run, result, methods, table)
    (run.path / "metrics.json").write_text(json.dumps(table, indent=2), encoding="utf-8")
    return {
        "questions": table["n_questions"],
        "unjudged": table["n_unjudged"],
        "accuracy": round(table["accuracy"], 4),
        "auroc": {m: round(v["auroc"][0], 4) for m, v in table["metrics"].items()},
    }


@app.verb(config=PredictConfig, validate=_check_questions)
def predict(
    run: Run,
    questions: Annotated[
        str, typer.Argument(help="a question in quotes, or a .txt/.csv/.jsonl file of questions")
    ],
) -> dict:
    """Uncertainty of the model's answers to one question or a file of questions."""
    cfg: PredictConfig = run.cfg
    items = _questions_from(questions)
    labelled = all(it.answers[0] != _UNLABELLED for it in items)
    result = _score(run, cfg.uq, items, judge=labelled)
    methods = methods_of(cfg.uq)
    _write_records(run, result, methods, gold=labelled)
    run.report.table(
        [
            {
                "question": r.item.question,
                "answer": r.reference,
                **{
                    plots.label(m): round(r.scores[m], 4)
                    for m in ("inv_entropy", *cfg.uq.baselines)
                },
            }
            for r in result.results
        ],
        title="Uncertainty (higher = less certain)",
    )
    fig = plots.pyplot().figure(figsize=(6.0, 0.35 * len(items) + 1.5))
    ax = fig.add_subplot()
    ax.barh(range(len(items)), result.scores("inv_entropy"), color="tab:blue")
    ax.set_yticks(range(len(items)), [r.item.question[:60] for r in result.results], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("Inv-Entropy (nats)")
    fig.tight_layout()
    run.save_plot(fig, "inv_entropy", "Inv-Entropy of each question")
    first = result.results[0]
    return {
        "questions": len(items),
        "inv_entropy": round(first.scores["inv_entropy"], 6) if len(items) == 1 else None,
        "answer": first.reference if len(items) == 1 else None,
        "mean_inv_entropy": round(float(result.scores("inv_entropy").mean()), 6),
    }


@app.verb(config=PredictConfig, validate=_check_questions)
def perturb(
    run: Run,
    questions: Annotated[
        str, typer.Argument(help="a question in quotes, or a .txt/.csv/.jsonl file of questions")
    ],
) -> dict:
    """Write the perturbations (GAAP, LLM paraphrases or templates) of each question to
    perturbations.jsonl."""
    cfg: PredictConfig = run.cfg
    uq = cfg.uq
    items = _questions_from(questions)
    _, embedder, perts = _perturbed(run, uq, items, need_backend=False)
    sims = []
    with (run.path / "perturbations.jsonl").open("w", encoding="utf-8") as fh:
        for it, pert in zip(items, perts, strict=True):
            vec = embedder.encode([it.question, *pert])
            sim = ((1.0 + vec[1:] @ vec[0]) / 2.0).tolist()
            sims.extend(sim)
            fh.write(
                json.dumps(
                    {
                        "id": it.id,
                        "question": it.question,
                        "perturbations": pert,
                        "similarity": sim,
                    },
                    ensure_ascii=False,
                )
                + "\n"
            )
    run.report.table(
        [{"question": items[0].question, "perturbation": p} for p in perts[0]],
        title=f"Perturbations ({uq.perturbation}) of the first question",
    )
    fig = plots.pyplot().figure(figsize=(5.0, 3.2))
    ax = fig.add_subplot()
    ax.hist(sims, bins=20, color="tab:blue")
    ax.set_xlabel("(1 + cos) / 2 similarity to the question")
    ax.set_ylabel("perturbations")
    fig.tight_layout()
    run.save_plot(fig, "similarity", "How far the perturbations move from the question")
    return {
        "questions": len(items),
        "perturbations_per_question": uq.n_perturb,
        "mean_similarity": round(float(sum(sims) / len(sims)), 4),
    }


@app.verb(config=BenchConfig)
def bench(run: Run) -> dict:
    """The paper's claim at CPU scale: metric table and TSU over temperatures for Inv-Entropy and
    every baseline, time per question, parity and speed against the authors' package."""
    cfg: BenchConfig = run.cfg
    res = run_bench(
        cfg,
        seed=run.seed,
        device=run.device,
        progress=lambda it: run.progress(it, desc="bench"),
        log=lambda msg: typer.echo(msg, err=True),
    )
    main_run = res["runs"][cfg.uq.temperature]
    methods = res["methods"]
    _write_records(run, main_run, methods, gold=True)
    _report_metrics(run, main_run, methods, res["metrics"])
    tsu_rows = [{"method": plots.label(m), **v} for m, v in res["tsu"].items()]
    run.report.table(tsu_rows, title="TSU (%), strict")
    run.save_plot(plots.tsu_bars(res["tsu"]), "tsu", "TSU (%) per temperature chain")
    run.report.table(res["timing"], title="Seconds per question")
    for key, what in (("parity", "bench setting"), ("parity_paper_setting", "n=9, r=5, B=30")):
        if res[key] is not None:
            run.report.table(res[key], title=f"Inv-Entropy vs the authors' package ({what})")
    keys = ("metrics", "tsu", "tsu_nonstrict", "timing", "parity", "parity_paper_setting")
    tables = {k: res[k] for k in keys}
    (run.path / "bench.json").write_text(json.dumps(tables, indent=2), encoding="utf-8")
    best = max(methods, key=lambda m: res["metrics"]["metrics"][m]["auroc"][0])
    return {
        "questions": res["n_questions"],
        "accuracy": round(res["metrics"]["accuracy"], 4),
        "auroc_inv_entropy": round(res["metrics"]["metrics"]["inv_entropy"]["auroc"][0], 4),
        "best_auroc_method": best,
        "tsu_inv_entropy": res["tsu"]["inv_entropy"],
        "parity_max_abs_diff": None if res["parity"] is None else res["parity"]["max_abs_diff"],
    }


if __name__ == "__main__":
    main()
