"""``RunDir``: the directory one command writes (schema in :mod:`entropykit_shared.rundir`)."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from entropykit.errors import UsageError
from entropykit.records import dump_json, to_jsonable
from entropykit_shared import rundir as schema

DEFAULT_ROOT = Path("runs")


class RunDirError(UsageError):
    """The run directory cannot be used (not empty, not a directory, not writable)."""


def default_run_path(domain: str, command: str, root: str | Path = DEFAULT_ROOT) -> Path:
    """``<root>/<domain>/<YYYYmmdd-HHMMSS>-<command>``, with ``-2``, ``-3``... on a clash."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / domain / f"{stamp}-{command}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


class RunDir:
    """A run directory. :meth:`create` refuses a non-empty directory, so nothing is overwritten."""

    def __init__(self, path: str | Path, *, created: bool = False) -> None:
        self.path = Path(path)
        #: True when :meth:`create` made the directory (it did not exist before).
        self.created = created
        # Parent folders that create() had to make (runs/, runs/<domain>/), innermost first.
        self._new_parents: list[Path] = []

    @classmethod
    def create(
        cls,
        domain: str,
        command: str,
        out: str | Path | None = None,
        *,
        root: str | Path = DEFAULT_ROOT,
    ) -> RunDir:
        """Make a fresh run directory: ``out`` if given (must be missing or empty), else the
        default path under ``root``. Creates ``checkpoints/`` and ``plots/``."""
        path = Path(out) if out is not None else default_run_path(domain, command, root)
        existed = path.exists()
        new_parents = [p for p in path.parents if not p.exists()]
        if existed:
            if not path.is_dir():
                raise RunDirError(f"--out {path} is a file, not a directory; choose another path")
            if any(path.iterdir()):
                raise RunDirError(
                    f"--out {path} is not empty and runs never overwrite; "
                    "choose a new directory or remove that one"
                )
        try:
            path.mkdir(parents=True, exist_ok=True)
            (path / schema.CHECKPOINTS_DIR).mkdir()
            (path / schema.PLOTS_DIR).mkdir()
        except OSError as exc:
            raise RunDirError(f"cannot create run directory {path}: {exc.strerror}") from None
        run_dir = cls(path, created=not existed)
        run_dir._new_parents = new_parents
        return run_dir

    # Paths of the schema -----------------------------------------------------------------
    @property
    def config_path(self) -> Path:
        return self.path / schema.CONFIG_FILE

    @property
    def env_path(self) -> Path:
        return self.path / schema.ENV_FILE

    @property
    def metrics_path(self) -> Path:
        return self.path / schema.METRICS_FILE

    @property
    def summary_path(self) -> Path:
        return self.path / schema.SUMMARY_FILE

    @property
    def checkpoints(self) -> Path:
        return self.path / schema.CHECKPOINTS_DIR

    @property
    def plots(self) -> Path:
        return self.path / schema.PLOTS_DIR

    @property
    def report_md(self) -> Path:
        return self.path / schema.REPORT_MD

    @property
    def report_html(self) -> Path:
        return self.path / schema.REPORT_HTML

    # Writers -------------------------------------------------------------------------------
    def write_config(self, config: dict[str, Any], run_section: dict[str, Any]) -> None:
        """``config.yaml``: the resolved library config plus the reserved ``run:`` section."""
        import yaml

        data: dict[str, Any] = {"run": to_jsonable(run_section)}
        data.update(to_jsonable(config))
        self.config_path.write_text(
            yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )

    def write_env(self, env: dict[str, Any]) -> None:
        dump_json(env, self.env_path)

    def write_summary(self, summary: dict[str, Any]) -> None:
        dump_json(summary, self.summary_path)

    def holds_only_startup_files(self) -> bool:
        """True while nothing but the files written at start exists (the metrics log empty)."""
        startup = {schema.CONFIG_FILE, schema.ENV_FILE, schema.METRICS_FILE}
        for entry in self.path.iterdir():
            if entry.name in (schema.CHECKPOINTS_DIR, schema.PLOTS_DIR):
                if any(entry.iterdir()):
                    return False
            elif entry.name not in startup:
                return False
        return not (self.metrics_path.exists() and self.metrics_path.stat().st_size > 0)

    def discard(self) -> None:
        """Remove what this run wrote: the whole directory if :meth:`create` made it (and the
        parent folders it made, while they are empty), else its contents (the directory was empty
        before)."""
        if self.created:
            shutil.rmtree(self.path, ignore_errors=True)
            for parent in self._new_parents:  # only while empty: another run may use them now
                try:
                    parent.rmdir()
                except OSError:
                    break
        else:
            for entry in self.path.iterdir():
                if entry.is_dir():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)
