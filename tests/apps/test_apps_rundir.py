"""RunDir: the default path, refusal to overwrite, and clean-up of an aborted run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from entropykit.errors import UsageError
from entropykit.rundir import RunDir, RunDirError, default_run_path


def test_default_path_follows_the_schema(tmp_path: Path) -> None:
    run = RunDir.create("anomaly", "train", root=tmp_path / "runs")
    rel = run.path.relative_to(tmp_path / "runs")
    assert rel.parts[0] == "anomaly"
    assert re.fullmatch(r"\d{8}-\d{6}-train", rel.parts[1])
    assert run.checkpoints.is_dir()
    assert run.plots.is_dir()
    assert run.created


def test_clashing_default_paths_get_a_suffix(tmp_path: Path) -> None:
    first = RunDir.create("d", "demo", root=tmp_path)
    second = default_run_path("d", "demo", root=tmp_path)
    if second.name.startswith(first.path.name):  # same second: must not reuse the directory
        assert second != first.path
        assert not second.exists()


def test_refuses_non_empty_directory_and_leaves_it_alone(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(RunDirError, match="not empty") as info:
        RunDir.create("d", "demo", out)
    assert isinstance(info.value, UsageError)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_accepts_existing_empty_directory(tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    run = RunDir.create("d", "demo", out)
    assert run.path == out
    assert not run.created


def test_refuses_a_file(tmp_path: Path) -> None:
    target = tmp_path / "file"
    target.write_text("x", encoding="utf-8")
    with pytest.raises(RunDirError, match="is a file"):
        RunDir.create("d", "demo", target)


def test_write_config_puts_run_section_first(tmp_path: Path) -> None:
    run = RunDir.create("d", "demo", tmp_path / "r")
    run.write_config({"lr": 0.1, "path": tmp_path}, {"seed": 3, "device": "cpu"})
    data = yaml.safe_load(run.config_path.read_text(encoding="utf-8"))
    assert next(iter(data)) == "run"
    assert data == {"run": {"seed": 3, "device": "cpu"}, "lr": 0.1, "path": str(tmp_path)}


def test_startup_only_detection_and_discard(tmp_path: Path) -> None:
    run = RunDir.create("d", "demo", tmp_path / "r")
    run.write_config({}, {"seed": 0})
    run.write_env({"python": "3"})
    run.metrics_path.touch()
    assert run.holds_only_startup_files()
    run.discard()
    assert not run.path.exists()


def test_discard_keeps_a_pre_existing_empty_directory(tmp_path: Path) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    run = RunDir.create("d", "demo", out)
    run.write_config({}, {"seed": 0})
    run.discard()
    assert out.is_dir()
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("produce", ["metrics", "plot", "checkpoint", "other"])
def test_any_output_counts_as_progress(tmp_path: Path, produce: str) -> None:
    run = RunDir.create("d", "demo", tmp_path / "r")
    run.metrics_path.touch()
    target = {
        "metrics": run.metrics_path,
        "plot": run.plots / "a.png",
        "checkpoint": run.checkpoints / "last.pt",
        "other": run.path / "predictions.csv",
    }[produce]
    target.write_text("data\n", encoding="utf-8")
    assert not run.holds_only_startup_files()


def test_discard_removes_parents_it_made_but_not_shared_ones(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    run = RunDir.create("d", "demo", root=root)
    run.discard()
    assert not root.exists()

    first = RunDir.create("d", "demo", root=root)  # makes runs/ and runs/d/
    sibling = RunDir.create("d", "train", root=root)  # another run, meanwhile
    first.discard()
    assert not first.path.exists()
    assert sibling.path.is_dir()  # a sibling run and the folders it needs are never touched
