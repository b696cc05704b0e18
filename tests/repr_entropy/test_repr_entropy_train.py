"""Models, the NT-Xent loss and the training loop of the training-dynamics study."""

from __future__ import annotations

import itertools
import math
import time

import pytest
import torch
from entropykit_repr_entropy.data import ImageSplit, load_digits_split, permuted_labels
from entropykit_repr_entropy.models import ProjectionHead, SmallCNN, build_model, small_vit
from entropykit_repr_entropy.train import TrainConfig, nt_xent, train, warmup_cosine
from torch import nn

from entropykit_shared.testing import assert_bad_input


@pytest.fixture(scope="module")
def digits() -> ImageSplit:
    return load_digits_split(image_size=16).take(300, 100)


def _smoke(**overrides) -> TrainConfig:
    """Three epochs of a narrow CNN on 300 digits (about 0.1 s)."""
    return TrainConfig.quick(**{"epochs": 3, **overrides})


def _without_timing(history: list[dict[str, float]]) -> list[dict[str, float]]:
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


# --- NT-Xent ------------------------------------------------------------------------------------


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_nt_xent_hand_computed(temperature: float) -> None:
    # Views e1, e2 and their copies: each vector's partner has similarity 1, the two others 0.
    z = torch.eye(2)
    expected = math.log(1.0 + 2.0 * math.exp(-1.0 / temperature))
    assert float(nt_xent(z, z, temperature)) == pytest.approx(expected, rel=1e-6)


def test_nt_xent_matches_the_definition_term_by_term() -> None:
    g = torch.Generator().manual_seed(0)
    z1, z2 = torch.randn(3, 4, generator=g), torch.randn(3, 4, generator=g)
    z = nn.functional.normalize(torch.cat([z1, z2]), dim=1).double()
    terms = []
    for i in range(6):
        partner = (i + 3) % 6
        others = sum(math.exp(float(z[i] @ z[k]) / 0.3) for k in range(6) if k != i)
        terms.append(-float(z[i] @ z[partner]) / 0.3 + math.log(others))
    assert float(nt_xent(z1, z2, 0.3)) == pytest.approx(sum(terms) / 6, rel=1e-5)


def test_nt_xent_lower_for_aligned_views() -> None:
    g = torch.Generator().manual_seed(1)
    z1 = torch.randn(32, 16, generator=g)
    z2 = z1 + 0.1 * torch.randn(32, 16, generator=g)
    aligned = float(nt_xent(z1, z2))
    shuffled = float(nt_xent(z1, z2[torch.randperm(32, generator=g)]))
    assert aligned < shuffled - 1.0
    assert shuffled > math.log(63) - 0.5  # chance level: log(2B - 1)


def test_nt_xent_bad_inputs() -> None:
    z = torch.zeros(4, 3)
    assert_bad_input(nt_xent, z, torch.zeros(4, 2), match="same shape")
    assert_bad_input(nt_xent, z[:1], z[:1], match="at least 2 pairs")
    assert_bad_input(nt_xent, z, z, 0.0, match="temperature")


# --- models -------------------------------------------------------------------------------------


def _last_linear(model: nn.Module) -> nn.Linear:
    return [m for m in model.modules() if isinstance(m, nn.Linear)][-1]


def _input_of_last_linear(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    seen = []
    handle = _last_linear(model).register_forward_pre_hook(lambda _m, args: seen.append(args[0]))
    model(x)
    handle.remove()
    return seen[0]


@pytest.mark.parametrize("name", ["cnn", "vit"])
def test_model_shapes_and_features(name: str) -> None:
    model = build_model(name, num_classes=7, image_size=16).eval()
    x = torch.rand(5, 1, 16, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        logits = model(x)
        z = model.features(x)
        assert logits.shape == (5, 7)
        assert z.shape == (5, 64)
        assert _last_linear(model) is model.classifier is model.get_classifier()
        torch.testing.assert_close(_input_of_last_linear(model, x), z)


def test_cnn_accepts_other_sizes_and_channels() -> None:
    model = SmallCNN(in_channels=3, num_classes=4, width=8, feature_dim=16).eval()
    for size in (8, 32):
        assert model(torch.zeros(2, 3, size, size)).shape == (2, 4)


def test_paper_init_and_conv_init_std() -> None:
    model = SmallCNN(width=32)
    first, second = model.conv[0].weight.detach(), model.conv[4].weight.detach()
    assert float(first.std()) == pytest.approx(math.sqrt(2 / 9), rel=0.15)  # Kaiming, fan-in 9
    assert float(second.std()) == pytest.approx(math.sqrt(2 / (9 * 32)), rel=0.05)
    assert float(model.classifier.weight.detach().std()) == pytest.approx(1e-3, rel=0.1)
    assert float(model.classifier.bias.detach().abs().max()) == 0.0
    for std in (0.01, 0.1):
        conv = SmallCNN(width=32, conv_init_std=std).conv[4].weight.detach()
        assert float(conv.std()) == pytest.approx(std, rel=0.05)
        assert float(conv.mean()) == pytest.approx(0.0, abs=0.1 * std)


def test_build_model_is_seeded_and_leaves_global_rng() -> None:
    state = torch.random.get_rng_state()
    a = build_model("cnn", seed=3, width=8)
    assert torch.random.get_rng_state().equal(state)
    b = build_model("cnn", seed=3, width=8)
    c = build_model("cnn", seed=4, width=8)
    assert a.conv[0].weight.equal(b.conv[0].weight)
    assert not a.conv[0].weight.equal(c.conv[0].weight)


def test_projection_head_shape() -> None:
    head = ProjectionHead(64, out_dim=16).eval()
    assert head(torch.zeros(3, 64)).shape == (3, 16)


def test_model_bad_inputs() -> None:
    assert_bad_input(build_model, "resnet", match="unknown model 'resnet'; choose one of cnn, vit")
    assert_bad_input(build_model, "cnn", depth=3, match="bad option for model 'cnn'")
    assert_bad_input(small_vit, image_size=18, patch_size=4, match="multiple of patch_size")
    assert_bad_input(small_vit, embed_dim=30, num_heads=4, match="multiple of num_heads")
    assert_bad_input(SmallCNN, conv_init_std=0.0, match="conv_init_std")


# --- training -----------------------------------------------------------------------------------


def test_warmup_cosine_schedule() -> None:
    assert warmup_cosine(0, 4, 12) == pytest.approx(0.25)
    assert warmup_cosine(3, 4, 12) == pytest.approx(1.0)
    assert warmup_cosine(4, 4, 12) == pytest.approx(1.0)
    assert warmup_cosine(8, 4, 12) == pytest.approx(0.5)
    assert warmup_cosine(12, 4, 12) == pytest.approx(0.0, abs=1e-12)
    assert warmup_cosine(0, 0, 10) == pytest.approx(1.0)


def test_config_defaults_and_quick() -> None:
    cfg = TrainConfig()
    assert (cfg.epochs, cfg.batch_size, cfg.warmup) == (30, 128, 6)
    assert TrainConfig(epochs=200).warmup == 10  # paper: min(10, epochs // 5)
    quick = TrainConfig.quick(condition="overfit")
    assert (quick.epochs, quick.condition, quick.max_train) == (2, "overfit", 300)


def test_config_bad_inputs() -> None:
    assert_bad_input(
        TrainConfig, condition="mixup", match="choose one of supervised, contrastive, overfit"
    )
    assert_bad_input(TrainConfig, model="mlp", match="unknown model 'mlp'; choose one of cnn")
    assert_bad_input(TrainConfig, batch_size=1, match="batch_size")
    assert_bad_input(TrainConfig, epochs=0, match="epochs must be > 0")
    assert_bad_input(TrainConfig, warmup_epochs=5, epochs=3, match="warmup_epochs")


def test_supervised_smoke_loss_drops(digits: ImageSplit) -> None:
    result = train(_smoke(), data=digits)
    losses = [row["loss"] for row in result.history[1:]]
    assert all(math.isfinite(v) for row in result.history for v in row.values())
    assert losses[-1] < losses[0] - 0.2
    assert result.history[-1]["val_acc"] > 0.25  # 0.1 is chance
    assert result.val_acc == result.history[-1]["val_acc"]
    assert not result.model.training
    assert result.head is None
    assert result.train_labels.equal(digits.y_train)


def test_contrastive_smoke_loss_drops_and_probe_fills_classifier(digits: ImageSplit) -> None:
    result = train(_smoke(condition="contrastive"), data=digits)
    losses = [row["loss"] for row in result.history[1:]]
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    assert isinstance(result.head, ProjectionHead)
    # The classifier holds the last probe: its predictions reproduce the logged accuracy.
    with torch.no_grad():
        predicted = result.model(digits.x_val).argmax(1)
    accuracy = float((predicted == digits.y_val).float().mean())
    assert accuracy == pytest.approx(result.val_acc, abs=1e-6)
    assert result.val_acc > 0.5


def test_overfit_trains_on_permuted_labels(digits: ImageSplit) -> None:
    result = train(_smoke(condition="overfit", seed=2), data=digits)
    assert result.train_labels.equal(permuted_labels(digits.y_train, 2))
    assert not result.train_labels.equal(digits.y_train)
    assert all("fit_acc" in row for row in result.history)


def test_epoch_callback_once_per_epoch_and_merged(digits: ImageSplit) -> None:
    calls, logged = [], []

    def callback(epoch: int, model: nn.Module) -> dict[str, float]:
        calls.append((epoch, model.training, model.features(digits.x_val[:2]).shape))
        time.sleep(0.01)
        return {"probe_metric": 10.0 + epoch}

    result = train(
        _smoke(), data=digits, epoch_callback=callback, logger=lambda s, m: logged.append((s, m))
    )
    assert calls == [(e, False, (2, 32)) for e in range(4)]  # epoch 0 = before training
    assert [row["probe_metric"] for row in result.history] == [10.0, 11.0, 12.0, 13.0]
    assert result.seconds_in_callback >= 0.04
    assert result.seconds_total > result.seconds_in_callback
    steps_per_epoch = math.ceil(300 / 32)
    step_logs = [(s, m["lr"]) for s, m in logged if "epoch" not in m]
    assert [s for s, _ in step_logs] == list(range(1, 3 * steps_per_epoch + 1))
    rates = [lr for _, lr in step_logs]  # no warm-up for 3 epochs: cosine from the peak rate
    assert rates[0] == pytest.approx(1e-2)
    assert all(a > b > 0 for a, b in itertools.pairwise(rates))
    epoch_logs = [(s, m["epoch"]) for s, m in logged if "epoch" in m]
    assert epoch_logs == [(e * steps_per_epoch, float(e)) for e in range(4)]

    calls.clear()
    train(_smoke(eval_before_training=False), data=digits, epoch_callback=callback)
    assert [c[0] for c in calls] == [1, 2, 3]


def test_training_is_deterministic_and_leaves_global_rng(digits: ImageSplit) -> None:
    state = torch.random.get_rng_state()
    first = train(_smoke(condition="contrastive"), data=digits)
    assert torch.random.get_rng_state().equal(state)
    second = train(_smoke(condition="contrastive"), data=digits)
    assert _without_timing(first.history) == _without_timing(second.history)
    other = train(_smoke(condition="contrastive", seed=1), data=digits)
    assert _without_timing(other.history) != _without_timing(first.history)


def test_vit_trains(digits: ImageSplit) -> None:
    cfg = _smoke(model="vit", epochs=1, model_kwargs={"embed_dim": 16, "depth": 1})
    result = train(cfg, data=digits.take(64, 32))
    assert math.isfinite(result.history[-1]["loss"])
    assert result.model.features(digits.x_val[:3]).shape == (3, 16)


def test_train_bad_inputs(digits: ImageSplit) -> None:
    assert_bad_input(train, TrainConfig.quick(), data=digits, device="tpu", match="unknown device")
