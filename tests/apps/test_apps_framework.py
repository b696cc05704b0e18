"""DomainApp: common options, run life cycle, exit codes and error messages (tiny test app)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
import typer
import yaml

from entropykit import DomainApp, Run
from entropykit_shared.rundir import check_run_dir
from entropykit_shared.testing import assert_cli_bad_input, invoke

CPU = ["--device", "cpu"]


def summary(path: Path) -> dict:
    return json.loads((path / "summary.json").read_text(encoding="utf-8"))


def test_demo_writes_a_complete_run_directory(tiny: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = invoke(tiny.app, ["demo", "--quick", *CPU, "--seed", "3", "--out", out])
    assert result.exit_code == 0, result.output
    assert f"run directory: {out}" in result.stderr
    assert f"done: {out}" in result.stderr
    assert check_run_dir(out) == []
    config = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    assert config["run"] == {
        "domain": "tiny",
        "command": "demo",
        "seed": 3,
        "device": "cpu",
        "quick": True,
    }
    assert config["steps"] == 15  # the quick preset
    assert summary(out)["results"]["final_loss"] < 1.0
    records = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(records) == 15
    assert records[-1]["loss"] < records[0]["loss"]
    assert (out / "checkpoints" / "line.npz").is_file()


def test_default_run_directory_under_runs(tiny: ModuleType, in_tmp: Path) -> None:
    result = invoke(tiny.app, ["train", *CPU, "--set", "steps=5"])
    assert result.exit_code == 0, result.output
    (run,) = (in_tmp / "runs" / "tiny").iterdir()
    assert run.name.endswith("-train")
    assert check_run_dir(run) == []
    # no plot saved by the verb: the framework drew the logged metrics
    assert (run / "plots" / "metrics.png").is_file()


def test_config_file_and_set_overrides(tiny: ModuleType, tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("steps: 4\ndata:\n  n: 8\n", encoding="utf-8")
    out = tmp_path / "run"
    args = ["train", *CPU, "--config", cfg, "--set", "data.noise=0.0", "-s", "lr=0.1", "-o", out]
    result = invoke(tiny.app, args)
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load((out / "config.yaml").read_text(encoding="utf-8"))
    assert (saved["steps"], saved["lr"], saved["data"]) == (4, 0.1, {"n": 8, "noise": 0.0})


def test_saved_config_reproduces_the_run(tiny: ModuleType, tmp_path: Path) -> None:
    first = tmp_path / "first"
    assert (
        invoke(tiny.app, ["demo", "--quick", *CPU, "--seed", "11", "--out", first]).exit_code == 0
    )
    second = tmp_path / "second"
    result = invoke(tiny.app, ["demo", *CPU, "--config", first / "config.yaml", "--out", second])
    assert result.exit_code == 0, result.output
    assert summary(second)["seed"] == 11  # taken from the file's run: section
    assert summary(second)["results"] == summary(first)["results"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "stepz=3"], "unknown config key 'stepz'"),
        (["--set", "steps=many"], "wrong type for config key 'steps'"),
        (["--set", "lr=-1"], "lr must be positive"),
        (["--set", "steps"], "must look like key=value"),
        (["--config", "missing.yaml"], "does not exist"),
        (["--device", "cuda:7"], "cuda"),
        (["--device", "tpu"], "unknown device 'tpu'"),
    ],
)
def test_usage_errors_exit_2_and_write_nothing(
    tiny: ModuleType, in_tmp: Path, args: list[str], message: str
) -> None:
    if args[:2] == ["--device", "cuda:7"]:
        import torch

        if torch.cuda.device_count() > 7:
            pytest.skip("this machine really has 8 CUDA devices")
    assert_cli_bad_input(tiny.app, ["demo", *args], match=message, exit_code=2, untouched=in_tmp)
    assert not (in_tmp / "runs").exists()


def test_unknown_key_message_lists_valid_keys(tiny: ModuleType, in_tmp: Path) -> None:
    result = invoke(tiny.app, ["demo", *CPU, "--set", "data.nn=3"])
    assert result.exit_code == 2
    assert "did you mean 'data.n'" in result.stderr
    assert "data.noise: float = 0.1" in result.stderr


def test_negative_seed_is_rejected_by_the_option(tiny: ModuleType, in_tmp: Path) -> None:
    assert invoke(tiny.app, ["demo", *CPU, "--seed", "-1"]).exit_code == 2


def test_validate_hook_rejects_before_anything_is_written(tiny: ModuleType, in_tmp: Path) -> None:
    assert_cli_bad_input(
        tiny.app, ["evaluate", "nope.npz", *CPU], match="does not exist", untouched=in_tmp
    )
    assert not (in_tmp / "runs").exists()


def test_verb_without_config_has_no_config_options(tiny: ModuleType) -> None:
    result = invoke(tiny.app, ["predict", "--help"])
    assert result.exit_code == 0
    assert "--config" not in result.stdout
    assert "--set" not in result.stdout
    assert "--seed" in result.stdout


def test_evaluate_reads_a_checkpoint(tiny: ModuleType, tmp_path: Path) -> None:
    trained = tmp_path / "trained"
    assert invoke(tiny.app, ["train", *CPU, "--out", trained]).exit_code == 0
    out = tmp_path / "eval"
    result = invoke(tiny.app, ["evaluate", trained / "checkpoints" / "line.npz", *CPU, "-o", out])
    assert result.exit_code == 0, result.output
    assert summary(out)["results"]["slope"] == pytest.approx(summary(trained)["results"]["slope"])
    assert (out / "plots" / "results.png").is_file()  # numbers without metrics: a bar chart


def test_runtime_error_exits_1_without_traceback_and_leaves_nothing(
    tiny: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "run"
    result = assert_cli_bad_input(
        tiny.app,
        ["predict", tmp_path / "missing.json", *CPU, "--out", out],
        match="FileNotFoundError",
        exit_code=1,
    )
    assert "--debug" in result.stderr
    assert "nothing was written" in result.stderr
    assert not out.exists()


def test_usage_error_raised_inside_a_verb_exits_2(tiny: ModuleType, tmp_path: Path) -> None:
    inputs = tmp_path / "x.json"
    inputs.write_text('{"not": "a list"}', encoding="utf-8")
    out = tmp_path / "run"
    assert_cli_bad_input(
        tiny.app, ["predict", inputs, *CPU, "--out", out], match="JSON list", exit_code=2
    )
    assert not out.exists()


def test_debug_shows_the_traceback(tiny: ModuleType, in_tmp: Path) -> None:
    result = invoke(tiny.app, ["predict", in_tmp / "missing.json", *CPU, "--debug"])
    assert result.exit_code == 1
    assert "Traceback (most recent call last)" in result.stderr
    assert list(in_tmp.iterdir()) == []  # not even an empty runs/ folder is left behind


def test_crash_after_progress_keeps_partial_results(tiny: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = invoke(tiny.app, ["bench", "--fail-after", "3", *CPU, "--out", out])
    assert result.exit_code == 1
    assert "simulated crash at step 3" in result.stderr
    assert "partial results kept" in result.stderr
    data = summary(out)
    assert data["status"] == "failed"
    assert data["error"] == "RuntimeError: simulated crash at step 3"
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 4
    assert check_run_dir(out) == []


def test_interrupt_exits_130_and_marks_the_run(tiny: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = invoke(tiny.app, ["bench", "--interrupt-after", "2", *CPU, "--out", out])
    assert result.exit_code == 130
    assert summary(out)["status"] == "interrupted"


def test_a_verb_must_return_a_mapping(tiny: ModuleType, tmp_path: Path) -> None:
    inputs = tmp_path / "x.json"
    inputs.write_text("[1, 2]", encoding="utf-8")
    result = invoke(tiny.app, ["predict", inputs, "--mode", "broken", *CPU, "-o", tmp_path / "r"])
    assert result.exit_code == 1
    assert "returned list, not a dict" in result.stderr


def test_help_shows_common_options(tiny: ModuleType) -> None:
    result = invoke(tiny.app, ["demo", "--help"])
    assert result.exit_code == 0
    for option in ("--config", "--set", "--out", "--seed", "--device", "--quick", "--debug"):
        assert option in result.stdout


def test_run_is_exposed_to_the_verb(tmp_path: Path) -> None:
    app = DomainApp("probe", help="probe")
    seen: dict[str, object] = {}

    @dataclass
    class Cfg:
        size: int = 2

    @app.verb(config=Cfg)
    def demo(run: Run, tag: str = "x") -> dict:
        seen.update(cfg=run.cfg, seed=run.seed, device=run.device, quick=run.quick, tag=tag)
        run.log(value=1.0)
        return {"size": run.cfg.size}

    @app.verb(config=Cfg)
    def other(run: Run) -> None:
        run.log(value=2.0)

    result = invoke(app, ["demo", "--tag", "y", "--seed", "5", *CPU, "--out", tmp_path / "r"])
    assert result.exit_code == 0, result.output
    assert seen == {"cfg": Cfg(size=2), "seed": 5, "device": "cpu", "quick": False, "tag": "y"}


def test_verb_definition_errors() -> None:
    app = DomainApp("bad", help="bad")

    with pytest.raises(TypeError, match="dataclass"):
        app.verb(config=dict)

    @dataclass
    class WithRun:
        run: int = 1

    with pytest.raises(TypeError, match="field named 'run'"):
        app.verb(config=WithRun)

    with pytest.raises(TypeError, match="reserved option names"):

        @app.verb()
        def clash(run: Run, seed: int = 0) -> None: ...

    with pytest.raises(TypeError, match="Run as its first parameter"):

        @app.verb()
        def no_run() -> None: ...


def test_typer_exit_from_a_verb_passes_through(tmp_path: Path) -> None:
    app = DomainApp("exit", help="exit")

    @app.verb()
    def demo(run: Run) -> None:
        raise typer.Exit(3)

    assert invoke(app, ["demo", *CPU, "--out", tmp_path / "r"]).exit_code == 3
