"""Fixtures for the app-framework tests: the test-only ``tiny`` app and its registration.

The tiny app (fixtures/ek_tiny_app.py) is registered under the ``entropykit.apps`` entry-point
group by writing a ``.dist-info`` folder into a temporary directory on ``sys.path`` (and on
``PYTHONPATH`` for subprocesses), exactly as an installed wheel would be found.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

FIXTURES = Path(__file__).parent / "fixtures"

METADATA = """Metadata-Version: 2.1
Name: {dist}
Version: 0.1.0
Summary: {summary}
"""


def register_app(site: Path, name: str, target: str, summary: str) -> Path:
    """Write a minimal installed distribution that declares one entropykit app."""
    dist = f"entropykit-{name.replace('_', '-')}-app"
    info = site / f"{dist.replace('-', '_')}-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(METADATA.format(dist=dist, summary=summary), encoding="utf-8")
    (info / "entry_points.txt").write_text(
        f"[entropykit.apps]\n{name} = {target}\n\n"
        f"[console_scripts]\nentropykit-{name.replace('_', '-')} = {target}\n",
        encoding="utf-8",
    )
    return info


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty 'site-packages' on sys.path and PYTHONPATH, with the fixtures folder importable."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.syspath_prepend(str(root))
    parts = [str(root), str(FIXTURES), os.environ.get("PYTHONPATH", "")]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in parts if p))
    return root


@pytest.fixture
def tiny_installed(site: Path) -> Path:
    """The tiny app installed as domain ``tiny``."""
    register_app(site, "tiny", "ek_tiny_app:app", "Tiny test-only app: a line fitted by SGD.")
    return site


@pytest.fixture
def no_apps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend no domain app is installed (whatever the workspace has)."""
    import entropykit.cli

    monkeypatch.setattr(entropykit.cli, "installed_apps", lambda: [])


def load_tiny() -> ModuleType:
    """Import fixtures/ek_tiny_app.py once (by path, without touching sys.path)."""
    if "ek_tiny_app" not in sys.modules:
        spec = importlib.util.spec_from_file_location("ek_tiny_app", FIXTURES / "ek_tiny_app.py")
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["ek_tiny_app"] = module
        spec.loader.exec_module(module)
    return sys.modules["ek_tiny_app"]


@pytest.fixture
def tiny() -> ModuleType:
    """The tiny app's module (``tiny.app`` is its DomainApp)."""
    return load_tiny()


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in an empty working directory (default run directories land under it)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work
