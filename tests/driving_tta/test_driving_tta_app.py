"""The entropykit-driving-tta command: contract, determinism, train -> evaluate -> predict,
bench, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from entropykit_driving_tta.train import load_checkpoint
from entropykit_driving_tta_app.app import app

from entropykit_shared.rundir import check_run_dir
from entropykit_shared.testing import (
    AppContract,
    DeterminismContract,
    assert_cli_bad_input,
    invoke,
    run_results,
)

QUICK = ("--quick", "--device", "cpu", "--seed", "0")
VERBS = ("demo", "collect", "train", "evaluate", "predict", "bench")


class TestDrivingApp(AppContract):
    app = app
    domain = "driving_tta"
    verbs = VERBS

    def test_demo_reports_scores_and_the_scene_plot(self, demo_run: Path) -> None:
        results = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))["results"]
        for key in ("pdms_base", "pdms_centaur", "pdms_oracle", "pdms_expert"):
            assert 0.0 <= results[key] <= 100.0
        # The oracle picks the best teacher-scored entry: no planner can beat it.
        assert results["pdms_oracle"] >= max(results["pdms_base"], results["pdms_centaur"])
        assert results["final_train_loss"] < results["first_train_loss"]
        for name in ("scene.png", "open_loop.png", "metrics.png"):
            assert (demo_run / "plots" / name).is_file()
        assert (demo_run / "checkpoints" / "planner.pt").is_file()


class TestDrivingDeterminism(DeterminismContract):
    app = app


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train") / "run"
    result = invoke(app, ["train", *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert not check_run_dir(out)
    return out / "checkpoints" / "planner.pt"


def test_train_writes_a_checkpoint_with_its_vocabulary(checkpoint: Path) -> None:
    model, vocab, _ = load_checkpoint(checkpoint)
    res = run_results(checkpoint.parent.parent)
    assert vocab.hash == res["vocab_hash"]
    assert model.vocab_size == vocab.size == res["vocab_size"]
    assert res["final_loss"] < res["first_loss"]


def test_evaluate_and_predict_with_the_checkpoint(checkpoint: Path, tmp_path: Path) -> None:
    sets = ["--set", f"checkpoint={checkpoint}"]
    out = tmp_path / "eval"
    result = invoke(
        app,
        ["evaluate", *QUICK, "--out", str(out), *sets, "--set", "shift=highway"],
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    res = run_results(out)
    rows = {r["method"]: r for r in res["open_loop"]}
    assert {"none", "centaur", "oracle", "idm_expert"} <= set(rows)
    assert all(0.0 <= r["pdms"] <= 100.0 for r in rows.values())
    assert (out / "evaluation.json").is_file()
    assert len(res["closed_loop"]) == 3  # none, centaur, idm
    out = tmp_path / "pred"
    result = invoke(app, ["predict", *QUICK, "--out", str(out), *sets])
    assert result.exit_code == 0, result.stdout + result.stderr
    res = run_results(out)
    assert Path(res["video"]).is_file()
    assert Path(res["video"]).stat().st_size > 1000
    lines = (out / "decisions.jsonl").read_text(encoding="utf-8").splitlines()
    assert lines
    assert all(np.isfinite(json.loads(line)["h_before"]) for line in lines)


def test_bench_quick_writes_every_table(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = invoke(app, ["bench", *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    for key in ("training", "validation", "open_loop", "auroc", "closed_loop", "safety", "timing"):
        assert data[key], key
    assert data["validation"]["chosen_lr"] in (1e-3,)
    assert {r["scenario"] for r in data["safety"]} == {
        "cut_in", "hard_brake", "stopped_vehicle", "forced_merge", "roundabout_entry",
    }  # fmt: skip
    assert (out / "plots" / "open_loop_delta.png").is_file()


def test_unknown_scenario_is_refused_before_anything_runs(tmp_path: Path) -> None:
    out = tmp_path / "x"
    assert_cli_bad_input(
        app,
        ["collect", *QUICK, "--out", str(out), "--set", "scenario=mars"],
        match="unknown scenario",
        untouched=tmp_path,
    )


def test_evaluate_needs_a_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "x"
    assert_cli_bad_input(app, ["evaluate", *QUICK, "--out", str(out)], match="checkpoint")


def test_predict_rejects_a_file_that_is_not_a_checkpoint(tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    out = tmp_path / "x"
    assert_cli_bad_input(
        app,
        ["predict", *QUICK, "--out", str(out), "--set", f"checkpoint={bogus}"],
        match="checkpoint",
    )


def test_unknown_method_is_refused(tmp_path: Path) -> None:
    assert_cli_bad_input(
        app,
        ["evaluate", *QUICK, "--out", str(tmp_path / "x"), "--set", "methods=[none,magic]"],
        match="unknown methods",
        untouched=tmp_path,
    )
