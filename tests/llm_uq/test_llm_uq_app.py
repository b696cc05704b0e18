"""The entropykit-llm-uq command: contract, determinism, every verb on the simulated backend,
bad inputs."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from entropykit_llm_uq.data import factual_qa, save_questions
from entropykit_llm_uq_app.app import app

from entropykit_shared.rundir import check_run_dir
from entropykit_shared.testing import (
    AppContract,
    DeterminismContract,
    assert_cli_bad_input,
    invoke,
)

VERBS = ("demo", "evaluate", "predict", "perturb", "bench")
QUICK = ("--quick", "--device", "cpu", "--seed", "0")


class TestLLMUQApp(AppContract):
    app = app
    domain = "llm_uq"
    verbs = VERBS

    def test_demo_reports_answers_scores_and_plots(self, demo_run: Path) -> None:
        summary = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))
        results = summary["results"]
        assert results["questions"] == 16
        assert 0.0 < results["accuracy"] < 1.0
        assert results["mean_inv_entropy"] > 0
        assert set(results["auroc"]) >= {"inv_entropy", "semantic_entropy", "degmat"}
        assert (demo_run / "plots" / "uncertainty_vs_correctness.png").is_file()
        assert (demo_run / "plots" / "roc.png").is_file()
        records = [json.loads(x) for x in (demo_run / "records.jsonl").read_text().splitlines()]
        assert len(records) == 16
        assert all(len(r["inputs"]) == 5 and len(r["answers"]) == 5 for r in records)
        assert all(len(row) == 3 for r in records for row in r["answers"])
        report = (demo_run / "report.md").read_text(encoding="utf-8")
        assert "Answers" in report
        assert "Inv-Entropy" in report


class TestLLMUQDeterminism(DeterminismContract):
    app = app


@pytest.fixture
def question_file(tmp_path: Path) -> Path:
    return save_questions(factual_qa(12, seed=3), tmp_path / "questions.csv")


def test_evaluate_writes_scores_and_metric_table(tmp_path: Path, question_file: Path) -> None:
    out = tmp_path / "eval"
    result = invoke(app, ["evaluate", str(question_file), *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert not check_run_dir(out)
    with (out / "scores.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12
    assert float(rows[0]["inv_entropy"]) > 0
    table = json.loads((out / "metrics.json").read_text(encoding="utf-8"))
    assert table["n_questions"] == 12
    mean, std = table["metrics"]["inv_entropy"]["auroc"]
    assert 0.0 <= mean <= 1.0
    assert std >= 0.0
    assert (out / "plots" / "auroc.png").is_file()


def test_predict_one_question(tmp_path: Path) -> None:
    out = tmp_path / "pred"
    q = factual_qa(1, seed=0)[0].question
    result = invoke(app, ["predict", q, *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["results"]["inv_entropy"] > 0
    assert summary["results"]["answer"]
    record = json.loads((out / "records.jsonl").read_text(encoding="utf-8"))
    assert "correct" not in record
    assert record["question"] == q


def test_perturb_writes_n_perturbations_per_question(tmp_path: Path, question_file: Path) -> None:
    out = tmp_path / "pert"
    result = invoke(app, ["perturb", str(question_file), *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    lines = (out / "perturbations.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 12
    rec = json.loads(lines[0])
    assert len(rec["perturbations"]) == 4
    assert all(0.0 <= s <= 1.0 for s in rec["similarity"])


def test_bench_quick_writes_tables(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    args = ["bench", *QUICK, "--out", str(out), "--set", "questions=12"]
    result = invoke(app, args)
    assert result.exit_code == 0, result.stdout + result.stderr
    tables = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert set(tables["tsu"]["inv_entropy"]) == {
        "TSU(0.3,0.7)",
        "TSU(0.7,1)",
        "TSU(1,1.4)",
        "TSU(0.3,1.4)",
        "TSU(0.3-1.4)",
    }
    assert tables["timing"]["generate_s_per_question"] >= 0
    if tables["parity"] is not None:
        assert tables["parity"]["max_abs_diff"] < 1e-10
    assert (out / "plots" / "tsu.png").is_file()


def test_evaluate_rejects_a_csv_without_value_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("question,answer_text\nWhat is 1+1?,2\n", encoding="utf-8")
    out = tmp_path / "out"
    assert_cli_bad_input(
        app, ["evaluate", str(bad), *QUICK, "--out", str(out)], match="value", exit_code=2
    )
    assert not out.exists()


def test_missing_question_file_is_a_usage_error(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert_cli_bad_input(
        app,
        ["predict", str(tmp_path / "nope.jsonl"), *QUICK, "--out", str(out)],
        match="does not exist",
        exit_code=2,
    )
    assert not out.exists()


@pytest.mark.parametrize(
    ("override", "match"),
    [
        ("uq.n_perturb=0", "n_perturb must be >= 1"),
        ("uq.similarity=dot", "similarity must be one of"),
        ("uq.backend.name=hf", "needs backend.path"),
    ],
)
def test_bad_config_values_are_usage_errors(tmp_path: Path, override: str, match: str) -> None:
    out = tmp_path / "out"
    assert_cli_bad_input(
        app, ["demo", *QUICK, "--out", str(out), "--set", override], match=match, exit_code=2
    )
    assert not out.exists()
