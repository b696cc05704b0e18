"""The run-directory schema every entropykit command writes, and a checker for it.

One schema for all domains (``runs/<domain>/<YYYYmmdd-HHMMSS>-<command>/``)::

    config.yaml     the resolved configuration; its ``run:`` section holds the seed actually used,
                    the device, the domain and the command
    env.json        versions, device, command line
    metrics.jsonl   one JSON object per logged step
    summary.json    {"domain", "command", "status", "seed", "duration_s", "results": {...}}
    checkpoints/    model files (may be empty for commands that train nothing)
    plots/*.png     every command that produces numbers also draws them
    report.md       the summary table and the plots
    report.html     the same, self-contained (plots inlined as base64)

The app framework writes it; :func:`check_run_dir` is what the contract tests validate.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

CONFIG_FILE = "config.yaml"
ENV_FILE = "env.json"
METRICS_FILE = "metrics.jsonl"
SUMMARY_FILE = "summary.json"
REPORT_MD = "report.md"
REPORT_HTML = "report.html"
CHECKPOINTS_DIR = "checkpoints"
PLOTS_DIR = "plots"

REQUIRED_FILES: tuple[str, ...] = (
    CONFIG_FILE,
    ENV_FILE,
    METRICS_FILE,
    SUMMARY_FILE,
    REPORT_MD,
    REPORT_HTML,
)
REQUIRED_DIRS: tuple[str, ...] = (CHECKPOINTS_DIR, PLOTS_DIR)
SUMMARY_KEYS: tuple[str, ...] = ("domain", "command", "status", "seed", "duration_s", "results")
#: Keys of ``config.yaml``'s reserved ``run:`` section.
RUN_SECTION_KEYS: tuple[str, ...] = ("domain", "command", "seed", "device", "quick")
STATUSES: tuple[str, ...] = ("ok", "failed", "interrupted")
# An image, script, stylesheet or CSS url() fetched at view time would make the report depend on the
# network (ordinary <a href> links to papers are fine).
_REMOTE_RESOURCE = re.compile(
    r"""((src|srcset)\s*=\s*|<link[^>]*href\s*=\s*|url\()["']?\s*(https?:)?//""", re.IGNORECASE
)


def _read_text(path: Path, problems: list[str]) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path.name} cannot be read as UTF-8 text: {exc}")
        return None


def _load_mapping(path: Path, problems: list[str]) -> dict[str, Any] | None:
    """Parse a YAML or JSON file that must hold a mapping; report and return None otherwise."""
    import yaml

    text = _read_text(path, problems)
    if text is None:
        return None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix == ".json" else "YAML"
        problems.append(f"{path.name} is not valid {kind}: {exc}")
        return None
    if not isinstance(data, dict):
        problems.append(f"{path.name} must hold a mapping, not {type(data).__name__}")
        return None
    return data


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_run_dir(path: str | Path, *, require_plots: bool = True) -> list[str]:
    """Validate a run directory against the schema.

    Returns:
        A list of problems in plain words; empty when the directory is valid.
    """
    root = Path(path)
    if not root.is_dir():
        return [f"{root} is not a directory"]
    problems: list[str] = []
    for name in REQUIRED_FILES:
        if not (root / name).is_file():
            problems.append(f"missing file {name}")
    for name in REQUIRED_DIRS:
        if not (root / name).is_dir():
            problems.append(f"missing directory {name}/")
    if problems:
        return problems

    run: dict[str, Any] | None = None
    config = _load_mapping(root / CONFIG_FILE, problems)
    if config is not None:
        run = config.get("run") if isinstance(config.get("run"), dict) else None
        if run is None:
            problems.append(f"{CONFIG_FILE} has no 'run:' section")
        else:
            missing = [k for k in RUN_SECTION_KEYS if k not in run]
            if missing:
                problems.append(f"{CONFIG_FILE} 'run:' lacks {', '.join(missing)}")
            elif not _is_int(run["seed"]):
                problems.append(f"{CONFIG_FILE} run.seed is not an integer: {run['seed']!r}")

    env = _load_mapping(root / ENV_FILE, problems)
    if env is not None and not {"python", "argv", "packages", "device"} <= set(env):
        problems.append(f"{ENV_FILE} lacks python/argv/packages/device")

    metrics = _read_text(root / METRICS_FILE, problems)
    for number, line in enumerate((metrics or "").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            problems.append(f"{METRICS_FILE} line {number} is not JSON")
            continue
        if not isinstance(record, dict):
            problems.append(f"{METRICS_FILE} line {number} is not a JSON object")

    summary = _load_mapping(root / SUMMARY_FILE, problems)
    if summary is not None:
        missing = [k for k in SUMMARY_KEYS if k not in summary]
        if missing:
            problems.append(f"{SUMMARY_FILE} lacks {', '.join(missing)}")
        elif summary["status"] not in STATUSES:
            problems.append(f"{SUMMARY_FILE} has unknown status {summary['status']!r}")
        elif run is not None and summary["seed"] != run.get("seed"):
            problems.append(f"{SUMMARY_FILE} seed differs from {CONFIG_FILE} run.seed")

    plots = sorted((root / PLOTS_DIR).glob("*.png"))
    if require_plots and not plots:
        problems.append("plots/ holds no .png")
    html = _read_text(root / REPORT_HTML, problems) or ""
    for plot in plots:
        encoded = base64.b64encode(plot.read_bytes()).decode("ascii")
        if encoded not in html:
            problems.append(f"{REPORT_HTML} does not inline plots/{plot.name}")
    if _REMOTE_RESOURCE.search(html):
        problems.append(f"{REPORT_HTML} loads a resource from the network; inline it instead")
    md = _read_text(root / REPORT_MD, problems) or ""
    for plot in plots:
        if f"{PLOTS_DIR}/{plot.name}" not in md:
            problems.append(f"{REPORT_MD} does not show plots/{plot.name}")
    return problems
