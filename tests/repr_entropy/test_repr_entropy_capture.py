"""Hook-based representation capture: layer resolution, shapes, subsampling, bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from entropykit_repr_entropy.capture import (
    FeatureCapture,
    capture,
    layer_names,
    penultimate_layer,
    subset_indices,
)
from torch import nn
from torch.utils.data import DataLoader, TensorDataset


def _mlp() -> nn.Sequential:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Linear(6, 16),
            nn.ReLU(),
            nn.Linear(16, 8),
            nn.Tanh(),
            nn.Dropout(0.5),
            nn.Linear(8, 3),
        )


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(2)
        self.fc1 = nn.Linear(16, 12)
        self.bn = nn.BatchNorm1d(12)
        self.fc2 = nn.Linear(12, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.pool(torch.relu(self.conv(x))).flatten(1)
        return self.fc2(torch.relu(self.bn(self.fc1(h))))


def _cnn() -> SmallCNN:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        return SmallCNN()


def _assert_close(a: torch.Tensor, b: torch.Tensor, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    # torch.testing.assert_close pays seconds of imports on its first call
    assert a.shape == b.shape
    assert torch.allclose(a, b.to(a.dtype), rtol=rtol, atol=atol)


def _data(n: int, *shape: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(2)
    return torch.randn(n, *shape, generator=g), torch.arange(n)


def test_mlp_penultimate_is_input_of_last_linear():
    model = _mlp()
    x, y = _data(50, 6)
    assert penultimate_layer(model) == "5"
    cap = capture(model, DataLoader(TensorDataset(x, y), batch_size=16), batch_size=7)
    model.eval()
    expected = model[:5](x)
    assert cap.features["penultimate"].shape == (50, 8)
    assert cap.features["penultimate"].dtype == torch.float32
    _assert_close(cap.features["penultimate"], expected.detach())
    assert torch.equal(cap.labels, y)
    assert torch.equal(cap.indices, torch.arange(50))
    assert cap.n_total == 50


def test_cnn_layers_flattened_and_penultimate():
    model = _cnn()
    x, _ = _data(20, 1, 6, 6)
    assert penultimate_layer(model) == "fc2"
    assert layer_names(model) == ["conv", "pool", "fc1", "bn", "fc2"]
    cap = capture(model, x, ["conv", "penultimate"], batch_size=8, return_inputs=True)
    model.eval()
    conv = model.conv(x)
    h = torch.relu(model.bn(model.fc1(model.pool(torch.relu(conv)).flatten(1))))
    assert cap.features["conv"].shape == (20, 4 * 6 * 6)
    _assert_close(cap.features["conv"], conv.detach().reshape(20, -1))
    _assert_close(cap.features["penultimate"], h.detach())
    _assert_close(cap.inputs, x.reshape(20, -1))
    assert cap.labels is None


@pytest.mark.parametrize(
    ("name", "kwargs", "dim", "head"),
    [("test_vit", {"img_size": 32}, 64, "head"), ("test_resnet", {}, 96, "fc")],
)
def test_timm_penultimate_matches_pre_logits(name, kwargs, dim, head):
    timm = pytest.importorskip("timm")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = timm.create_model(name, pretrained=False, num_classes=10, **kwargs)
    x, _ = _data(6, 3, 32, 32)
    assert penultimate_layer(model) == head
    cap = capture(model, x)
    with torch.no_grad():
        model.eval()
        expected = model.forward_head(model.forward_features(x), pre_logits=True)
    assert cap.features["penultimate"].shape == (6, dim)
    _assert_close(cap.features["penultimate"], expected, rtol=1e-4, atol=1e-5)


def test_training_flags_and_grad_mode_restored():
    model = _cnn()
    model.train()
    model.bn.eval()  # a frozen BatchNorm must stay frozen
    before = [m.training for m in model.modules()]
    capture(model, _data(10, 1, 6, 6)[0])
    assert [m.training for m in model.modules()] == before
    assert torch.is_grad_enabled()
    assert not model.conv._forward_hooks
    assert not model.fc2._forward_pre_hooks


def test_subsample_deterministic_and_aligned():
    model = _mlp()
    x, y = _data(100, 6)
    loader = DataLoader(TensorDataset(x, y), batch_size=32)
    a = capture(model, loader, max_samples=20, seed=3)
    b = capture(model, loader, max_samples=20, seed=3)
    c = capture(model, loader, max_samples=20, seed=4)
    assert a.indices.shape == (20,)
    assert torch.equal(a.indices, b.indices)
    assert not torch.equal(a.indices, c.indices)
    assert torch.equal(a.indices, torch.as_tensor(subset_indices(100, 20, 3)))
    assert bool((a.indices[1:] > a.indices[:-1]).all())
    assert torch.equal(a.labels, a.indices)  # label i belongs to row i
    model.eval()
    _assert_close(a.features["penultimate"], model[:5](x[a.indices]).detach())
    # unknown length (a plain list of batches): every row forwarded, same subset at the end
    d = capture(
        model, [(x[i : i + 30], y[i : i + 30]) for i in range(0, 100, 30)], max_samples=20, seed=3
    )
    assert torch.equal(d.indices, a.indices)
    assert torch.equal(d.labels, a.labels)
    _assert_close(d.features["penultimate"], a.features["penultimate"])


def test_global_rng_untouched():
    torch_state = torch.get_rng_state()
    np_state = np.random.get_state()[1].copy()  # noqa: NPY002 (the global state must not move)
    capture(_mlp(), _data(40, 6)[0], max_samples=10, seed=5)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], np_state)  # noqa: NPY002


def test_feature_capture_context_manager():
    model = _mlp().eval()
    x, _ = _data(4, 6)
    with FeatureCapture(model, ["1", "penultimate"]) as cap, torch.no_grad():
        model(x)
        feats = cap.pop()
        assert set(feats) == {"1", "penultimate"}
        _assert_close(feats["1"], torch.relu(model[0](x)))
        model(x)
        with pytest.raises(ValueError, match="more than once"):
            model(x)  # the previous forward was not popped
    assert not model[1]._forward_hooks
    assert not model[5]._forward_pre_hooks


def test_unknown_layer_lists_available_names():
    with pytest.raises(ValueError, match=r"no layer 'fc9'.*'penultimate'.*'conv'.*'fc2'"):
        capture(_cnn(), _data(4, 1, 6, 6)[0], ["fc9"])


def test_no_classifier_means_no_penultimate():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    with pytest.raises(ValueError, match=r"pass layer names explicitly.*'0', '1'"):
        penultimate_layer(model)


def test_nan_features_name_the_layer():
    x, _ = _data(12, 6)
    x[3, 0] = float("nan")
    with pytest.raises(ValueError, match=r"layer 'penultimate' produced .*NaN/inf.* 1 of 12"):
        capture(_mlp(), x)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_samples": 1}, "max_samples"),
        ({"batch_size": 0}, "batch_size"),
        ({"layers": []}, "non-empty"),
        ({"layers": ["0", "0"]}, "duplicates"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        capture(_mlp(), _data(8, 6)[0], **kwargs)


def test_bad_batches():
    model = _mlp()
    x, y = _data(8, 6)
    with pytest.raises(ValueError, match="one label per input"):
        capture(model, [(x, y[:5])])
    with pytest.raises(ValueError, match="first item is the input tensor"):
        capture(model, [{"x": x}])
    with pytest.raises(ValueError, match="no samples"):
        capture(model, [])
    with pytest.raises(ValueError, match="some batches carry labels"):
        capture(model, [(x, y), x])
