"""Contract tests and helpers that every domain's tests reuse.

Subclass the contracts in ``tests/<domain>/`` and set the class attributes; pytest collects the
inherited tests (name the subclass ``Test...``)::

    from entropykit_shared.testing import AppContract, DeterminismContract
    from entropykit_anomaly_app.cli import app

    class TestAnomalyApp(AppContract):
        app = app
        domain = "anomaly"

    class TestAnomalyDeterminism(DeterminismContract):
        app = app

Helpers for library tests: :func:`assert_bad_input` (a clear error, nothing written),
:func:`assert_deterministic` (same seed, same output), :func:`assert_same_results`.
Needs pytest and typer (``entropykit-shared[testing]``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest

from entropykit_shared.rundir import SUMMARY_FILE, check_run_dir

VERBS: tuple[str, ...] = ("demo", "train", "evaluate", "predict", "bench")


@pytest.fixture(autouse=True, scope="module")
def one_thread(request: pytest.FixtureRequest) -> Iterator[None]:
    """Autouse fixture for a test folder's ``conftest.py`` (``from entropykit_shared.testing
    import one_thread``): one thread per pool. The tensors in unit tests are small, and on a
    2-core machine the torch (OpenMP) and numpy (OpenBLAS) pools spinning against each other and
    against other processes can turn milliseconds into seconds. Tests marked ``bench`` keep every
    thread."""
    if request.node.get_closest_marker("bench") is not None:
        yield
        return
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1):
            yield
    finally:
        torch.set_num_threads(threads)


def invoke(app: Any, args: Sequence[str]) -> Any:
    """Run a Typer app in-process; returns typer's ``Result`` (exit_code, stdout, stderr)."""
    from typer.testing import CliRunner

    return CliRunner().invoke(app, [str(a) for a in args], catch_exceptions=True)


def run_results(out: str | Path) -> Any:
    """The ``results`` section of a run directory's ``summary.json``."""
    return json.loads((Path(out) / SUMMARY_FILE).read_text(encoding="utf-8"))["results"]


def _close(a: Any, b: Any, rtol: float, atol: float, where: str) -> list[str]:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        problems = []
        if set(a) != set(b):
            problems.append(f"{where or 'root'}: keys differ: {sorted(set(a) ^ set(b))}")
        for key in sorted(set(a) & set(b), key=str):
            problems += _close(a[key], b[key], rtol, atol, f"{where}.{key}" if where else str(key))
        return problems
    if hasattr(a, "detach"):  # torch tensor
        a = a.detach().cpu().numpy()
    if hasattr(b, "detach"):
        b = b.detach().cpu().numpy()
    if hasattr(a, "shape") or hasattr(b, "shape"):
        import numpy as np

        a_arr, b_arr = np.asarray(a), np.asarray(b)
        if a_arr.shape != b_arr.shape:
            return [f"{where}: shapes differ {a_arr.shape} vs {b_arr.shape}"]
        if a_arr.dtype.kind in "fc" or b_arr.dtype.kind in "fc":
            ok = np.allclose(a_arr, b_arr, rtol=rtol, atol=atol, equal_nan=True)
        else:
            ok = bool(np.array_equal(a_arr, b_arr))
        return [] if ok else [f"{where}: arrays differ"]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{where}: lengths differ {len(a)} vs {len(b)}"]
        problems = []
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            problems += _close(x, y, rtol, atol, f"{where}[{i}]")
        return problems
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return [f"{where}: {a!r} vs {b!r}"]
        if math.isnan(a) and math.isnan(b):
            return []
        return [] if math.isclose(a, b, rel_tol=rtol, abs_tol=atol) else [f"{where}: {a} vs {b}"]
    return [] if a == b else [f"{where}: {a!r} vs {b!r}"]


def assert_same_results(a: Any, b: Any, *, rtol: float = 0.0, atol: float = 0.0) -> None:
    """Assert two nested results (dicts, lists, numbers, arrays, tensors) agree within tolerance."""
    problems = _close(a, b, rtol, atol, "")
    assert not problems, "results differ:\n  " + "\n  ".join(problems[:20])


def assert_deterministic(
    fn: Callable[[int], Any], seed: int = 0, *, rtol: float = 0.0, atol: float = 0.0
) -> Any:
    """Call ``fn(seed)`` twice and assert both outputs agree; returns the first output."""
    first = fn(seed)
    second = fn(seed)
    assert_same_results(first, second, rtol=rtol, atol=atol)
    return first


def _snapshot(path: Path) -> dict[str, tuple[bool, int, int]]:
    """Every entry under ``path``: (is a directory, size, modification time in ns)."""
    if not path.exists():
        return {}
    entries = {}
    for entry in path.rglob("*"):
        stat = entry.stat()
        entries[entry.relative_to(path).as_posix()] = (
            entry.is_dir(),
            stat.st_size,
            stat.st_mtime_ns,
        )
    return entries


def _assert_untouched(before: dict[str, tuple[bool, int, int]], path: Path) -> None:
    after = _snapshot(path)
    added = sorted(set(after) - set(before))
    changed = sorted(k for k in set(after) & set(before) if after[k] != before[k])
    removed = sorted(set(before) - set(after))
    changes = {"added": added, "changed": changed, "removed": removed}
    summary = ", ".join(f"{kind} {names}" for kind, names in changes.items() if names)
    assert not summary, f"files were written despite the error under {path}: {summary}"


def assert_bad_input(
    fn: Callable[..., Any],
    *args: Any,
    match: str,
    error: type[BaseException] | tuple[type[BaseException], ...] = ValueError,
    untouched: str | Path | None = None,
    **kwargs: Any,
) -> BaseException:
    """Assert ``fn(*args, **kwargs)`` raises ``error`` whose message matches the regex ``match``.

    Args:
        untouched: a directory whose entries (files and folders, their sizes and modification
            times) must be exactly the same afterwards: nothing half-written.
    """
    before = _snapshot(Path(untouched)) if untouched is not None else {}
    with pytest.raises(error, match=match) as info:
        fn(*args, **kwargs)
    if untouched is not None:
        _assert_untouched(before, Path(untouched))
    return info.value


def assert_cli_bad_input(
    app: Any,
    args: Sequence[str],
    *,
    match: str,
    exit_code: int = 2,
    untouched: str | Path | None = None,
) -> Any:
    """Assert a CLI call fails cleanly: the exit code, a message containing ``match`` (case
    insensitive), no Python traceback, and (optionally) no files written under ``untouched``."""
    before = _snapshot(Path(untouched)) if untouched is not None else {}
    result = invoke(app, args)
    text = result.stdout + result.stderr
    assert result.exit_code == exit_code, (
        f"exit code {result.exit_code}, expected {exit_code}; output:\n{text}"
    )
    assert match.lower() in text.lower(), f"message lacks {match!r}; output:\n{text}"
    assert "Traceback (most recent call last)" not in text, f"traceback shown:\n{text}"
    if untouched is not None:
        _assert_untouched(before, Path(untouched))
    return result


def global_rng_fingerprint() -> tuple[bytes, int]:
    """Key and position of numpy's legacy global generator: compare it before and after a call to
    show that the call left the global random state alone."""
    import numpy as np

    _, key, pos, *_ = np.random.get_state()  # noqa: NPY002 - reading it is the point
    return key.tobytes(), int(pos)


def assert_gradient_matches_central_differences(
    fn: Callable[[Any], Any], x: Any, h: float = 1e-6, *, rtol: float = 1e-5, atol: float = 1e-7
) -> None:
    """Compare the autograd gradient of a scalar ``fn`` at the float64 tensor ``x`` with central
    differences (what ``torch.autograd.gradcheck`` checks for a scalar, without its import cost of
    a few seconds)."""
    import numpy as np
    import torch

    x = x.detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(fn(x), x)
    flat = x.detach().reshape(-1)
    numeric = torch.empty_like(flat)
    for i in range(flat.numel()):
        step = torch.zeros_like(flat)
        step[i] = h
        up = float(fn((flat + step).reshape(x.shape)).detach())
        down = float(fn((flat - step).reshape(x.shape)).detach())
        numeric[i] = (up - down) / (2 * h)
    np.testing.assert_allclose(grad.reshape(-1).numpy(), numeric.numpy(), rtol=rtol, atol=atol)


class AppContract:
    """What every domain app must satisfy. Set ``app`` (the Typer object) and ``domain``.

    ``demo --quick`` runs once per class (class-scoped fixture) and its run directory is checked
    against the schema of :mod:`entropykit_shared.rundir`.
    """

    app: ClassVar[Any] = None
    domain: ClassVar[str] = ""
    verbs: ClassVar[tuple[str, ...]] = VERBS
    #: Extra arguments for the demo run (``--quick --device cpu --seed 0`` are always passed).
    demo_args: ClassVar[tuple[str, ...]] = ()
    seed: ClassVar[int] = 0

    @classmethod
    def demo_command(cls, out: Path) -> list[str]:
        return [
            "demo",
            "--quick",
            "--device",
            "cpu",
            "--seed",
            str(cls.seed),
            "--out",
            str(out),
            *cls.demo_args,
        ]

    @pytest.fixture(scope="class")
    @classmethod
    def demo_run(cls, tmp_path_factory: pytest.TempPathFactory) -> Path:
        assert cls.app is not None, "set the class attribute `app` to the domain's Typer app"
        out = tmp_path_factory.mktemp(f"{cls.domain or 'app'}-demo") / "run"
        result = invoke(cls.app, cls.demo_command(out))
        assert result.exit_code == 0, f"demo --quick failed:\n{result.stdout}\n{result.stderr}"
        return out

    def test_help_lists_every_verb(self) -> None:
        result = invoke(self.app, ["--help"])
        assert result.exit_code == 0, result.stdout + result.stderr
        missing = [v for v in self.verbs if v not in result.stdout]
        assert not missing, f"--help does not list {missing}:\n{result.stdout}"

    def test_demo_writes_valid_run_dir(self, demo_run: Path) -> None:
        problems = check_run_dir(demo_run)
        assert not problems, "run directory does not follow the schema:\n  " + "\n  ".join(problems)

    def test_demo_summary_reports_success(self, demo_run: Path) -> None:
        summary = json.loads((demo_run / SUMMARY_FILE).read_text(encoding="utf-8"))
        assert summary["status"] == "ok"
        assert summary["seed"] == self.seed
        assert summary["command"] == "demo"
        if self.domain:
            assert summary["domain"] == self.domain
        assert summary["results"], "demo produced no results"

    def test_refuses_non_empty_out(self, tmp_path: Path) -> None:
        out = tmp_path / "taken"
        out.mkdir()
        (out / "keep.txt").write_text("user data", encoding="utf-8")
        assert_cli_bad_input(
            self.app, self.demo_command(out), match="not empty", exit_code=2, untouched=out
        )

    def test_unknown_config_key_is_a_usage_error(self, tmp_path: Path) -> None:
        out = tmp_path / "run"
        assert_cli_bad_input(
            self.app,
            [*self.demo_command(out), "--set", "no_such_key_xyz=1"],
            match="no_such_key_xyz",
            exit_code=2,
        )
        assert not out.exists(), "a run directory was created for a rejected command"


class DeterminismContract:
    """Same seed, same ``summary.json`` results: runs ``demo --quick`` twice. Set ``app``."""

    app: ClassVar[Any] = None
    demo_args: ClassVar[tuple[str, ...]] = ()
    seed: ClassVar[int] = 0
    rtol: ClassVar[float] = 0.0
    atol: ClassVar[float] = 0.0

    def _results(self, out: Path) -> Any:
        args = ["demo", "--quick", "--device", "cpu", "--seed", str(self.seed), "--out", str(out)]
        result = invoke(self.app, [*args, *self.demo_args])
        assert result.exit_code == 0, result.stdout + result.stderr
        return run_results(out)

    def test_same_seed_same_results(self, tmp_path: Path) -> None:
        first = self._results(tmp_path / "first")
        second = self._results(tmp_path / "second")
        assert_same_results(first, second, rtol=self.rtol, atol=self.atol)
