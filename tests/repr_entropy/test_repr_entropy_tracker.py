"""RepresentationTracker: cadence, determinism, cached X clusters, signal vs noise, bad inputs."""

from __future__ import annotations

import math

import entropykit_repr_entropy.tracker as tracker_module
import pytest
import torch
from entropykit_repr_entropy.tracker import RepresentationTracker, TrackerConfig, mine_estimate
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

N, CLASSES = 240, 4

# well-separated synthetic classes make sklearn's kNN graph disconnected; that is the point here
pytestmark = pytest.mark.filterwarnings("ignore:Graph is not fully connected:UserWarning")


def _labels() -> torch.Tensor:
    return torch.arange(N) % CLASSES


def _signal_inputs(seed: int = 0) -> torch.Tensor:
    """One-hot codes of the labels (scale 3) plus N(0, 0.3^2) noise: Z carries Y."""
    g = torch.Generator().manual_seed(seed)
    return 3.0 * nn.functional.one_hot(_labels(), CLASSES).float() + 0.3 * torch.randn(
        N, CLASSES, generator=g
    )


def _noise_inputs(seed: int = 1) -> torch.Tensor:
    return torch.randn(N, CLASSES, generator=torch.Generator().manual_seed(seed))


def _probe() -> nn.Sequential:
    """Its penultimate representation is its input (the input of the only Linear)."""
    return nn.Sequential(nn.Identity(), nn.Linear(CLASSES, 2))


def _loader(x: torch.Tensor, y: torch.Tensor | None = None, shuffle: bool = False) -> DataLoader:
    data = TensorDataset(x) if y is None else TensorDataset(x, y)
    return DataLoader(data, batch_size=64, shuffle=shuffle)


def _config(**kw) -> TrackerConfig:
    base = {"max_samples": 160, "sigma": 1.0, "n_clusters": 4, "num_repetitions": 3}
    return TrackerConfig(**{**base, **kw})


def _mlp() -> nn.Sequential:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(CLASSES, 16), nn.ReLU(), nn.Linear(16, CLASSES))


def test_cadence_history_logger_in_a_training_loop():
    model, x, y = _mlp(), _signal_inputs(), _labels()
    logged = []
    tracker = RepresentationTracker(
        model,
        _loader(x, y),
        config=_config(every=2, layers=("penultimate", "1")),
        logger=lambda step, metrics: logged.append((step, dict(metrics))),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    results = []
    for epoch in range(6):
        model.train()
        loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        results.append(tracker.on_epoch_end(epoch))
    assert [r is None for r in results] == [False, True, False, True, False, True]
    assert [h["epoch"] for h in tracker.history] == [0, 2, 4]
    assert [step for step, _ in logged] == [0, 2, 4]
    assert logged[1][1] == results[2]
    assert model.training
    expected = {"epoch", "n_samples", "seconds"} | {
        f"{m}/{layer}"
        for m in ("dse", "dsmi_zy", "dsmi_zx", "cse", "csmi_zy", "csmi_zx")
        for layer in ("penultimate", "1")
    }
    assert set(results[0]) == expected
    assert results[0]["n_samples"] == 160
    assert all(math.isfinite(v) for v in results[0].values())
    # CSE of 2 bins per dimension is at most log2(160) bits
    assert 0 < results[0]["cse/penultimate"] <= math.log2(160) + 1e-9
    assert tracker.seconds == pytest.approx(sum(h["seconds"] for h in tracker.history))
    # the weights changed between epochs 0 and 4, so did the representation
    assert results[0]["dse/penultimate"] != results[4]["dse/penultimate"]


def test_same_seed_same_numbers():
    runs = []
    for _ in range(2):
        tracker = RepresentationTracker(
            _mlp(), _loader(_signal_inputs(), _labels()), config=_config()
        )
        runs.append([{k: v for k, v in tracker(e).items() if k != "seconds"} for e in (0, 1)])
    assert runs[0] == runs[1]
    other = RepresentationTracker(
        _mlp(), _loader(_signal_inputs(), _labels()), config=_config(seed=7)
    )
    assert other(0)["dse/penultimate"] != runs[0][0]["dse/penultimate"]


def test_x_clusters_computed_once(monkeypatch):
    calls = []
    real = tracker_module.diffusion_spectral_mutual_information

    def counting(*args, **kwargs):
        calls.append(kwargs.get("return_clusters", False))
        return real(*args, **kwargs)

    monkeypatch.setattr(tracker_module, "diffusion_spectral_mutual_information", counting)
    tracker = RepresentationTracker(
        _mlp(), _loader(_signal_inputs()), config=_config(layers=("penultimate", "0"))
    )
    tracker(0)
    clusters = tracker.x_clusters
    assert clusters.shape == (160,)
    assert len(set(clusters.tolist())) == 4
    tracker(1)
    tracker(2)
    assert tracker.x_clusters is clusters
    # no labels: DSMI(Z; X) only, 2 layers x 3 epochs, clustering requested once
    assert len(calls) == 6
    assert sum(calls) == 1


def test_inputs_for_clusters_define_the_x_partition():
    x = _noise_inputs()
    # X for clustering = the class codes: the spectral clusters recover the 4 classes exactly
    codes = 5.0 * nn.functional.one_hot(_labels(), CLASSES).float()
    tracker = RepresentationTracker(
        _probe(), _loader(x), inputs_for_clusters=codes, config=_config()
    )
    tracker(0)
    y = _labels()[tracker.indices]
    pairs = set(zip(tracker.x_clusters.tolist(), y.tolist(), strict=True))
    assert len(pairs) == 4


def test_dsmi_zy_detects_signal_not_noise():
    cfg = _config(baselines=("cse", "csmi", "ksg", "mine"), mine_epochs=60, mine_lr=1e-2)
    y = _labels()
    signal = RepresentationTracker(_probe(), _loader(_signal_inputs()), labels=y, config=cfg)(0)
    noise = RepresentationTracker(_probe(), _loader(_noise_inputs()), labels=y, config=cfg)(0)
    assert signal["dsmi_zy/penultimate"] > 1.0
    assert abs(noise["dsmi_zy/penultimate"]) < 0.15
    for name in ("ksg_zy", "mine_zy"):
        assert signal[f"{name}/penultimate"] > 0.8
        assert signal[f"{name}/penultimate"] > noise[f"{name}/penultimate"] + 0.5
    # log2(4) = 2 bits is the most information 4 balanced classes can carry (MINE's DV bound on
    # the training sample may exceed it slightly)
    assert signal["ksg_zy/penultimate"] <= 2.0 + 0.1
    assert signal["csmi_zy/penultimate"] <= 2.0 + 1e-9


def test_mine_estimate_keeps_global_rng():
    state = torch.get_rng_state()
    z = _signal_inputs()
    a = mine_estimate(z, _labels().numpy(), epochs=3, batch_size=64, seed=1)
    assert torch.equal(torch.get_rng_state(), state)
    assert a == mine_estimate(z, _labels().numpy(), epochs=3, batch_size=64, seed=1)


def test_labels_of_wrong_length():
    tracker = RepresentationTracker(
        _probe(), _loader(_signal_inputs()), labels=_labels()[:-1], config=_config()
    )
    with pytest.raises(ValueError, match=r"labels has 239 entries but the loader yields 240"):
        tracker(0)


def test_float_labels_rejected():
    with pytest.raises(ValueError, match="integer class ids"):
        RepresentationTracker(_probe(), _signal_inputs(), labels=_labels().float())


def test_inputs_for_clusters_of_wrong_length():
    tracker = RepresentationTracker(
        _probe(), _signal_inputs(), inputs_for_clusters=_noise_inputs()[:10], config=_config()
    )
    with pytest.raises(ValueError, match="inputs_for_clusters has 10 rows"):
        tracker(0)


def test_nan_features_name_the_layer():
    x = _signal_inputs()
    x[5, 1] = float("inf")
    tracker = RepresentationTracker(_probe(), x, config=_config(max_samples=None))
    with pytest.raises(ValueError, match="layer 'penultimate' produced 1 non-finite"):
        tracker(0)


def test_unknown_layer_lists_names():
    tracker = RepresentationTracker(_probe(), _signal_inputs(), config=_config(layers=("fc",)))
    with pytest.raises(ValueError, match=r"no layer 'fc'; available: \['penultimate', '0', '1'\]"):
        tracker(0)


def test_shuffled_loader_is_detected():
    loader = _loader(_signal_inputs(), _labels(), shuffle=True)
    tracker = RepresentationTracker(_probe(), loader, config=_config(zx=False))
    tracker(0)
    with pytest.raises(ValueError, match="shuffle=False"):
        tracker(1)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"every": 0}, "every"),
        ({"max_samples": 1}, "max_samples"),
        ({"sigma": -1.0}, "sigma"),
        ({"sigma": "silverman"}, "sigma must be a positive number or one of"),
        ({"baselines": ("cse", "npeet")}, "baselines"),
        ({"n_clusters": 1}, "n_clusters"),
        ({"layers": ()}, "layers"),
        ({"alpha": 2.0}, "alpha"),
    ],
)
def test_bad_config(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TrackerConfig(**kwargs)


def test_bad_epoch():
    tracker = RepresentationTracker(_probe(), _signal_inputs(), config=_config())
    with pytest.raises(ValueError, match="epoch"):
        tracker(-1)
