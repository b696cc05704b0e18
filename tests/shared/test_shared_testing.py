"""Tests for the helpers of entropykit_shared.testing (the contracts are tested elsewhere)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import typer

from entropykit_shared.testing import (
    assert_bad_input,
    assert_cli_bad_input,
    assert_deterministic,
    assert_same_results,
)

# pytest.raises(...) with nothing raised fails the test with this exception (not an AssertionError).
NOT_RAISED = (AssertionError, pytest.fail.Exception)

# --- assert_same_results -----------------------------------------------------------------------


def test_equal_nested_structures_pass():
    a = {"loss": 0.5, "steps": 10, "name": "x", "hist": [1.0, 2.0, {"k": (3, 4)}], "none": None}
    b = {"loss": 0.5, "steps": 10, "name": "x", "hist": [1.0, 2.0, {"k": (3, 4)}], "none": None}
    assert_same_results(a, b)


def test_differing_float_fails_and_names_the_path():
    with pytest.raises(AssertionError, match=r"hist\[1\]: 2\.0 vs 2\.0001"):
        assert_same_results({"hist": [1.0, 2.0]}, {"hist": [1.0, 2.0001]})


def test_differing_int_and_string_fail():
    with pytest.raises(AssertionError, match="steps"):
        assert_same_results({"steps": 10}, {"steps": 11})
    with pytest.raises(AssertionError, match="name"):
        assert_same_results({"name": "a"}, {"name": "b"})


def test_rtol_accepts_a_small_relative_difference():
    assert_same_results({"x": 100.0}, {"x": 100.1}, rtol=1e-2)
    with pytest.raises(AssertionError):
        assert_same_results({"x": 100.0}, {"x": 100.1}, rtol=1e-4)


def test_atol_accepts_a_small_absolute_difference():
    assert_same_results([0.0], [1e-6], atol=1e-5)
    with pytest.raises(AssertionError):
        assert_same_results([0.0], [1e-4], atol=1e-5)


def test_nan_equals_nan():
    assert_same_results({"x": math.nan}, {"x": float("nan")})
    assert_same_results(np.array([1.0, np.nan]), np.array([1.0, np.nan]))


def test_nan_differs_from_a_number():
    with pytest.raises(AssertionError):
        assert_same_results({"x": math.nan}, {"x": 1.0})


def test_numpy_arrays():
    a = np.arange(6, dtype=float).reshape(2, 3)
    assert_same_results(a, a.copy())
    with pytest.raises(AssertionError, match="arrays differ"):
        assert_same_results(a, a + 1e-3)
    assert_same_results(a, a + 1e-9, atol=1e-6)
    assert_same_results(np.arange(3), np.arange(3))
    with pytest.raises(AssertionError, match="arrays differ"):
        assert_same_results(np.arange(3), np.array([0, 1, 3]))


def test_torch_tensors():
    t = torch.linspace(0, 1, 5)
    assert_same_results({"w": t}, {"w": t.clone()})
    assert_same_results(t.requires_grad_(), t.detach().clone())
    with pytest.raises(AssertionError, match="w: arrays differ"):
        assert_same_results({"w": t}, {"w": t + 0.5})


def test_tensor_against_array():
    assert_same_results(torch.tensor([1.0, 2.0]), np.array([1.0, 2.0]))
    with pytest.raises(AssertionError):
        assert_same_results(torch.tensor([1.0, 2.0]), np.array([1.0, 2.5]))


def test_shape_mismatch_fails():
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_same_results(np.zeros((2, 3)), np.zeros((3, 2)))
    with pytest.raises(AssertionError, match="shapes differ"):
        assert_same_results(torch.zeros(4), torch.zeros(4, 1))


def test_list_length_mismatch_fails():
    with pytest.raises(AssertionError, match="lengths differ 2 vs 3"):
        assert_same_results([1, 2], [1, 2, 3])


def test_missing_dict_key_fails():
    with pytest.raises(AssertionError, match=r"keys differ: \['b'\]"):
        assert_same_results({"a": 1, "b": 2}, {"a": 1})
    with pytest.raises(AssertionError, match="keys differ"):
        assert_same_results({"outer": {"a": 1}}, {"outer": {"a": 1, "c": 3}})


def test_type_mismatch_fails():
    with pytest.raises(AssertionError):
        assert_same_results({"x": 1.0}, {"x": "1.0"})
    with pytest.raises(AssertionError):
        assert_same_results({"x": [1]}, {"x": {"0": 1}})


# --- assert_deterministic ----------------------------------------------------------------------


def _seeded(seed):
    rng = np.random.default_rng(seed)
    return {"draws": rng.normal(size=4), "mean": float(rng.normal(size=100).mean())}


def test_seeded_function_is_deterministic_and_its_output_returned():
    out = assert_deterministic(_seeded, seed=3)
    assert_same_results(out, _seeded(3))
    with pytest.raises(AssertionError):
        assert_same_results(out, _seeded(4))


def test_default_seed_is_zero():
    seen = []

    def fn(seed):
        seen.append(seed)
        return seed

    assert assert_deterministic(fn) == 0
    assert seen == [0, 0]


def test_function_with_external_state_fails():
    counter = itertools.count()

    def fn(seed):
        return {"value": seed + next(counter)}

    with pytest.raises(AssertionError, match="value"):
        assert_deterministic(fn, seed=1)


def test_tolerance_is_passed_through():
    counter = itertools.count()

    def fn(seed):
        return [1.0 + 1e-9 * next(counter)]

    assert_deterministic(fn, atol=1e-6)
    with pytest.raises(AssertionError):
        assert_deterministic(fn)


# --- assert_bad_input --------------------------------------------------------------------------


def _check_positive(x, *, name="x"):
    if x <= 0:
        raise ValueError(f"{name} must be positive, got {x}")
    return x


def test_bad_input_passes_and_returns_the_exception():
    exc = assert_bad_input(_check_positive, -1, match="must be positive", name="lr")
    assert isinstance(exc, ValueError)
    assert str(exc) == "lr must be positive, got -1"


def test_bad_input_accepts_other_error_types():
    def fn():
        raise TypeError("expected an int")

    exc = assert_bad_input(fn, match="an int", error=TypeError)
    assert isinstance(exc, TypeError)
    assert_bad_input(fn, match="an int", error=(ValueError, TypeError))


def test_bad_input_fails_when_nothing_is_raised():
    with pytest.raises(NOT_RAISED):
        assert_bad_input(_check_positive, 1, match="must be positive")


def test_bad_input_fails_when_the_message_does_not_match():
    with pytest.raises(NOT_RAISED):
        assert_bad_input(_check_positive, -1, match="must be negative")


def test_bad_input_does_not_swallow_an_unexpected_error_type():
    def fn():
        raise KeyError("boom")

    with pytest.raises(KeyError):
        assert_bad_input(fn, match="boom")


def test_bad_input_untouched_passes_when_nothing_is_written(tmp_path):
    (tmp_path / "existing.txt").write_text("keep", encoding="utf-8")
    assert_bad_input(_check_positive, 0, match="positive", untouched=tmp_path)
    assert_bad_input(_check_positive, 0, match="positive", untouched=str(tmp_path))


def test_bad_input_untouched_fails_when_a_file_was_written(tmp_path):
    out = tmp_path / "out"
    out.mkdir()

    def fn():
        (out / "partial.json").write_text("{", encoding="utf-8")
        raise ValueError("bad config")

    with pytest.raises(AssertionError, match="files were written despite the error"):
        assert_bad_input(fn, match="bad config", untouched=out)


def test_bad_input_untouched_catches_a_directory_created_with_files(tmp_path):
    out = tmp_path / "not-yet"

    def fn():
        (out / "sub").mkdir(parents=True)
        (out / "sub" / "x.txt").write_text("x", encoding="utf-8")
        raise ValueError("bad")

    with pytest.raises(AssertionError, match=r"x\.txt"):
        assert_bad_input(fn, match="bad", untouched=out)


# --- assert_cli_bad_input ----------------------------------------------------------------------

cli = typer.Typer()


@cli.command()
def fit(
    lr: float = typer.Option(0.1),
    out: str = typer.Option(""),
    trace: bool = typer.Option(False),
) -> None:
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write("partial")
    if trace:
        typer.echo("Traceback (most recent call last):\n  boom")
        raise typer.Exit(2)
    if lr <= 0:
        raise typer.BadParameter(f"lr must be positive, got {lr}", param_hint="--lr")
    typer.echo(f"ok {lr}")


def test_cli_bad_input_passes_on_a_clean_usage_error(tmp_path):
    result = assert_cli_bad_input(cli, ["--lr", "-1"], match="MUST BE POSITIVE", untouched=tmp_path)
    assert result.exit_code == 2


def test_cli_bad_input_fails_on_success():
    with pytest.raises(AssertionError, match="exit code 0, expected 2"):
        assert_cli_bad_input(cli, ["--lr", "1"], match="positive")


def test_cli_bad_input_fails_on_another_exit_code():
    with pytest.raises(AssertionError, match="exit code 2, expected 1"):
        assert_cli_bad_input(cli, ["--lr", "-1"], match="positive", exit_code=1)


def test_cli_bad_input_fails_when_the_message_is_missing():
    with pytest.raises(AssertionError, match="message lacks"):
        assert_cli_bad_input(cli, ["--lr", "-1"], match="learning rate too small")


def test_cli_bad_input_fails_when_a_traceback_is_shown():
    with pytest.raises(AssertionError, match="traceback shown"):
        assert_cli_bad_input(cli, ["--trace"], match="boom")


def test_cli_bad_input_fails_when_a_file_was_written(tmp_path):
    with pytest.raises(AssertionError, match="files were written"):
        assert_cli_bad_input(
            cli,
            ["--lr", "-1", "--out", str(tmp_path / "x.txt")],
            match="positive",
            untouched=tmp_path,
        )


def test_bad_input_untouched_catches_an_overwritten_file(tmp_path):
    keep = tmp_path / "keep.txt"
    keep.write_text("original", encoding="utf-8")

    def overwrite_then_fail():
        keep.write_text("half-written and longer", encoding="utf-8")
        raise ValueError("bad input")

    with pytest.raises(AssertionError, match=r"changed \['keep.txt'\]"):
        assert_bad_input(overwrite_then_fail, match="bad input", untouched=tmp_path)


def test_bad_input_untouched_catches_an_empty_directory(tmp_path):
    def mkdir_then_fail():
        (tmp_path / "partial").mkdir()
        raise ValueError("bad input")

    with pytest.raises(AssertionError, match=r"added \['partial'\]"):
        assert_bad_input(mkdir_then_fail, match="bad input", untouched=tmp_path)


def test_gradient_helper_accepts_true_and_rejects_wrong_gradients():
    from entropykit_shared.testing import assert_gradient_matches_central_differences

    x = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    assert_gradient_matches_central_differences(lambda t: (t**3).sum(), x)

    class WrongGrad(torch.autograd.Function):
        @staticmethod
        def forward(ctx, t):
            return (t**2).sum()

        @staticmethod
        def backward(ctx, g):
            return g * torch.ones(3, dtype=torch.float64)  # the true gradient is 2t

    with pytest.raises(AssertionError):
        assert_gradient_matches_central_differences(WrongGrad.apply, x)


def test_global_rng_fingerprint_changes_only_when_the_global_state_is_used():
    from entropykit_shared.testing import global_rng_fingerprint

    before = global_rng_fingerprint()
    np.random.default_rng(0).normal(size=10)  # a private generator
    assert global_rng_fingerprint() == before
    np.random.normal(size=10)  # noqa: NPY002 - the global state, on purpose
    assert global_rng_fingerprint() != before
