"""The umbrella command: list, demo [DOMAIN...], delegation, and entry-point discovery."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from entropykit.cli import build_app
from entropykit.discovery import installed_apps
from entropykit_shared.rundir import check_run_dir
from entropykit_shared.testing import invoke

from .conftest import register_app


def run_umbrella(args: list[str]):
    return invoke(build_app(), args)


def test_list_without_apps_says_so_and_exits_0(no_apps: None) -> None:
    result = run_umbrella(["list"])
    assert result.exit_code == 0
    assert "No entropykit domain apps are installed" in result.stdout
    assert "uv sync --package entropykit-<domain>-app" in result.stdout


def test_demo_without_apps_says_so_and_writes_nothing(no_apps: None, in_tmp: Path) -> None:
    result = run_umbrella(["demo"])
    assert result.exit_code == 0, result.output
    assert "No entropykit domain apps are installed" in result.stdout
    assert list(in_tmp.iterdir()) == []


def test_discovery_reads_the_entry_point_metadata(tiny_installed: Path) -> None:
    (info,) = [a for a in installed_apps() if a.name == "tiny"]
    assert info.distribution == "entropykit-tiny-app"
    assert info.version == "0.1.0"
    assert info.summary == "Tiny test-only app: a line fitted by SGD."
    assert info.script == "entropykit-tiny"
    assert info.load() is sys.modules["ek_tiny_app"].app


def test_list_shows_installed_apps(tiny_installed: Path) -> None:
    result = run_umbrella(["list"])
    assert result.exit_code == 0
    assert "tiny" in result.stdout
    assert "entropykit-tiny" in result.stdout
    assert "a line fitted by SGD" in result.stdout


def test_help_lists_domains(tiny_installed: Path) -> None:
    result = run_umbrella(["--help"])
    assert result.exit_code == 0
    for word in ("list", "demo", "tiny", "a line fitted by SGD"):
        assert word in result.stdout


def test_delegation_runs_the_domain_verb(tiny_installed: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = run_umbrella(["tiny", "demo", "--quick", "--device", "cpu", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert check_run_dir(out) == []


def test_delegation_passes_help_and_errors_through(tiny_installed: Path, in_tmp: Path) -> None:
    result = run_umbrella(["tiny", "--help"])
    assert result.exit_code == 0
    assert "demo" in result.stdout
    assert "bench" in result.stdout
    assert "entropykit tiny" in result.stdout  # program name as the user typed it
    bad = run_umbrella(["tiny", "demo", "--set", "nope=1", "--device", "cpu"])
    assert bad.exit_code == 2
    assert "unknown config key 'nope'" in bad.stderr


def test_underscore_domains_also_answer_to_dashes(site: Path, tmp_path: Path) -> None:
    register_app(site, "tiny_line", "ek_tiny_app:app", "Tiny app under a two-word name.")
    result = run_umbrella(["tiny-line", "--help"])
    assert result.exit_code == 0, result.output
    assert "demo" in result.stdout


def test_broken_app_fails_cleanly(site: Path) -> None:
    register_app(site, "ghost", "no_such_module_xyz:app", "An app whose code is missing.")
    result = run_umbrella(["ghost", "demo"])
    assert result.exit_code == 1
    assert "failed to load" in result.stderr
    assert "uv sync --package entropykit-ghost-app" in result.stderr


def test_demo_rejects_unknown_domains(tiny_installed: Path, in_tmp: Path) -> None:
    result = run_umbrella(["demo", "nonexistent"])
    assert result.exit_code == 2
    assert "no installed app for nonexistent" in result.stderr
    assert "installed: " in result.stderr
    assert "tiny" in result.stderr.split("installed: ")[1]
    assert list(in_tmp.iterdir()) == []


def test_combined_demo_runs_each_domain_and_links_reports(site: Path, tmp_path: Path) -> None:
    register_app(site, "tiny", "ek_tiny_app:app", "Tiny test-only app.")
    register_app(site, "ghost", "no_such_module_xyz:app", "An app whose code is missing.")
    out = tmp_path / "all"
    args = ["demo", "tiny", "ghost", "--quick", "--device", "cpu", "--seed", "2", "--out", str(out)]
    result = run_umbrella(args)
    # one domain failed: the command fails, but the combined report is still written
    assert result.exit_code == 1, result.output
    assert "the demo failed for ghost" in result.stderr
    assert check_run_dir(out) == []
    assert check_run_dir(out / "tiny") == []
    tiny_summary = json.loads((out / "tiny" / "summary.json").read_text(encoding="utf-8"))
    assert tiny_summary["seed"] == 2
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["status"] == "failed"
    assert summary["domains"]["tiny"]["status"] == "ok"
    assert summary["domains"]["ghost"]["status"] == "failed"
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "[report](tiny/report.html)" in md
    assert "final_loss=" in md
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<a href="tiny/report.html">report</a>' in html


@pytest.mark.parametrize("args", [["--help"], ["list"]])
def test_python_dash_m_entry_point(args: list[str], tiny_installed: Path) -> None:
    import subprocess

    proc = subprocess.run(
        [sys.executable, "-m", "entropykit", *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "tiny" in proc.stdout
