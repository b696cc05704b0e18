"""The contract classes of entropykit_shared.testing, applied to the tiny test app.

This is how every domain's tests use them; it also proves the contracts pass a correct app and
catch a broken one.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from entropykit import DomainApp, Run
from entropykit_shared.testing import AppContract, DeterminismContract, invoke

from .conftest import load_tiny

tiny_app = load_tiny().app


class TestTinyAppContract(AppContract):
    app = tiny_app
    domain = "tiny"


class TestTinyAppDeterminism(DeterminismContract):
    app = tiny_app


# A broken app: its demo writes no results and its randomness ignores the seed.
broken = DomainApp("broken", help="an app that breaks the contracts")
_calls = {"n": 0}


@broken.verb()
def demo(run: Run) -> dict:
    _calls["n"] += 1
    run.log(value=float(_calls["n"]))
    return {"draw": _calls["n"]}


@broken.verb()
def train(run: Run) -> None:
    """Present so that the app has more than one verb."""


def test_contract_catches_missing_verbs() -> None:
    class Contract(AppContract):
        app = broken

    with pytest.raises(AssertionError, match="does not list"):
        Contract().test_help_lists_every_verb()


def test_determinism_contract_catches_unseeded_results(tmp_path: Path) -> None:
    class Contract(DeterminismContract):
        app = broken

    with pytest.raises(AssertionError, match="results differ"):
        Contract().test_same_seed_same_results(tmp_path)


def test_summary_contract_checks_the_domain(tmp_path: Path) -> None:
    class Contract(AppContract):
        app = tiny_app
        domain = "not-tiny"

    out = tmp_path / "run"
    assert invoke(tiny_app, Contract.demo_command(out)).exit_code == 0
    with pytest.raises(AssertionError):
        Contract().test_demo_summary_reports_success(out)
