"""Hydra-lite, its loss and checkpoints, Centaur's test-time update, the open-loop statistics and
one short closed-loop episode of entropykit_driving_tta.

One module fixture collects three 8-s highway episodes, builds a 16-entry vocabulary and the
decision frames, and trains a small Hydra-lite for two epochs. Every planner works on a deep copy
of the trained model, so the tests do not see each other's updates.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import numpy as np
import pytest
import torch
from entropykit_driving_tta.centaur import Planner, TTTConfig, select_parameters
from entropykit_driving_tta.closed_loop import mcnemar_exact, run_episode, wilson
from entropykit_driving_tta.collect import collect
from entropykit_driving_tta.evaluate import episode_bootstrap, paired_delta, sign_flip_pvalue
from entropykit_driving_tta.features import N_AGENTS, STATUS_DIM, build_frames
from entropykit_driving_tta.model import (
    HEADS,
    HydraLite,
    LossWeights,
    ModelConfig,
    hydra_loss,
    planning_score,
)
from entropykit_driving_tta.sim import DT, SCENARIOS
from entropykit_driving_tta.train import TrainConfig, load_checkpoint, save_checkpoint, train
from entropykit_driving_tta.vocab import VocabularyMismatchError, build_vocabulary

SMALL = ModelConfig(
    d_model=32,
    n_heads=2,
    encoder_layers=1,
    decoder_layers=1,
    ffn=64,
    vocab_hidden=32,
    head_hidden=32,
)
FROZEN_PREFIXES = ("agent_in.", "status_in.", "token_type", "encoder.")


@pytest.fixture(scope="module")
def setup() -> dict:
    torch.set_num_threads(1)
    logs = collect(dataclasses.replace(SCENARIOS["highway"], duration=8.0), [0, 1, 2]).logs
    vocab = build_vocabulary(logs, k=16, seed=0)
    frames = build_frames(logs, vocab)
    result = train(frames, vocab, TrainConfig(epochs=2, batch_size=16, lr=1e-3, model=SMALL))
    trained = {n: p.detach().clone() for n, p in result.model.named_parameters()}
    return {
        "logs": logs,
        "vocab": vocab,
        "frames": frames,
        "result": result,
        "trained": trained,
    }


def planner(setup: dict, **cfg) -> Planner:
    return Planner(copy.deepcopy(setup["result"].model), setup["vocab"], TTTConfig(**cfg))


def params_of(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor], names=None) -> bool:
    names = a.keys() if names is None else names
    return all(torch.equal(a[n], b[n]) for n in names)


def obs(setup: dict, i: int) -> tuple[np.ndarray, np.ndarray]:
    f = setup["frames"]
    return f.agents[i], f.status[i]


# -- the model and its loss ---------------------------------------------------------------------
def test_forward_shapes_and_score(setup: dict) -> None:
    model, f = setup["result"].model, setup["frames"]
    with torch.no_grad():
        out = model(torch.from_numpy(f.agents[:5]), torch.from_numpy(f.status[:5]))
    assert set(out) == set(HEADS)
    for h in HEADS:
        assert out[h].shape == (5, 16)
        assert torch.isfinite(out[h]).all()
    score = planning_score(out)
    assert score.shape == (5, 16)
    assert torch.isfinite(score).all()
    # Every term of the log-linear score is <= log(12) (the aggregate is at most 5 + 5 + 2).
    assert (score <= math.log(12.0) + 1e-5).all()
    assert model.vocab_size == 16


def test_forward_rejects_bad_shapes(setup: dict) -> None:
    model = setup["result"].model
    a = torch.zeros(2, N_AGENTS, 9)
    s = torch.zeros(2, STATUS_DIM)
    with pytest.raises(ValueError, match=r"agents must be \(B, 16, 9\)"):
        model(torch.zeros(2, N_AGENTS - 1, 9), s)
    with pytest.raises(ValueError, match="agents must be"):
        model(torch.zeros(N_AGENTS, 9), s)
    with pytest.raises(ValueError, match=r"status must be \(B, 14\)"):
        model(a, torch.zeros(2, STATUS_DIM - 1))
    with pytest.raises(ValueError, match="vocab_poses must be"):
        HydraLite(torch.zeros(16, 24), SMALL)


def test_hydra_loss_targets(setup: dict) -> None:
    vocab8 = torch.from_numpy(setup["vocab"].subsampled()).float()
    k, b, j = vocab8.shape[0], 3, 5
    expert = vocab8[j].expand(b, -1, -1).clone()
    imi = torch.zeros(b, k, requires_grad=True)
    logits = {"imi": imi, **{m: torch.full((b, k), 10.0) for m in HEADS[1:]}}
    teacher = torch.ones(b, k, 5)
    teacher[..., 0] = 0.5  # NC 0.5 counts as a collision (target 0)
    w = LossWeights()
    total, parts = hydra_loss(logits, expert, teacher, vocab8, w)
    assert torch.isfinite(total)
    expected = sum(getattr(w, h) * parts[h] for h in HEADS)
    assert float(total.detach()) == pytest.approx(expected, rel=1e-5)
    # Uniform imitation logits: cross-entropy log K; confident correct heads: ~0; NC target 0
    # with a +10 logit costs ~10 nats.
    assert parts["imi"] == pytest.approx(math.log(k), rel=1e-5)
    assert parts["nc"] == pytest.approx(10.0, abs=1e-3)
    for m in ("dac", "ttc", "ep", "comfort"):
        assert parts[m] == pytest.approx(0.0, abs=1e-3)
    # The soft target, recovered from the gradient (softmax(imi) - target) / B.
    (grad,) = torch.autograd.grad(total, imi)
    target = torch.softmax(imi.detach(), -1) - b * grad / w.imi
    assert (target.argmax(-1) == j).all()
    d = ((vocab8 - vocab8[j]) ** 2).sum(dim=(-1, -2))
    np.testing.assert_allclose(
        target[0].numpy(), torch.softmax(-d / w.sigma, -1).numpy(), atol=1e-6
    )


def test_smoke_training_loss_goes_down(setup: dict) -> None:
    hist = setup["result"].history
    assert len(hist) == 2
    for row in hist:
        assert all(math.isfinite(v) for v in row.values())
    assert hist[-1]["loss"] < hist[0]["loss"]
    for p in setup["result"].model.parameters():
        assert torch.isfinite(p).all()
    with pytest.raises(ValueError, match="epochs and batch_size"):
        TrainConfig(epochs=0)


def test_train_rejects_other_vocabulary(setup: dict) -> None:
    other = build_vocabulary(setup["logs"], k=16, seed=1)
    with pytest.raises(VocabularyMismatchError, match="frame set"):
        train(setup["frames"], other, TrainConfig(epochs=1, model=SMALL))


def test_checkpoint_round_trip(setup: dict, tmp_path) -> None:
    model, vocab, f = setup["result"].model, setup["vocab"], setup["frames"]
    path = save_checkpoint(tmp_path / "planner.pt", model, vocab, {"note": "x"})
    back, v2, extra = load_checkpoint(path, vocab)
    assert v2.hash == vocab.hash
    assert extra == {"note": "x"}
    assert back.cfg == model.cfg
    a, s = torch.from_numpy(f.agents[:4]), torch.from_numpy(f.status[:4])
    with torch.no_grad():
        o1, o2 = model(a, s), back(a, s)
    for h in HEADS:
        assert torch.equal(o1[h], o2[h])
    other = build_vocabulary(setup["logs"], k=16, seed=1)
    with pytest.raises(VocabularyMismatchError, match="checkpoint"):
        load_checkpoint(path, other)


def test_checkpoint_bad_files(tmp_path) -> None:
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(ValueError, match="not an entropykit-driving-tta planner checkpoint"):
        load_checkpoint(other)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


# -- Centaur ------------------------------------------------------------------------------------
def test_ttt_config_validation() -> None:
    for kwargs, msg in [
        ({"method": "magic"}, "method must be one of"),
        ({"params": "encoder"}, "params must be one of"),
        ({"lr": -1e-3}, "lr must be a finite number"),
        ({"lr": float("nan")}, "lr must be a finite number"),
        ({"lr": float("inf")}, "lr must be a finite number"),
        ({"buffer": -1}, "buffer must be >= 0"),
        ({"tau": 0.0}, "tau must be > 0"),
    ]:
        with pytest.raises(ValueError, match=msg):
            TTTConfig(**kwargs)


def test_ttt_config_rejects_nonpositive_grad_clip() -> None:
    with pytest.raises(ValueError, match="grad_clip"):
        TTTConfig(grad_clip=-1.0)


def test_planner_rejects_other_vocabulary_size(setup: dict) -> None:
    small = build_vocabulary(setup["logs"], k=8, seed=0)
    with pytest.raises(ValueError, match="scores 16 entries but the vocabulary has 8"):
        Planner(copy.deepcopy(setup["result"].model), small)


def test_parameter_sets(setup: dict) -> None:
    model = setup["result"].model
    names = {n for n, _ in model.named_parameters()}
    dh = {n for n, _ in select_parameters(model, "decoder_heads")}
    assert dh
    assert not any(n.startswith(FROZEN_PREFIXES) for n in dh)
    assert names - dh == {n for n in names if n.startswith(FROZEN_PREFIXES)}
    heads = {n for n, _ in select_parameters(model, "heads")}
    assert heads
    assert all(n.startswith("heads.") for n in heads)
    assert heads < dh
    norm = {n for n, _ in select_parameters(model, "norm")}
    assert norm
    assert all("norm" in n for n in norm)
    assert {n for n, _ in select_parameters(model, "all")} == names


def test_one_update_per_decision_and_reset_restores(setup: dict) -> None:
    pl = planner(setup)
    trained = setup["trained"]
    pl.reset()
    pl.observe(*obs(setup, 0))
    for i in range(1, 6):
        before = pl.n_updates
        choice, info = pl.plan(*obs(setup, i))
        assert pl.n_updates == before + 1
        assert info["updated"]
        assert info["choice"] == choice
        assert 0 <= choice < 16
        assert info["step_norm"] > 0
        # The step has moved the trainable parameters, and only them.
        now = params_of(pl.model)
        assert not same(now, trained, pl.trainable_names)
        frozen = [n for n in trained if n not in pl.trainable_names]
        assert frozen
        assert same(now, trained, frozen)
        # What plan does first at the next decision: bitwise back to the trained values.
        pl.restore()
        assert same(params_of(pl.model), trained)
    assert pl.n_updates == 5
    assert pl.n_skipped == 0


def test_empty_buffer_means_no_update_and_base_choice(setup: dict) -> None:
    pl = planner(setup)
    base = planner(setup, method="none")
    a, s = obs(setup, 7)
    pl.reset()
    choice0, info0 = pl.plan(a, s)  # first decision of an episode: nothing buffered
    assert not info0["updated"]
    assert pl.n_updates == 0
    assert choice0 == info0["base_choice"] == base.plan(a, s)[0]
    assert info0["h_after"] == info0["h_before"]
    _, info1 = pl.plan(a, s)  # now the buffer holds one observation
    assert info1["updated"]
    assert pl.n_updates == 1
    assert info1["base_choice"] == choice0  # scored with the trained weights again
    pl.reset()
    choice2, info2 = pl.plan(a, s)
    assert not info2["updated"]
    assert pl.n_updates == 1
    assert choice2 == info2["base_choice"] == choice0
    assert info2["h_before"] == info0["h_before"]


def test_frozen_encoder_never_changes(setup: dict) -> None:
    pl = planner(setup, lr=0.5)
    before = {n: p.detach().clone() for n, p in pl.model.encoder.named_parameters()}
    pl.reset()
    for t in range(3):
        pl.observe(*obs(setup, t))
    for i in range(3, 9):
        pl.plan(*obs(setup, i))
    assert pl.n_updates == 6
    after = {n: p.detach().clone() for n, p in pl.model.encoder.named_parameters()}
    assert before
    assert same(before, after)
    assert not any(p.requires_grad for p in pl.model.encoder.parameters())


def test_method_none_never_updates(setup: dict) -> None:
    pl = planner(setup, method="none", lr=1.0)
    pl.reset()
    for t in range(3):
        pl.observe(*obs(setup, t))
    for i in range(3, 9):
        choice, info = pl.plan(*obs(setup, i))
        assert not info["updated"]
        assert choice == info["base_choice"]
    assert pl.n_updates == 0
    assert pl.n_skipped == 0
    assert same(params_of(pl.model), setup["trained"])


def test_non_finite_loss_is_skipped(setup: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    pl = planner(setup)
    pl.reset()
    pl.observe(*obs(setup, 0))
    monkeypatch.setattr(
        Planner, "entropy", lambda self, score: torch.full(score.shape[:1], float("nan"))
    )
    choice, info = pl.plan(*obs(setup, 1))
    assert info["skipped"] == "non-finite loss"
    assert not info["updated"]
    assert pl.n_skipped == 1
    assert pl.n_updates == 0
    assert choice == info["base_choice"]
    assert same(params_of(pl.model), setup["trained"])


def test_placebo_step_has_the_centaur_norm(setup: dict) -> None:
    cen, pla = planner(setup), planner(setup, method="placebo")
    infos = []
    deltas = []
    for pl in (cen, pla):
        pl.reset()
        for t in range(3):
            pl.observe(*obs(setup, t))
        infos.append(pl.plan(*obs(setup, 3))[1])
        now = params_of(pl.model)
        deltas.append(torch.cat([(now[n] - setup["trained"][n]).flatten() for n in now]))
    ic, ip = infos
    assert ic["updated"]
    assert ip["updated"]
    assert ip["grad_norm"] == pytest.approx(ic["grad_norm"], rel=1e-9)
    assert ip["step_norm"] == pytest.approx(ic["step_norm"], rel=1e-9)
    assert ic["step_norm"] == pytest.approx(1e-3 * min(ic["grad_norm"], 1.0), rel=1e-6)
    # Same length, another direction.
    dc, dp = deltas
    cos = float(torch.dot(dc.double(), dp.double()) / (dc.double().norm() * dp.double().norm()))
    assert abs(cos) < 0.5


def test_small_step_lowers_buffer_entropy(setup: dict) -> None:
    lr = 0.05
    pl = planner(setup, lr=lr)
    f = setup["frames"]
    batch = (torch.from_numpy(f.agents[:4]), torch.from_numpy(f.status[:4]))
    pl.reset()
    for i in range(4):
        pl.observe(*obs(setup, i))
    with torch.no_grad():
        h0 = float(pl.entropy(pl.scores(*batch)["score"]).mean())
    _, info = pl.plan(*obs(setup, 4))
    assert info["h_buffer"] == pytest.approx(h0, abs=1e-6)
    with torch.no_grad():
        h1 = float(pl.entropy(pl.scores(*batch)["score"]).mean())
    assert h1 < h0
    # A gradient step of length lr * g (unclipped) lowers the loss by about lr * g^2.
    g = info["grad_norm"]
    assert g < 1.0
    assert h0 - h1 == pytest.approx(lr * g**2, rel=0.3)


def test_accumulate_keeps_updates_across_decisions(setup: dict) -> None:
    trained = setup["trained"]
    acc, rst = planner(setup, accumulate=True), planner(setup)
    for pl in (acc, rst):
        pl.reset()
        pl.observe(*obs(setup, 0))
        pl.plan(*obs(setup, 1))
    after_first = params_of(acc.model)
    assert not same(after_first, trained)
    _, ia = acc.plan(*obs(setup, 2))
    _, ir = rst.plan(*obs(setup, 2))
    assert acc.n_updates == rst.n_updates == 2
    # The reset planner started its second decision from the trained weights, the accumulating
    # one from the weights after its first step, and keeps moving from there.
    assert ir["h_before"] != ia["h_before"]
    now = params_of(acc.model)
    assert not same(now, after_first)
    assert not same(now, trained)
    dist = sum(float(((now[n] - trained[n]) ** 2).sum()) for n in now) ** 0.5
    assert dist > ia["step_norm"] * 1.01
    # reset() at an episode start restores the trained weights even when accumulating.
    acc.reset()
    assert same(params_of(acc.model), trained)


# -- statistics ---------------------------------------------------------------------------------
def test_episode_bootstrap() -> None:
    rng = np.random.default_rng(0)
    e5 = np.repeat(np.arange(5), 5)
    v5 = rng.normal(0, 1, 5)[e5] + rng.normal(0, 0.3, len(e5))
    # The same episodes sixteen times over: the same mean, a CI about four times narrower.
    e80 = np.concatenate([e5 + 5 * r for r in range(16)])
    v80 = np.tile(v5, 16)
    m5, lo5, hi5 = episode_bootstrap(v5, e5, n_boot=2000)
    m80, lo80, hi80 = episode_bootstrap(v80, e80, n_boot=2000)
    assert m5 == pytest.approx(v5.mean())
    assert lo5 < m5 < hi5
    assert m80 == pytest.approx(m5)
    assert lo80 < m80 < hi80
    assert (hi5 - lo5) / 6 < hi80 - lo80 < (hi5 - lo5) / 2.5
    # Constant values: a zero-width interval at the value.
    m, lo, hi = episode_bootstrap(np.full(12, 0.7), np.repeat(np.arange(4), 3), n_boot=200)
    assert m == pytest.approx(0.7)
    assert lo == pytest.approx(0.7)
    assert hi == pytest.approx(0.7)
    assert episode_bootstrap(v5, e5, n_boot=500, seed=1) == episode_bootstrap(
        v5, e5, n_boot=500, seed=1
    )


def test_paired_delta() -> None:
    rng = np.random.default_rng(1)
    ep = np.repeat(np.arange(10), 4)
    a = rng.random(len(ep))
    d = paired_delta(a, a.copy(), ep, n_boot=1000)
    assert d == {"delta": 0.0, "lo": 0.0, "hi": 0.0, "p": 1.0}
    shifted = paired_delta(a + 0.2 + 0.01 * rng.random(len(ep)), a, ep, n_boot=1000)
    assert shifted["lo"] > 0
    assert shifted["hi"] < 0.22
    assert shifted["delta"] == pytest.approx(0.205, abs=0.006)
    assert shifted["p"] < 0.01


def test_sign_flip_pvalue() -> None:
    ep = np.repeat(np.arange(12), 3)
    n_perm = 10_000
    p = sign_flip_pvalue(np.ones(len(ep)), ep, n_perm=n_perm)
    # Only the two all-same sign patterns reach the observed mean: p ~ 2 / 2^12.
    assert 1 / (1 + n_perm) <= p < 0.003
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 1, 12)[ep]
    assert sign_flip_pvalue(noise, ep, n_perm=2000) > 0.05
    assert sign_flip_pvalue(np.zeros(len(ep)), ep) == 1.0


def test_wilson_and_mcnemar_hand_values() -> None:
    lo, hi = wilson(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12)
    assert hi == pytest.approx(0.27753, abs=1e-4)
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(0.23659, abs=1e-4)
    assert hi == pytest.approx(0.76341, abs=1e-4)
    assert all(math.isnan(x) for x in wilson(0, 0))
    a = [False] * 6 + [True, False]
    b = [True] * 6 + [True, False]
    assert mcnemar_exact(a, b) == pytest.approx(0.03125)
    assert mcnemar_exact(b, a) == pytest.approx(0.03125)
    assert mcnemar_exact(a, a) == 1.0


# -- closed loop --------------------------------------------------------------------------------
def check_metrics(m: dict, duration: float) -> None:
    assert isinstance(m["collision"], bool)
    assert isinstance(m["at_fault"], bool)
    assert m["at_fault"] <= m["collision"]
    assert 0 < m["duration"] <= duration + 1e-9
    assert m["progress"] >= 0
    assert m["min_ttc"] >= 0
    for k in ("ttc_violation", "comfort_violation", "offroad"):
        assert 0 <= m[k] <= 1, k


def test_closed_loop_episode(setup: dict) -> None:
    pl = planner(setup)
    r1 = run_episode("highway", 5, pl, duration=3.0)
    check_metrics(r1.metrics, 3.0)
    assert r1.policy == "centaur"
    assert r1.scenario == "highway"
    n = r1.log.n_frames
    assert n == round(r1.metrics["duration"] / DT) + 1
    assert 1 <= len(r1.decisions) <= 6
    assert [t for t, _ in r1.plans] == [0, 5, 10, 15, 20, 25][: len(r1.plans)]
    assert all(0 <= c < 16 for _, c in r1.plans)
    assert 0 <= r1.metrics["mean_h"] <= math.log(setup["vocab"].n_clusters) + 1e-6
    # Planning starts at the first frame with an empty buffer: the first decision is the base
    # planner's, every later one updates on the decisions before it.
    assert not r1.decisions[0]["updated"]
    assert r1.decisions[0]["choice"] == r1.decisions[0]["base_choice"]
    assert all(d["updated"] for d in r1.decisions[1:])
    r2 = run_episode("highway", 5, pl, duration=3.0)
    np.testing.assert_array_equal(r1.log.pos[:, 0], r2.log.pos[:, 0])
    assert r1.plans == r2.plans
    idm = run_episode("highway", 5, "idm", duration=3.0)
    check_metrics(idm.metrics, 3.0)
    assert idm.policy == "idm_expert"
    assert idm.decisions == []
    with pytest.raises(ValueError, match="policy must be a Planner or 'idm'"):
        run_episode("highway", 5, "bogus", duration=3.0)
