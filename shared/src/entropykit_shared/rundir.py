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
# An image, script or stylesheet fetched at view time would make the report depend on the network
# (ordinary links to papers are fine).
_REMOTE_RESOURCE = re.compile(r"""(src=|<link[^>]*href=)["']?(https?:)?//""", re.IGNORECASE)


def _load_json(path: Path, problems: list[str]) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        problems.append(f"{path.name} is not valid JSON: {exc}")
        return None


def check_run_dir(path: str | Path, *, require_plots: bool = True) -> list[str]:
    """Validate a run directory against the schema.

    Returns:
        A list of problems in plain words; empty when the directory is valid.
    """
    import yaml

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

    try:
        config = yaml.safe_load((root / CONFIG_FILE).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        config = None
        problems.append(f"{CONFIG_FILE} is not valid YAML: {exc}")
    if config is not None:
        run = config.get("run") if isinstance(config, dict) else None
        if not isinstance(run, dict):
            problems.append(f"{CONFIG_FILE} has no 'run:' section")
        else:
            missing = [k for k in RUN_SECTION_KEYS if k not in run]
            if missing:
                problems.append(f"{CONFIG_FILE} 'run:' lacks {', '.join(missing)}")
            elif not isinstance(run["seed"], int):
                problems.append(f"{CONFIG_FILE} run.seed is not an integer: {run['seed']!r}")

    env = _load_json(root / ENV_FILE, problems)
    if env is not None and not {"python", "argv", "packages", "device"} <= set(env):
        problems.append(f"{ENV_FILE} lacks python/argv/packages/device")

    for number, line in enumerate(
        (root / METRICS_FILE).read_text(encoding="utf-8").splitlines(), start=1
    ):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            problems.append(f"{METRICS_FILE} line {number} is not JSON")
            continue
        if not isinstance(record, dict):
            problems.append(f"{METRICS_FILE} line {number} is not a JSON object")

    summary = _load_json(root / SUMMARY_FILE, problems)
    if summary is not None:
        missing = [k for k in SUMMARY_KEYS if k not in summary]
        if missing:
            problems.append(f"{SUMMARY_FILE} lacks {', '.join(missing)}")
        elif summary["status"] not in STATUSES:
            problems.append(f"{SUMMARY_FILE} has unknown status {summary['status']!r}")
        elif (
            config is not None
            and isinstance(config.get("run"), dict)
            and summary["seed"] != config["run"].get("seed")
        ):
            problems.append(f"{SUMMARY_FILE} seed differs from {CONFIG_FILE} run.seed")

    plots = sorted((root / PLOTS_DIR).glob("*.png"))
    if require_plots and not plots:
        problems.append("plots/ holds no .png")
    html = (root / REPORT_HTML).read_text(encoding="utf-8")
    for plot in plots:
        encoded = base64.b64encode(plot.read_bytes()).decode("ascii")
        if encoded not in html:
            problems.append(f"{REPORT_HTML} does not inline plots/{plot.name}")
    if _REMOTE_RESOURCE.search(html):
        problems.append(f"{REPORT_HTML} loads a resource from the network; inline it instead")
    md = (root / REPORT_MD).read_text(encoding="utf-8")
    for plot in plots:
        if f"{PLOTS_DIR}/{plot.name}" not in md:
            problems.append(f"{REPORT_MD} does not show plots/{plot.name}")
    return problems
