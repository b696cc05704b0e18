"""The umbrella command ``entropykit``: ``list``, ``demo [DOMAIN...]`` and ``<domain> <verb> ...``.

It finds domain apps through entry points and never imports one until asked to run it, so
``entropykit --help`` and ``entropykit list`` start without torch or any domain library.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from entropykit.app import DomainApp, Run, _print_error
from entropykit.discovery import AppInfo, installed_apps
from entropykit.errors import EXIT_RUNTIME, UsageError
from entropykit.plots import pyplot
from entropykit.report import Link

HELP = (
    "entropykit: reference implementations of entropy-driven machine-learning methods.\n\n"
    "Each installed domain is a sub-command with the verbs demo, train, evaluate, predict and "
    "bench: `entropykit <domain> <verb> --help`."
)
NO_APPS = (
    "No entropykit domain apps are installed. Install one with "
    "`uv sync --package entropykit-<domain>-app` (the README lists the domains), "
    "or run `uv sync` at the workspace root for all of them."
)
DomainsArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Domains to run (default: every installed app).", show_default=False),
]


def _pick(domains: list[str] | None) -> list[AppInfo]:
    apps = {info.name: info for info in installed_apps()}
    if not domains:
        return list(apps.values())
    wanted = [d.replace("-", "_") for d in domains]
    unknown = [d for d in wanted if d not in apps]
    if unknown:
        available = ", ".join(apps) or "none"
        raise UsageError(
            f"no installed app for {', '.join(unknown)}; installed: {available}. "
            "Install a domain with `uv sync --package entropykit-<domain>-app`"
        )
    return [apps[d] for d in dict.fromkeys(wanted)]


def _validate_demo(domains: list[str] | None) -> None:
    if not installed_apps():
        typer.echo(NO_APPS)
        raise typer.Exit(0)
    _pick(domains)


def _read_summary(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _headline(results: dict[str, Any], limit: int = 3) -> str:
    """The first few scalar results as ``name=value`` text for the combined table."""
    parts = []
    for key, value in results.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
        if len(parts) == limit:
            break
    return ", ".join(parts)


def demo(run: Run, domains: DomainsArgument = None) -> dict[str, Any]:
    """Run the demo of each named (or every installed) domain, then write one combined report."""
    rows, results = [], {}
    for step, info in enumerate(_pick(domains)):
        out = run.path / info.name
        argv = [sys.executable, "-m", "entropykit", info.name, "demo", "--out", str(out)]
        argv += ["--seed", str(run.seed), "--device", run.device]
        argv += ["--quick"] * run.quick + ["--debug"] * run.debug
        typer.echo(f"== {info.name}: {' '.join(argv[1:])}", err=True)
        started = time.perf_counter()
        code = subprocess.run(argv, check=False).returncode
        seconds = time.perf_counter() - started
        summary = _read_summary(out)
        status = summary.get("status", "failed") if code == 0 else "failed"
        run.log(step=step, domain=info.name, exit_code=code, duration_s=round(seconds, 2))
        results[info.name] = {"status": status, "duration_s": round(seconds, 2)}
        link = Link("report", f"{info.name}/report.html") if (out / "report.html").exists() else ""
        rows.append(
            {
                "domain": info.name,
                "status": status,
                "time (s)": round(seconds, 1),
                "report": link,
                "results": _headline(summary.get("results", {})),
            }
        )
    run.report.table(rows, title="Domains")
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 0.5 * len(rows) + 1.2))
    colors = ["tab:green" if r["status"] == "ok" else "tab:red" for r in rows]
    ax.barh([r["domain"] for r in rows], [r["time (s)"] for r in rows], color=colors)
    ax.invert_yaxis()
    ax.set_xlabel("demo wall time (s); red = failed")
    run.save_plot(fig, "demo_times", caption="Wall time of each domain's demo")
    failed = [name for name, r in results.items() if r["status"] != "ok"]
    run.summary_extra["domains"] = results
    if failed:
        raise RuntimeError(f"the demo failed for {', '.join(failed)}; see {run.path / 'report.md'}")
    return results


def list_apps() -> None:
    """List the installed domain apps and what each implements."""
    apps = installed_apps()
    if not apps:
        typer.echo(NO_APPS)
        return
    width = max(len(a.name) for a in apps)
    for info in apps:
        command = info.script or f"entropykit {info.name}"
        typer.echo(f"{info.name:<{width}}  {command}  ({info.distribution} {info.version})")
        if info.summary:
            typer.echo(f"{'':<{width}}  {info.summary}")


def _add_delegate(app: typer.Typer, info: AppInfo) -> None:
    def delegate(ctx: typer.Context) -> None:
        try:
            domain_app = info.load()
        except RuntimeError as exc:
            _print_error(str(exc))
            raise typer.Exit(EXIT_RUNTIME) from None
        domain_app(args=list(ctx.args), prog_name=f"entropykit {info.name}")

    settings = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
    help_text = info.summary or f"The {info.name} app."
    app.command(name=info.name, help=help_text, context_settings=settings, add_help_option=False)(
        delegate
    )
    if "_" in info.name:  # accept llm-uq as well as llm_uq
        app.command(
            name=info.name.replace("_", "-"),
            hidden=True,
            context_settings=settings,
            add_help_option=False,
        )(delegate)


def build_app() -> DomainApp:
    """The umbrella Typer app, with one sub-command per installed domain app."""
    app = DomainApp("entropykit", help=HELP)
    app.command(name="list")(list_apps)
    app.verb(name="demo", validate=_validate_demo)(demo)
    for info in installed_apps():
        if info.name in ("list", "demo"):
            continue
        _add_delegate(app, info)
    return app


def main() -> None:
    """Console-script entry point."""
    build_app()(prog_name="entropykit")
