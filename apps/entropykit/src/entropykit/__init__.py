"""entropykit: the app framework every domain app is built with, and the umbrella command.

Public API (imported on first use, so that start-up stays light)::

    from entropykit import DomainApp, Run, UsageError, load_config, Report, RunDir

See docs/adding-a-domain.md for how a domain app uses it.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("entropykit")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

_EXPORTS = {
    "DomainApp": "entropykit.app",
    "Run": "entropykit.app",
    "UsageError": "entropykit.errors",
    "ConfigError": "entropykit.errors",
    "load_config": "entropykit.config",
    "describe_keys": "entropykit.config",
    "RunDir": "entropykit.rundir",
    "MetricsLogger": "entropykit.records",
    "capture_env": "entropykit.records",
    "Report": "entropykit.report",
    "Link": "entropykit.report",
    "save_figure": "entropykit.plots",
    "pyplot": "entropykit.plots",
    "installed_apps": "entropykit.discovery",
}

__all__ = [
    "ConfigError",
    "DomainApp",
    "Link",
    "MetricsLogger",
    "Report",
    "Run",
    "RunDir",
    "UsageError",
    "__version__",
    "capture_env",
    "describe_keys",
    "installed_apps",
    "load_config",
    "pyplot",
    "save_figure",
]

if TYPE_CHECKING:
    from entropykit.app import DomainApp, Run
    from entropykit.config import describe_keys, load_config
    from entropykit.discovery import installed_apps
    from entropykit.errors import ConfigError, UsageError
    from entropykit.plots import pyplot, save_figure
    from entropykit.records import MetricsLogger, capture_env
    from entropykit.report import Link, Report
    from entropykit.rundir import RunDir


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'entropykit' has no attribute {name!r}")
