"""Tests for entropykit_shared.rundir.check_run_dir on hand-built run directories."""

from __future__ import annotations

import base64
import json

import pytest
from matplotlib.figure import Figure

from entropykit_shared.rundir import (
    REQUIRED_FILES,
    SUMMARY_KEYS,
    check_run_dir,
)

SEED = 7


@pytest.fixture(scope="module")
def png_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("png") / "a.png"
    fig = Figure(figsize=(1, 1), dpi=20)  # no pyplot: no global state, no backend to pick
    fig.add_subplot().plot([0, 1], [1, 0])
    fig.savefig(path, format="png")
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG")
    return data


@pytest.fixture
def run_dir(tmp_path, png_bytes):
    """A run directory that follows the schema."""
    root = tmp_path / "run"
    root.mkdir()
    (root / "config.yaml").write_text(
        "lr: 0.1\n"
        "run:\n"
        "  domain: tiny\n"
        "  command: demo\n"
        f"  seed: {SEED}\n"
        "  device: cpu\n"
        "  quick: true\n",
        encoding="utf-8",
    )
    env = {"python": "3.11.0", "argv": ["ek", "demo"], "packages": {"numpy": "2"}, "device": "cpu"}
    (root / "env.json").write_text(json.dumps(env), encoding="utf-8")
    (root / "metrics.jsonl").write_text(
        json.dumps({"step": 0, "loss": 1.0}) + "\n" + json.dumps({"step": 1, "loss": 0.5}) + "\n",
        encoding="utf-8",
    )
    summary = {
        "domain": "tiny",
        "command": "demo",
        "status": "ok",
        "seed": SEED,
        "duration_s": 0.25,
        "results": {"loss": 0.5},
    }
    (root / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    (root / "checkpoints").mkdir()
    (root / "plots").mkdir()
    (root / "plots" / "a.png").write_bytes(png_bytes)
    (root / "report.md").write_text(
        "# demo\n\n| loss | 0.5 |\n\n![loss](plots/a.png)\n", encoding="utf-8"
    )
    encoded = base64.b64encode(png_bytes).decode("ascii")
    (root / "report.html").write_text(
        "<html><body><h1>demo</h1>"
        '<p>See <a href="https://arxiv.org/abs/1234.5678">the paper</a>.</p>'
        f'<img src="data:image/png;base64,{encoded}" alt="loss">'
        "</body></html>",
        encoding="utf-8",
    )
    return root


def _edit_json(path, change):
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(json.dumps(data), encoding="utf-8")


def _replace(path, old, new):
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_valid_run_dir_has_no_problems(run_dir):
    assert check_run_dir(run_dir) == []
    assert check_run_dir(str(run_dir)) == []


def test_accepts_other_statuses_and_blank_metrics_lines(run_dir):
    _edit_json(run_dir / "summary.json", lambda s: s.update(status="interrupted"))
    with (run_dir / "metrics.jsonl").open("a", encoding="utf-8") as f:
        f.write("\n   \n")
    assert check_run_dir(run_dir) == []


@pytest.mark.parametrize("name", REQUIRED_FILES)
def test_missing_required_file(run_dir, name):
    (run_dir / name).unlink()
    assert f"missing file {name}" in check_run_dir(run_dir)


@pytest.mark.parametrize("name", ["plots", "checkpoints"])
def test_missing_required_dir(run_dir, name):
    for child in (run_dir / name).iterdir():
        child.unlink()
    (run_dir / name).rmdir()
    assert f"missing directory {name}/" in check_run_dir(run_dir)


def test_no_png_is_a_problem_only_when_plots_are_required(run_dir):
    (run_dir / "plots" / "a.png").unlink()
    assert check_run_dir(run_dir) == ["plots/ holds no .png"]
    assert check_run_dir(run_dir, require_plots=False) == []


def test_metrics_line_that_is_not_json(run_dir):
    with (run_dir / "metrics.jsonl").open("a", encoding="utf-8") as f:
        f.write("{not json\n")
    assert check_run_dir(run_dir) == ["metrics.jsonl line 3 is not JSON"]


def test_metrics_line_that_is_not_an_object(run_dir):
    with (run_dir / "metrics.jsonl").open("a", encoding="utf-8") as f:
        f.write("[1, 2]\n")
    assert check_run_dir(run_dir) == ["metrics.jsonl line 3 is not a JSON object"]


@pytest.mark.parametrize("key", SUMMARY_KEYS)
def test_summary_missing_key(run_dir, key):
    _edit_json(run_dir / "summary.json", lambda s: s.pop(key))
    assert check_run_dir(run_dir) == [f"summary.json lacks {key}"]


def test_summary_not_json(run_dir):
    (run_dir / "summary.json").write_text("{", encoding="utf-8")
    problems = check_run_dir(run_dir)
    assert len(problems) == 1
    assert problems[0].startswith("summary.json is not valid JSON")


def test_unknown_status(run_dir):
    _edit_json(run_dir / "summary.json", lambda s: s.update(status="done"))
    assert check_run_dir(run_dir) == ["summary.json has unknown status 'done'"]


def test_seed_mismatch_between_summary_and_config(run_dir):
    _edit_json(run_dir / "summary.json", lambda s: s.update(seed=SEED + 1))
    assert check_run_dir(run_dir) == ["summary.json seed differs from config.yaml run.seed"]


def test_config_without_run_section(run_dir):
    (run_dir / "config.yaml").write_text("lr: 0.1\n", encoding="utf-8")
    assert "config.yaml has no 'run:' section" in check_run_dir(run_dir)


def test_config_run_section_lacks_key(run_dir):
    _replace(run_dir / "config.yaml", "  device: cpu\n", "")
    assert check_run_dir(run_dir) == ["config.yaml 'run:' lacks device"]


def test_config_seed_not_an_integer(run_dir):
    _replace(run_dir / "config.yaml", f"  seed: {SEED}\n", "  seed: seven\n")
    problems = check_run_dir(run_dir)
    assert "config.yaml run.seed is not an integer: 'seven'" in problems


def test_config_not_yaml(run_dir):
    (run_dir / "config.yaml").write_text("run: [unclosed\n", encoding="utf-8")
    problems = check_run_dir(run_dir)
    assert any(p.startswith("config.yaml is not valid YAML") for p in problems), problems


def test_env_lacks_keys(run_dir):
    _edit_json(run_dir / "env.json", lambda e: e.pop("packages"))
    assert check_run_dir(run_dir) == ["env.json lacks python/argv/packages/device"]


def test_html_that_does_not_inline_the_png(run_dir):
    (run_dir / "report.html").write_text(
        '<html><body><img src="plots/a.png"></body></html>', encoding="utf-8"
    )
    assert check_run_dir(run_dir) == ["report.html does not inline plots/a.png"]


def test_html_inlining_another_png_is_not_enough(run_dir, png_bytes):
    (run_dir / "plots" / "b.png").write_bytes(png_bytes + b"\x00extra")
    _replace(
        run_dir / "report.md", "![loss](plots/a.png)", "![loss](plots/a.png) ![b](plots/b.png)"
    )
    assert check_run_dir(run_dir) == ["report.html does not inline plots/b.png"]


@pytest.mark.parametrize(
    "tag",
    [
        '<img src="https://example.org/a.png">',
        "<img src='http://example.org/a.png'>",
        "<img src=https://example.org/a.png>",
        '<script src="//cdn.example.org/x.js"></script>',
        '<link rel="stylesheet" href="https://cdn.example.org/x.css">',
        '<img src = "https://example.org/a.png">',
        '<img srcset="https://example.org/a.png 2x">',
        "<style>body{background:url(https://example.org/bg.png)}</style>",
    ],
)
def test_html_loading_a_remote_resource(run_dir, tag):
    _replace(run_dir / "report.html", "</body>", tag + "</body>")
    assert check_run_dir(run_dir) == [
        "report.html loads a resource from the network; inline it instead"
    ]


def test_html_plain_links_are_fine(run_dir):
    _replace(
        run_dir / "report.html",
        "</body>",
        '<a href="https://example.org/a.png">x</a><a href="http://example.org">y</a></body>',
    )
    assert check_run_dir(run_dir) == []


def test_md_that_does_not_show_the_plot(run_dir):
    _replace(run_dir / "report.md", "![loss](plots/a.png)", "no plot here")
    assert check_run_dir(run_dir) == ["report.md does not show plots/a.png"]


def test_path_that_is_a_file(tmp_path):
    path = tmp_path / "file.txt"
    path.write_text("x", encoding="utf-8")
    problems = check_run_dir(path)
    assert problems == [f"{path} is not a directory"]


def test_path_that_does_not_exist(tmp_path):
    path = tmp_path / "absent"
    assert check_run_dir(path) == [f"{path} is not a directory"]


@pytest.mark.parametrize(
    ("name", "content", "problem"),
    [
        ("config.yaml", "- a\n- b\n", "config.yaml must hold a mapping, not list"),
        ("env.json", "5", "env.json must hold a mapping, not int"),
        ("summary.json", "[1, 2]", "summary.json must hold a mapping, not list"),
    ],
)
def test_files_that_are_not_mappings_are_reported_not_raised(run_dir, name, content, problem):
    (run_dir / name).write_text(content, encoding="utf-8")
    assert problem in check_run_dir(run_dir)


@pytest.mark.parametrize("name", ["metrics.jsonl", "report.html", "report.md", "config.yaml"])
def test_files_that_are_not_utf8_are_reported_not_raised(run_dir, name):
    (run_dir / name).write_bytes(b"\xff\xfe\x00bad")
    problems = check_run_dir(run_dir)
    assert any(p.startswith(f"{name} cannot be read as UTF-8") for p in problems), problems


def test_boolean_seed_is_not_an_integer(run_dir):
    _replace(run_dir / "config.yaml", f"seed: {SEED}", "seed: true")
    assert "config.yaml run.seed is not an integer: True" in check_run_dir(run_dir)
