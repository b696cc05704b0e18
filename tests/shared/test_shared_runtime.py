"""Tests for entropykit_shared.runtime: seeding, device resolution and the Fabric factory."""

from __future__ import annotations

import math
import os
import random

import numpy as np
import pytest
import torch

from entropykit_shared.runtime import (
    DEVICE_CHOICES,
    FabricConfig,
    _parse_devices,
    fabric_from_config,
    make_fabric,
    resolve_device,
    seed_everything,
)


@pytest.fixture(autouse=True)
def _clean_seed_env(monkeypatch):
    """seed_everything writes PL_GLOBAL_SEED (and CUBLAS_WORKSPACE_CONFIG when deterministic).

    setenv records the original state (set or not) so that undo restores it; the delenv that
    follows leaves the variable absent for the test itself.
    """
    for name in ("PL_GLOBAL_SEED", "CUBLAS_WORKSPACE_CONFIG"):
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)


def _draws():
    return (
        [random.random() for _ in range(5)],
        np.random.rand(5).tolist(),  # noqa: NPY002 - the global generator is what is seeded
        torch.rand(5).tolist(),
    )


# --- seed_everything ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 7, 2**32 - 1])
def test_seed_everything_returns_the_seed(seed):
    assert seed_everything(seed) == seed


def test_same_seed_gives_identical_draws():
    seed_everything(123)
    first = _draws()
    seed_everything(123)
    second = _draws()
    assert first == second


def test_different_seed_gives_different_draws():
    seed_everything(1)
    first = _draws()
    seed_everything(2)
    second = _draws()
    for a, b in zip(first, second, strict=True):
        assert a != b


def test_none_draws_a_seed_that_reproduces_the_run():
    seed = seed_everything(None)
    assert isinstance(seed, int)
    assert not isinstance(seed, bool)
    assert 0 <= seed < 2**31
    first = _draws()
    assert seed_everything(seed) == seed
    assert _draws() == first


def test_sets_pl_global_seed():
    assert "PL_GLOBAL_SEED" not in os.environ
    seed_everything(42)
    assert os.environ["PL_GLOBAL_SEED"] == "42"
    seed_everything(43)
    assert os.environ["PL_GLOBAL_SEED"] == "43"


@pytest.mark.parametrize(
    ("seed", "error", "match"),
    [
        (-1, ValueError, r"seed must lie in \[0, 4294967295\], got -1"),
        (2**32, ValueError, r"seed must lie in .*got 4294967296"),
        (True, TypeError, r"seed must be an int or None, got bool"),
        ("3", TypeError, r"seed must be an int or None, got str"),
        (1.5, TypeError, r"seed must be an int or None, got float"),
    ],
)
def test_invalid_seed_is_rejected(seed, error, match):
    with pytest.raises(error, match=match):
        seed_everything(seed)
    assert "PL_GLOBAL_SEED" not in os.environ, "a rejected seed must not be exported"


@pytest.fixture
def _restore_determinism():
    saved = (torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(False)
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = saved


@pytest.mark.usefixtures("_restore_determinism")
def test_deterministic_turns_on_deterministic_algorithms():
    torch.use_deterministic_algorithms(False)
    seed_everything(0)
    assert not torch.are_deterministic_algorithms_enabled()
    seed_everything(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled()
    assert torch.is_deterministic_algorithms_warn_only_enabled()
    assert torch.backends.cudnn.deterministic
    assert not torch.backends.cudnn.benchmark
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


# --- resolve_device ----------------------------------------------------------------------------


def _patch_accelerators(monkeypatch, *, cuda, mps, cuda_count=1):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda_count if cuda else 0)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)


@pytest.mark.parametrize("name", ["cpu", " CPU ", "Cpu"])
def test_resolve_cpu(name):
    assert resolve_device(name) == torch.device("cpu")


def test_auto_falls_back_to_cpu(monkeypatch):
    _patch_accelerators(monkeypatch, cuda=False, mps=False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device() == torch.device("cpu")


def test_auto_prefers_cuda(monkeypatch):
    _patch_accelerators(monkeypatch, cuda=True, mps=True)
    assert resolve_device("auto") == torch.device("cuda")


def test_auto_picks_mps_when_only_mps_is_available(monkeypatch):
    _patch_accelerators(monkeypatch, cuda=False, mps=True)
    assert resolve_device("auto") == torch.device("mps")


def test_cuda_unavailable_is_an_error(monkeypatch):
    _patch_accelerators(monkeypatch, cuda=False, mps=False)
    with pytest.raises(ValueError, match="no CUDA"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="no CUDA"):
        resolve_device("cuda:0")


def test_mps_unavailable_is_an_error(monkeypatch):
    _patch_accelerators(monkeypatch, cuda=False, mps=False)
    with pytest.raises(ValueError, match="MPS is not available"):
        resolve_device("mps")


def test_cuda_index_is_accepted_when_it_exists(monkeypatch):
    _patch_accelerators(monkeypatch, cuda=True, mps=False, cuda_count=2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    assert resolve_device("cuda") == torch.device("cuda")


def test_cuda_index_beyond_device_count_is_an_error(monkeypatch):
    _patch_accelerators(monkeypatch, cuda=True, mps=False, cuda_count=1)
    with pytest.raises(ValueError, match=r"'cuda:3' does not exist: 1 CUDA device"):
        resolve_device("cuda:3")


def test_unknown_device_lists_the_choices():
    with pytest.raises(ValueError, match="unknown device 'tpu'") as info:
        resolve_device("tpu")
    message = str(info.value)
    for choice in DEVICE_CHOICES:
        assert choice in message


@pytest.mark.parametrize("device", [None, 0, torch.device("cpu")])
def test_non_string_device_is_a_type_error(device):
    with pytest.raises(TypeError, match="device must be a string"):
        resolve_device(device)


# --- _parse_devices ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2", 2),
        (" 2 ", 2),
        ("0,1", [0, 1]),
        ("0, 1", [0, 1]),
        ("auto", "auto"),
        (3, 3),
        ([0, 2], [0, 2]),
    ],
)
def test_parse_devices(given, expected):
    result = _parse_devices(given)
    assert result == expected
    assert type(result) is type(expected)


# --- make_fabric / fabric_from_config ----------------------------------------------------------


@pytest.fixture(scope="module")
def cpu_fabric():
    return make_fabric(device="cpu")


def test_make_fabric_on_cpu(cpu_fabric):
    assert cpu_fabric.device.type == "cpu"
    assert cpu_fabric.world_size == 1
    assert cpu_fabric.global_rank == 0


def test_fabric_trains_a_linear_regression(cpu_fabric):
    seed_everything(0)
    true_w = torch.tensor([[2.0], [-1.0], [0.5]])
    x = torch.randn(128, 3)
    y = x @ true_w + 0.3 + 0.01 * torch.randn(128, 1)

    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model, optimizer = cpu_fabric.setup(model, optimizer)
    x, y = cpu_fabric.to_device((x, y))

    losses = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        cpu_fabric.backward(loss)
        optimizer.step()
        losses.append(loss.item())

    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.5 * losses[0], losses


def test_fabric_from_config_64_true():
    from lightning_fabric.plugins.precision.double import DoublePrecision

    fabric = fabric_from_config("cpu", FabricConfig(precision="64-true"))
    assert fabric.device.type == "cpu"
    assert isinstance(fabric._precision, DoublePrecision)

    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model, _ = fabric.setup(model, optimizer)
    assert all(p.dtype == torch.float64 for p in model.parameters())
    # Fabric converts the input to float64 for the forward pass and the output back to the
    # default dtype; the wrapped module itself computes in float64.
    x = torch.randn(4, 3)
    assert model.module(x.double()).dtype == torch.float64
    assert model(x).shape == (4, 1)


def test_finish_fabric_is_a_no_op_for_one_process(cpu_fabric):
    import torch.distributed as dist

    from entropykit_shared import finish_fabric

    finish_fabric(cpu_fabric)
    assert not (dist.is_available() and dist.is_initialized())
    assert cpu_fabric.world_size == 1
