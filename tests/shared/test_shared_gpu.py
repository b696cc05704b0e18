"""CUDA paths of the runtime basics. Deselected by default; run with `uv run pytest -m gpu` on a
machine with an NVIDIA GPU."""

from __future__ import annotations

import pytest
import torch

from entropykit_shared import make_fabric, resolve_device, seed_everything

pytestmark = pytest.mark.gpu


def test_auto_resolves_to_cuda() -> None:
    assert resolve_device("auto").type == "cuda"
    assert resolve_device("cuda:0") == torch.device("cuda:0")


def test_seed_reproduces_cuda_draws() -> None:
    seed_everything(5)
    first = torch.rand(4, device="cuda")
    seed_everything(5)
    assert torch.equal(first, torch.rand(4, device="cuda"))


def test_fabric_trains_on_one_gpu() -> None:
    seed_everything(0)
    fabric = make_fabric(device="cuda", devices=1, precision="bf16-mixed")
    model = torch.nn.Linear(8, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    model, optimizer = fabric.setup(model, optimizer)
    x = torch.randn(256, 8, device=fabric.device)
    y = x.sum(dim=1, keepdim=True)
    losses = []
    for _ in range(50):
        loss = ((model(x).float() - y) ** 2).mean()
        optimizer.zero_grad()
        fabric.backward(loss)
        optimizer.step()
        losses.append(loss.item())
    assert fabric.device.type == "cuda"
    assert losses[-1] < 0.2 * losses[0]
