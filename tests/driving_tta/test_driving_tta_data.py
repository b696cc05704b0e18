"""Expert collection, episode logs, the trajectory vocabulary and planner features of
entropykit_driving_tta.

One module fixture collects three short (8 s) highway episodes (seeds 0, 1, 2) and builds a
16-entry vocabulary and the decision frames from them; the hand-made cases edit copies of those
logs or build poses directly.
"""

from __future__ import annotations

import dataclasses
import importlib

import numpy as np
import pytest
import torch
from entropykit_driving_tta.collect import collect, load_logs, save_logs
from entropykit_driving_tta.features import (
    MAX_RANGE,
    N_AGENTS,
    STATUS_DIM,
    FrameSet,
    build_frames,
    frame_features,
)
from entropykit_driving_tta.geometry import from_ego_frame
from entropykit_driving_tta.sim import (
    DT,
    HORIZON,
    LOG_ARRAYS,
    SCENARIOS,
    EpisodeLog,
    Scenario,
    get_scenario,
    make_env,
)
from entropykit_driving_tta.vocab import (
    Vocabulary,
    VocabularyMismatchError,
    build_vocabulary,
    maneuver_clusters,
    perturbed_windows,
)

# The package exports the function ``collect``, which shadows the submodule of the same name.
collect_mod = importlib.import_module("entropykit_driving_tta.collect")
SHORT = dataclasses.replace(SCENARIOS["highway"], duration=8.0)


@pytest.fixture(scope="module")
def data() -> dict:
    torch.set_num_threads(1)
    result = collect(SHORT, [0, 1, 2])
    vocab = build_vocabulary(result.logs, k=16, seed=0)
    frames = build_frames(result.logs, vocab)
    return {"result": result, "logs": result.logs, "vocab": vocab, "frames": frames}


def copy_log(log: EpisodeLog) -> EpisodeLog:
    return dataclasses.replace(log, **{k: getattr(log, k).copy() for k in LOG_ARRAYS})


def assert_logs_equal(a: EpisodeLog, b: EpisodeLog) -> None:
    assert (a.scenario, a.env_id, a.seed) == (b.scenario, b.env_id, b.seed)
    for k in LOG_ARRAYS:
        np.testing.assert_array_equal(getattr(a, k), getattr(b, k), err_msg=k)
        assert getattr(a, k).dtype == getattr(b, k).dtype, k
    la, lb = a.lanes.to_arrays(), b.lanes.to_arrays()
    assert la.keys() == lb.keys()
    for k in la:
        np.testing.assert_array_equal(la[k], lb[k], err_msg=k)
    assert a.meta == b.meta


# -- collection ---------------------------------------------------------------------------------
def test_collect_keeps_clean_episodes(data: dict) -> None:
    res = data["result"]
    assert res.dropped == {}
    assert [lg.seed for lg in res.logs] == [0, 1, 2]
    n = round(SHORT.duration / DT) + 1
    for lg in res.logs:
        assert lg.scenario == "highway"
        assert lg.env_id == "highway-v0"
        assert lg.n_frames == n
        t, m = lg.present.shape
        assert lg.pos.shape == (t, m, 2)
        assert lg.status.shape[0] == t
        assert lg.present[:, 0].all()
        assert not lg.crashed[:, 0].any()
        assert (lg.speed[:, 0] >= -0.1).all()
        np.testing.assert_array_equal(lg.decision_frames, np.arange(0, t, 5))
        assert lg.routes.shape[0] == len(lg.decision_frames)
        lo, hi = SHORT.ego_speed
        assert lo <= lg.meta["target_speed"] <= hi
        assert lg.meta["policy"] == "idm_expert"
    assert res.n_frames == 3 * n


def test_collect_is_deterministic_per_seed(data: dict) -> None:
    again = collect(SHORT, [0])
    assert again.dropped == {}
    assert_logs_equal(again.logs[0], data["logs"][0])
    # Different seeds give different traffic.
    assert data["logs"][0].pos.shape != data["logs"][1].pos.shape or not np.array_equal(
        data["logs"][0].pos, data["logs"][1].pos
    )


@pytest.mark.parametrize(
    ("corrupt", "reason"),
    [("crashed", "crashed"), ("reversed", "reversed")],
)
def test_collect_drops_bad_episodes(
    monkeypatch: pytest.MonkeyPatch, corrupt: str, reason: str
) -> None:
    real_step = collect_mod.step_road

    def step(env) -> None:
        real_step(env)
        if corrupt == "crashed":
            env.vehicle.crashed = True
        else:
            env.vehicle.speed = -1.0

    monkeypatch.setattr(collect_mod, "step_road", step)
    quick = dataclasses.replace(SHORT, duration=0.5)
    res = collect(quick, [4])
    assert res.logs == []
    assert res.dropped == {4: reason}
    assert res.n_frames == 0


def test_collect_reports_dropped_seeds_without_losing_others(
    monkeypatch: pytest.MonkeyPatch, data: dict
) -> None:
    kept = data["logs"][0]

    def fake(scenario, seed):
        return kept if seed == 0 else {1: "crashed", 2: "reversed"}[seed]

    monkeypatch.setattr(collect_mod, "expert_episode", fake)
    res = collect(SHORT, [0, 1, 2])
    assert res.logs == [kept]
    assert res.dropped == {1: "crashed", 2: "reversed"}


def test_collect_rejects_no_seeds() -> None:
    with pytest.raises(ValueError, match="at least one episode seed"):
        collect(SHORT, [])


def test_unknown_scenario_lists_choices() -> None:
    with pytest.raises(ValueError, match="unknown scenario 'nowhere'") as err:
        get_scenario("nowhere")
    for name in SCENARIOS:
        assert name in str(err.value)
    with pytest.raises(ValueError, match="choose one of"):
        collect("nowhere", [0])


def test_make_env_unknown_id_lists_highway_ids() -> None:
    with pytest.raises(ValueError, match="unknown environment id 'nope-v9'") as err:
        make_env(Scenario("x", "nope-v9"), 0)
    assert "highway-v0" in str(err.value)
    assert "merge-generic-v1" in str(err.value)
    # A gymnasium id that is not highway-env's is refused too.
    with pytest.raises(ValueError, match="highway-env registers"):
        make_env(Scenario("x", "CartPole-v1"), 0)


# -- logs on disk -------------------------------------------------------------------------------
def test_episode_log_round_trip(data: dict, tmp_path) -> None:
    log = data["logs"][1]
    path = log.save(tmp_path / "one.npz")
    assert_logs_equal(EpisodeLog.load(path), log)


def test_save_and_load_logs_folder(data: dict, tmp_path) -> None:
    paths = save_logs(data["logs"], tmp_path / "logs")
    assert [p.name for p in paths] == [f"highway-{s:06d}.npz" for s in (0, 1, 2)]
    loaded = load_logs(tmp_path / "logs")
    assert len(loaded) == 3
    for a, b in zip(loaded, data["logs"], strict=True):
        assert_logs_equal(a, b)


def test_corrupted_log_is_a_clear_error(tmp_path) -> None:
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"this is not a numpy archive")
    with pytest.raises(ValueError, match=r"not an entropykit driving log.*collect"):
        EpisodeLog.load(bad)
    partial = tmp_path / "partial.npz"
    np.savez(partial, pos=np.zeros((2, 1, 2)))
    with pytest.raises(ValueError, match=r"not an entropykit driving log.*collect"):
        EpisodeLog.load(partial)


def test_truncated_log_is_a_clear_error(data: dict, tmp_path) -> None:
    full = data["logs"][0].save(tmp_path / "full.npz").read_bytes()
    cut = tmp_path / "cut.npz"
    cut.write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError, match=r"not an entropykit driving log.*collect"):
        EpisodeLog.load(cut)


def test_load_logs_empty_or_missing_folder(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"no driving logs \(\*\.npz\).*collect"):
        load_logs(tmp_path)
    with pytest.raises(ValueError, match="no driving logs"):
        load_logs(tmp_path / "missing")


# -- the vocabulary -----------------------------------------------------------------------------
def test_vocabulary_shape_and_clusters(data: dict) -> None:
    v = data["vocab"]
    assert v.poses.shape == (16, HORIZON, 3)
    assert v.poses.dtype == np.float32
    assert v.size == 16
    assert np.isfinite(v.poses).all()
    c = v.clusters
    assert c.shape == (16,)
    assert c.dtype == np.int64
    assert c.min() == 0
    assert c.max() == v.n_clusters - 1
    assert np.bincount(c).min() >= 1
    assert len(set(v.cluster_names)) == v.n_clusters
    lat = {"left", "keep", "right"}
    lon = {"stop", "slow", "medium", "fast"}
    for name in v.cluster_names:
        a, b = name.split("-")
        assert a in lat
        assert b in lon
    # Entries are sorted by 4-s progress (then lateral offset).
    assert (np.diff(v.poses[:, -1, 0]) >= 0).all()
    assert v.subsampled().shape == (16, 8, 3)
    np.testing.assert_array_equal(v.subsampled()[:, -1], v.poses[:, -1])


def test_vocabulary_hash_depends_on_seed_only(data: dict) -> None:
    v = data["vocab"]
    same = build_vocabulary(data["logs"], k=16, seed=0)
    assert same.hash == v.hash
    assert len(v.hash) == 16
    np.testing.assert_array_equal(same.poses, v.poses)
    other = build_vocabulary(data["logs"], k=16, seed=1)
    assert other.hash != v.hash


def test_vocabulary_save_load_keeps_hash(data: dict, tmp_path) -> None:
    v = data["vocab"]
    back = Vocabulary.load(v.save(tmp_path / "vocab.npz"))
    assert back.hash == v.hash
    np.testing.assert_array_equal(back.poses, v.poses)
    np.testing.assert_array_equal(back.clusters, v.clusters)
    assert back.cluster_names == v.cluster_names
    np.savez(tmp_path / "other.npz", poses=v.poses)
    with pytest.raises(ValueError, match="not a vocabulary file"):
        Vocabulary.load(tmp_path / "other.npz")


def test_check_matches(data: dict) -> None:
    v = data["vocab"]
    v.check_matches(v.hash)
    with pytest.raises(VocabularyMismatchError, match="built for vocabulary 0123456789abcdef"):
        v.check_matches("0123456789abcdef")
    assert issubclass(VocabularyMismatchError, ValueError)
    changed = Vocabulary(v.poses + np.float32(0.5), v.clusters, v.cluster_names)
    with pytest.raises(VocabularyMismatchError, match="frame set"):
        changed.check_matches(v.hash, what="frame set")


def test_vocabulary_validation(data: dict) -> None:
    v = data["vocab"]
    with pytest.raises(ValueError, match="poses must be"):
        Vocabulary(v.poses[:, :10], v.clusters, v.cluster_names)
    with pytest.raises(ValueError, match="cluster ids must be"):
        Vocabulary(v.poses, v.clusters[:-1], v.cluster_names)
    with pytest.raises(ValueError, match="every cluster non-empty"):
        Vocabulary(v.poses, np.zeros(16, dtype=np.int64), v.cluster_names)
    bad = v.poses.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Vocabulary(bad, v.clusters, v.cluster_names)


def straight(speed: float, accel: float = 0.0, lateral: float = 0.0) -> np.ndarray:
    """(40, 3) poses at constant acceleration (stopping at 0) with a smooth lateral shift."""
    t = np.arange(1, HORIZON + 1) * DT
    v = np.maximum(speed + accel * t, 0.0)
    x = np.cumsum(v * DT)
    y = lateral * (1 - np.cos(np.pi * t / t[-1])) / 2
    return np.column_stack([x, y, np.zeros_like(t)])


def test_maneuver_clusters_hand_made() -> None:
    poses = np.stack(
        [
            straight(25.0),  # 100 m, straight: fast
            straight(15.0, lateral=-8.0),  # 60 m, ends 8 m to the left: middle progress
            straight(8.0, lateral=8.0),  # 32 m, ends 8 m to the right: least progress
            straight(10.0, accel=-5.0),  # stops after 2 s
        ]
    )
    ids, names = maneuver_clusters(poses)
    assert [names[i] for i in ids] == ["keep-fast", "left-medium", "right-slow", "keep-stop"]
    # Ids are renumbered 0..C-1 in grid order (lateral major).
    assert names == ("left-medium", "keep-stop", "keep-fast", "right-slow")
    np.testing.assert_array_equal(ids, [2, 0, 3, 1])
    # A 3 m offset is a lane change for 4-m lanes, not for 8-m lanes.
    three = np.stack([straight(20.0, lateral=3.0), straight(20.0, lateral=-3.0)])
    _, n4 = maneuver_clusters(three, lane_width=4.0)
    _, n8 = maneuver_clusters(three, lane_width=8.0)
    assert {n.split("-")[0] for n in n4} == {"left", "right"}
    assert {n.split("-")[0] for n in n8} == {"keep"}


def test_perturbed_windows() -> None:
    speeds = np.array([5.0, 20.0, 30.0])
    a = perturbed_windows(200, speeds, seed=3)
    assert a.shape == (200, HORIZON, 3)
    assert np.isfinite(a).all()
    np.testing.assert_array_equal(a, perturbed_windows(200, speeds, seed=3))
    assert not np.array_equal(a, perturbed_windows(200, speeds, seed=4))
    # Speeds never go negative: every step moves along (never against) the entry's heading.
    xy = np.concatenate([np.zeros((200, 1, 2)), a[:, :, :2]], axis=1)
    step = np.diff(xy, axis=1)
    along = step[..., 0] * np.cos(a[:, :, 2]) + step[..., 1] * np.sin(a[:, :, 2])
    assert (along >= -1e-9).all()

    # Some of them stop (a quarter brake to a stop), some change lanes.
    v_end = np.hypot(*(a[:, -1, :2] - a[:, -2, :2]).T) / DT
    assert (v_end < 1e-6).sum() >= 10
    assert (np.abs(a[:, -1, 1]) > 3.5).sum() >= 10
    # Zero initial speed: entries only ever move forward along their heading.
    still = perturbed_windows(50, np.zeros(1), seed=0)
    st = np.diff(np.concatenate([np.zeros((50, 1, 2)), still[:, :, :2]], axis=1), axis=1)
    fwd = st[..., 0] * np.cos(still[:, :, 2]) + st[..., 1] * np.sin(still[:, :, 2])
    assert (fwd >= -1e-9).all()


def test_too_few_windows_for_k(data: dict) -> None:
    with pytest.raises(ValueError, match=r"only \d+ windows for a vocabulary of K=5000"):
        build_vocabulary(data["logs"], k=5000)
    with pytest.raises(ValueError, match="clusters must be"):
        build_vocabulary(data["logs"], k=16, clusters="bogus")
    with pytest.raises(ValueError, match="perturbed_fraction"):
        build_vocabulary(data["logs"], k=16, perturbed_fraction=1.0)


# -- planner features ---------------------------------------------------------------------------
def test_frame_features_shapes_and_order(data: dict) -> None:
    log = data["logs"][0]
    t = 20
    agents, status = frame_features(log, t)
    assert agents.shape == (N_AGENTS, 9)
    assert agents.dtype == np.float32
    assert status.shape == (STATUS_DIM,) == (14,)
    assert status.dtype == np.float32
    pres = agents[:, 0]
    assert set(np.unique(pres)) <= {0.0, 1.0}
    n = int(pres.sum())
    # Present rows first, absent rows all zero.
    assert (pres[:n] == 1).all()
    assert (agents[n:] == 0).all()
    d = np.hypot(log.pos[t, 1:, 0] - log.pos[t, 0, 0], log.pos[t, 1:, 1] - log.pos[t, 0, 1])
    near = log.present[t, 1:] & (d <= MAX_RANGE)
    assert n == min(N_AGENTS, int(near.sum()))
    assert n > 0
    dist = np.hypot(agents[:n, 1] * 50.0, agents[:n, 2] * 10.0)
    assert (np.diff(dist) >= -1e-4).all()
    np.testing.assert_allclose(dist[0], np.sort(d[near])[0], rtol=1e-5)
    # Status: the scaled ego speed, then the speeds at the last three decisions.
    np.testing.assert_allclose(status[0], log.status[t, 0] / 30.0, rtol=1e-6)
    np.testing.assert_allclose(
        status[-3:], log.status[[t - 5, t - 10, t - 15], 0] / 30.0, rtol=1e-6
    )


def test_frame_features_hand_placed_agents(data: dict) -> None:
    log = copy_log(data["logs"][0])
    assert log.pos.shape[1] >= 4
    t = 20
    ego, h = log.pos[t, 0], float(log.heading[t, 0])
    log.present[t, 1:] = False
    # Column 1: exactly 10 m ahead, same heading, 20 m/s.
    log.present[t, 1] = True
    log.pos[t, 1] = from_ego_frame(np.array([10.0, 0.0]), ego, h)
    log.heading[t, 1], log.speed[t, 1] = h, 20.0
    # Column 2: beyond the 80-m range, ignored.
    log.present[t, 2] = True
    log.pos[t, 2] = from_ego_frame(np.array([MAX_RANGE + 5.0, 0.0]), ego, h)
    # Column 3: 5 m behind, 3 m to the right (nearer, so listed first), heading +0.5 rad.
    log.present[t, 3] = True
    log.pos[t, 3] = from_ego_frame(np.array([-5.0, 3.0]), ego, h)
    log.heading[t, 3], log.speed[t, 3] = h + 0.5, 10.0
    agents, _ = frame_features(log, t)
    assert agents[:, 0].sum() == 2
    np.testing.assert_allclose(
        agents[0],
        [1, -5 / 50, 3 / 10, 10 * np.cos(0.5) / 30, 10 * np.sin(0.5) / 30,
         np.cos(0.5), np.sin(0.5), log.length[3] / 5, log.width[3] / 5],
        atol=1e-6,
    )  # fmt: skip
    np.testing.assert_allclose(
        agents[1],
        [1, 10 / 50, 0, 20 / 30, 0, 1, 0, log.length[1] / 5, log.width[1] / 5],
        atol=1e-6,
    )
    assert agents[1, 1] == pytest.approx(10 / 50, abs=1e-7)


def test_frameset_contents_and_round_trip(data: dict, tmp_path) -> None:
    f, v = data["frames"], data["vocab"]
    m = len(f)
    assert m == 18  # 6 decision frames (t = 15 ... 40) per 81-frame log
    assert f.agents.shape == (m, N_AGENTS, 9)
    assert f.status.shape == (m, STATUS_DIM)
    assert f.expert.shape == (m, 8, 3)
    assert f.teacher.shape == (m, 16, 5)
    assert f.pdms.shape == (m, 16)
    assert f.expert_pdms.shape == (m,)
    assert f.vocab_hash == v.hash
    assert f.scenario == "highway"
    np.testing.assert_array_equal(f.seeds, [0, 1, 2])
    np.testing.assert_array_equal(np.bincount(f.episode), [6, 6, 6])
    assert ((f.pdms >= 0) & (f.pdms <= 1)).all()
    a0, s0 = frame_features(data["logs"][f.episode[7]], int(f.frame[7]))
    np.testing.assert_array_equal(f.agents[7], a0)
    np.testing.assert_array_equal(f.status[7], s0)
    path = str(tmp_path / "frames.npz")
    f.save(path)
    back = FrameSet.load(path)
    for k in FrameSet._arrays():
        np.testing.assert_array_equal(getattr(back, k), getattr(f, k), err_msg=k)
        assert getattr(back, k).dtype == getattr(f, k).dtype, k
    assert back.scenario == f.scenario
    assert back.vocab_hash == f.vocab_hash


def test_build_frames_rejects_empty(data: dict) -> None:
    with pytest.raises(ValueError, match="at least one log"):
        build_frames([], data["vocab"])
    short = copy_log(data["logs"][0])
    keep = 30  # shorter than 1.5 s of history plus a 4-s future
    short = dataclasses.replace(
        short,
        **{k: getattr(short, k)[:keep] for k in ("pos", "heading", "speed", "present", "crashed")},
        status=short.status[:keep],
    )
    with pytest.raises(ValueError, match="no decision frame"):
        build_frames([short], data["vocab"])


def test_truncated_vocabulary_and_frame_files_are_clear_errors(data: dict, tmp_path) -> None:
    from entropykit_driving_tta.features import FrameSet
    from entropykit_driving_tta.vocab import Vocabulary

    full = data["vocab"].save(tmp_path / "v.npz").read_bytes()
    (tmp_path / "v_cut.npz").write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError, match="not a vocabulary file"):
        Vocabulary.load(tmp_path / "v_cut.npz")
    data["frames"].save(str(tmp_path / "f.npz"))
    full = (tmp_path / "f.npz").read_bytes()
    (tmp_path / "f_cut.npz").write_bytes(full[: len(full) // 2])
    with pytest.raises(ValueError, match="not a saved frame set"):
        FrameSet.load(str(tmp_path / "f_cut.npz"))
