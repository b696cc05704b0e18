"""The framework every domain app is built with.

A domain app is a :class:`DomainApp` (a ``typer.Typer``) whose verbs are plain functions taking a
:class:`Run` first::

    app = DomainApp("anomaly", help="INP-Former anomaly detection")

    @app.verb(config=TrainConfig)
    def train(run: Run) -> dict:
        result = train_model(run.cfg, device=run.device, logger=run.metrics)
        run.plot_metrics(["loss"])
        return {"auroc": result.auroc}

Every verb gets the common options ``--config``, ``--set a.b=v`` (repeatable), ``--out``,
``--seed``, ``--device``, ``--quick`` and ``--debug``; its own parameters (typer style) come
first. The framework loads the config, seeds, resolves the device, creates the run directory, writes
``config.yaml``/``env.json``, calls the verb, then writes ``summary.json`` and the reports. Errors
become messages: exit 2 for usage and config errors, 1 for runtime errors, 130 when interrupted;
``--debug`` shows the traceback.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import time
import traceback
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer

from entropykit.config import RUN_SECTION, config_to_dict, load_config, read_run_section
from entropykit.errors import EXIT_INTERRUPTED, EXIT_RUNTIME, EXIT_USAGE, UsageError
from entropykit.plots import numeric_keys, plot_scalars, plot_series, save_figure
from entropykit.records import MetricsLogger, capture_env, to_jsonable
from entropykit.report import Report, flatten
from entropykit.rundir import DEFAULT_ROOT, RunDir

T = TypeVar("T")

# The common options, as typer annotations. Their parameter names are reserved in verbs.
ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="YAML file of config values (a run's config.yaml works too).",
        rich_help_panel="Common options",
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        help="Override one config value, e.g. --set train.lr=0.001 (repeatable).",
        rich_help_panel="Common options",
    ),
]
OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        "-o",
        help="Run directory (default runs/<domain>/<timestamp>-<command>); must be new or empty.",
        rich_help_panel="Common options",
    ),
]
SeedOption = Annotated[
    int | None,
    typer.Option(
        "--seed",
        min=0,
        help="Random seed (default: the config file's run.seed, else 0).",
        rich_help_panel="Common options",
    ),
]
DeviceOption = Annotated[
    str,
    typer.Option(
        "--device",
        help="auto (cuda > mps > cpu), cpu, cuda, cuda:N or mps.",
        rich_help_panel="Common options",
    ),
]
QuickOption = Annotated[
    bool,
    typer.Option(
        "--quick",
        help="Small, fast configuration (the config's quick preset) for a first look or tests.",
        rich_help_panel="Common options",
    ),
]
DebugOption = Annotated[
    bool,
    typer.Option(
        "--debug", help="Show the full traceback on errors.", rich_help_panel="Common options"
    ),
]

_COMMON: dict[str, tuple[Any, Any]] = {
    "config_file": (ConfigOption, None),
    "overrides": (SetOption, None),
    "out": (OutOption, None),
    "seed": (SeedOption, None),
    "device": (DeviceOption, "auto"),
    "quick": (QuickOption, False),
    "debug": (DebugOption, False),
}
_CONFIG_OPTIONS = ("config_file", "overrides")


class Run:
    """Everything a verb needs: the config, seed, device, run directory, logging and plotting."""

    def __init__(
        self,
        *,
        domain: str,
        command: str,
        cfg: Any,
        seed: int,
        device: str,
        quick: bool,
        run_dir: RunDir,
        debug: bool = False,
    ) -> None:
        self.domain = domain
        self.command = command
        #: The library's config dataclass instance (None for verbs without a config).
        self.cfg = cfg
        #: The seed actually used (already applied to Python, NumPy and torch).
        self.seed = seed
        #: The resolved device name: "cpu", "cuda", "cuda:1" or "mps".
        self.device = device
        self.quick = quick
        #: True when --debug was given (show tracebacks, pass it on to sub-commands).
        self.debug = debug
        self.dir = run_dir
        #: Append-only ``metrics.jsonl`` logger; also a ``StepCallback`` for library loops.
        self.metrics = MetricsLogger(run_dir.metrics_path)
        #: The report; the framework adds the results table and every saved plot at the end.
        self.report = Report(f"{domain} {command}")
        self.summary_extra: dict[str, Any] = {}

    @property
    def path(self) -> Path:
        return self.dir.path

    def log(self, step: int | None = None, **metrics: Any) -> None:
        """Record metrics in ``metrics.jsonl``."""
        self.metrics.log(step=step, **metrics)

    def progress(
        self, iterable: Iterable[T], *, desc: str | None = None, total: int | None = None
    ) -> Iterable[T]:
        """A tqdm progress bar on stderr (hidden when stderr is not a terminal)."""
        from tqdm.auto import tqdm

        return tqdm(
            iterable,
            desc=desc or self.command,
            total=total,
            dynamic_ncols=True,
            leave=False,
            disable=None,
            file=sys.stderr,
        )

    def checkpoint_path(self, name: str = "last.pt") -> Path:
        """Where to save a checkpoint of this run."""
        return self.dir.checkpoints / name

    def plot_path(self, name: str) -> Path:
        return self.dir.plots / f"{Path(name).stem}.png"

    def save_plot(self, fig: Any, name: str, caption: str | None = None) -> Path:
        """Save a matplotlib figure as ``plots/<name>.png`` and add it to the report."""
        path = save_figure(fig, self.plot_path(name))
        self.report.figure(path, caption)
        return path

    def plot_metrics(
        self,
        keys: Sequence[str] | None = None,
        *,
        name: str = "metrics",
        x: str = "step",
        caption: str | None = None,
    ) -> Path:
        """Plot logged metrics (all numeric keys by default) against ``x`` into ``plots/``."""
        records = MetricsLogger.read(self.dir.metrics_path)
        keys = list(keys) if keys else numeric_keys(records, skip=("step", "time", x))
        path = plot_series(records, keys, self.plot_path(name), x=x, title=f"{self.domain} {name}")
        self.report.figure(path, caption)
        return path


def _resolve_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception as exc:  # a hint that does not evaluate is a programming error in the app
        raise TypeError(f"cannot resolve the type hints of verb {fn.__name__}: {exc}") from exc


def _print_error(message: str, *, hint: str | None = None) -> None:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    if hint:
        typer.echo(f"hint: {hint}", err=True)


def _group_callback() -> None:
    """Nothing to do before a verb runs."""


class DomainApp(typer.Typer):
    """A domain's command-line app: a ``typer.Typer`` with the :meth:`verb` decorator.

    Register it under the entry-point group ``entropykit.apps`` (name = domain) and as the console
    script ``entropykit-<domain>``; see docs/adding-a-domain.md.
    """

    def __init__(
        self, domain: str, *, help: str, runs_root: str | Path = DEFAULT_ROOT, **kwargs: Any
    ) -> None:
        kwargs.setdefault("no_args_is_help", True)
        kwargs.setdefault("add_completion", False)
        kwargs.setdefault("pretty_exceptions_enable", False)
        kwargs.setdefault("context_settings", {"help_option_names": ["-h", "--help"]})
        super().__init__(name=domain, help=help, **kwargs)
        self.domain = domain
        self.runs_root = Path(runs_root)
        # A group callback keeps `app <verb>` even while an app has a single verb (typer would
        # otherwise make that verb the whole app).
        self.callback()(_group_callback)

    def verb(
        self,
        config: type | None = None,
        *,
        name: str | None = None,
        help: str | None = None,
        validate: Callable[..., None] | None = None,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Register ``fn(run, **own_options) -> results dict | None`` as a command.

        Args:
            config: the library's config dataclass; ``--quick`` uses its ``quick()`` classmethod
                (or staticmethod) when it has one. Without a config the verb has no ``--config``
                and ``--set`` options.
            name: the command name (default: the function name, ``_`` as ``-``).
            help: help text (default: the function's docstring).
            validate: called with the verb's own options before anything is written; raise
                :class:`UsageError` for bad input (exit 2, no run directory), or ``typer.Exit``.
        """
        if config is not None:
            if not (isinstance(config, type) and dataclasses.is_dataclass(config)):
                raise TypeError(f"config must be a dataclass type, got {config!r}")
            if RUN_SECTION in {f.name for f in dataclasses.fields(config)}:
                raise TypeError(f"{config.__name__} may not have a field named '{RUN_SECTION}'")

        def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
            command = name or fn.__name__.replace("_", "-")
            hints = _resolve_hints(fn)
            own = list(inspect.signature(fn).parameters.values())
            if not own:
                raise TypeError(f"verb {fn.__name__} must take the Run as its first parameter")
            own = own[1:]
            clash = [p.name for p in own if p.name in _COMMON]
            if clash:
                raise TypeError(f"verb {fn.__name__} reuses reserved option names {clash}")

            params = [
                inspect.Parameter(
                    p.name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=p.default,
                    annotation=hints.get(p.name, p.annotation),
                )
                for p in own
            ]
            params += [
                inspect.Parameter(n, inspect.Parameter.KEYWORD_ONLY, default=d, annotation=a)
                for n, (a, d) in _COMMON.items()
                if config is not None or n not in _CONFIG_OPTIONS
            ]

            def command_callback(**kwargs: Any) -> None:
                common = {n: kwargs.pop(n, None) for n in _COMMON}
                if validate is not None:
                    try:
                        validate(**kwargs)
                    except UsageError as exc:
                        _print_error(str(exc))
                        raise typer.Exit(EXIT_USAGE) from None
                self._execute(command, config, fn, common, kwargs)

            command_callback.__name__ = fn.__name__
            command_callback.__qualname__ = fn.__qualname__
            command_callback.__module__ = fn.__module__
            command_callback.__doc__ = fn.__doc__
            command_callback.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
            command_callback.__annotations__ = {p.name: p.annotation for p in params}
            self.command(name=command, help=help or inspect.getdoc(fn))(command_callback)
            return fn

        return decorate

    # The life of one command -----------------------------------------------------------------
    def _prepare(self, command: str, config_cls: type | None, common: dict[str, Any]) -> Run:
        from entropykit_shared import resolve_device, seed_everything

        config_file = common["config_file"]
        overrides = common["overrides"] or []
        if config_cls is None:
            cfg = None
        else:
            base = None
            if common["quick"] and hasattr(config_cls, "quick"):
                base = config_cls.quick()
            cfg = load_config(config_cls, config_file, overrides, base=base)

        seed = common["seed"]
        if seed is None:
            seed = read_run_section(config_file).get("seed", 0)
            if not isinstance(seed, int) or isinstance(seed, bool):
                raise UsageError(f"run.seed in {config_file} must be an integer, got {seed!r}")
        try:
            device = str(resolve_device(common["device"]))
            seed = seed_everything(seed)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

        run_dir = RunDir.create(self.domain, command, common["out"], root=self.runs_root)
        run = Run(
            domain=self.domain,
            command=command,
            cfg=cfg,
            seed=seed,
            device=device,
            quick=bool(common["quick"]),
            run_dir=run_dir,
            debug=bool(common["debug"]),
        )
        run_section = {
            "domain": self.domain,
            "command": command,
            "seed": seed,
            "device": device,
            "quick": bool(common["quick"]),
        }
        run_dir.write_config(config_to_dict(cfg), run_section)
        run_dir.write_env(capture_env(device=device, seed=seed))
        return run

    def _execute(
        self,
        command: str,
        config_cls: type | None,
        fn: Callable[..., Any],
        common: dict[str, Any],
        own: dict[str, Any],
    ) -> None:
        debug = common["debug"]
        try:
            run = self._prepare(command, config_cls, common)
        except UsageError as exc:
            if debug:
                traceback.print_exc()
            _print_error(str(exc))
            raise typer.Exit(EXIT_USAGE) from None

        typer.echo(f"run directory: {run.path}", err=True)
        started = time.perf_counter()
        try:
            results = fn(run, **own)
        except BaseException as exc:
            self._fail(run, exc, started, debug)
        finally:
            run.metrics.close()
        if results is not None and not isinstance(results, Mapping):
            self._fail(
                run,
                TypeError(f"verb '{command}' returned {type(results).__name__}, not a dict"),
                started,
                debug,
            )
        self._finish(run, dict(results or {}), "ok", started)
        typer.echo(f"done: {run.path}", err=True)

    def _finish(
        self, run: Run, results: dict[str, Any], status: str, started: float, **extra: Any
    ) -> None:
        summary = {
            "domain": run.domain,
            "command": run.command,
            "status": status,
            "seed": run.seed,
            "device": run.device,
            "duration_s": round(time.perf_counter() - started, 3),
            "results": to_jsonable(results),
            **run.summary_extra,
            **extra,
        }
        run.dir.write_summary(summary)
        self._ensure_plot(run, results)
        report = Report(run.report.title)
        report.table(
            {"status": status, "seed": run.seed, "device": run.device, **extra},
            title="Run",
        )
        if results:
            report.table(results, title="Results")
        report.blocks += run.report.blocks
        already = {p.resolve() for p in report.figures}
        for png in sorted(run.dir.plots.glob("*.png")):
            if png.resolve() not in already:
                report.figure(png)
        report.heading("Configuration").code(run.dir.config_path.read_text(encoding="utf-8"))
        report.write(run.path)

    def _ensure_plot(self, run: Run, results: Mapping[str, Any]) -> None:
        """Every command that produces numbers shows them: if the verb saved no plot, draw the
        logged metrics, or else the numeric results."""
        if any(run.dir.plots.glob("*.png")):
            return
        records = MetricsLogger.read(run.dir.metrics_path)
        keys = numeric_keys(records, skip=("step", "time"))
        if keys:
            run.plot_metrics(keys[:8])
            return
        scalars = {
            k: float(v)
            for k, v in flatten(to_jsonable(dict(results))).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)
        }
        if scalars:
            plot_scalars(scalars, run.plot_path("results"), title=f"{run.domain} {run.command}")

    def _fail(self, run: Run, exc: BaseException, started: float, debug: bool) -> NoReturn:
        """Record the failure (or remove a run that wrote nothing), print it, exit."""
        run.metrics.close()
        interrupted = isinstance(exc, KeyboardInterrupt)
        if isinstance(exc, typer.Exit | SystemExit):
            raise exc
        usage = isinstance(exc, UsageError)
        if debug:
            traceback.print_exception(exc)
        if run.dir.holds_only_startup_files():
            # Nothing but what the framework wrote at start: leave no half-written directory.
            run.dir.discard()
            where = "nothing was written"
        else:
            status = "interrupted" if interrupted else "failed"
            self._finish(run, {}, status, started, error=f"{type(exc).__name__}: {exc}")
            where = f"partial results kept in {run.path}"
        if interrupted:
            _print_error(f"interrupted; {where}")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        message = str(exc) if usage else f"{type(exc).__name__}: {exc}"
        _print_error(
            f"{message} ({where})",
            hint=None if usage or debug else "rerun with --debug to see the traceback",
        )
        raise typer.Exit(EXIT_USAGE if usage else EXIT_RUNTIME) from None
