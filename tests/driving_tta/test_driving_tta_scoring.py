"""NAVSIM v1 metrics of entropykit_driving_tta on hand-made scenes, route progress, and the
trajectory-tracking controller.

Every scene uses ``LaneSet.straight_road(3)``: lane centres at y = 0, 4, 8 (4 m wide, so the road
spans y in [-2, 10]), heading 0 along +x, and the ego frame's y points to the right (world +y).
Vehicles are 5 m x 2 m; the ego starts at x = 100 so that its box is well inside the road.
"""

from __future__ import annotations

import numpy as np
import pytest
from entropykit_driving_tta.control import bicycle_step, track
from entropykit_driving_tta.geometry import LaneSet, wrap_angle
from entropykit_driving_tta.scoring import Scene, route_progress, scene_from_log, score_states
from entropykit_driving_tta.sim import DT, HORIZON, EpisodeLog

T = HORIZON + 1
TIME = np.arange(T) * DT
ROUTE = np.column_stack([np.arange(-20.0, 2000.0 + 1e-9, 2.0), np.full(1011, 4.0)])


def test_constants() -> None:
    assert round(DT, 12) == 0.1
    assert HORIZON == 40


# -- hand-made states and scenes -------------------------------------------------------------------
def ego_states(
    x0: float = 100.0, y0: float = 4.0, v: float = 10.0, a: float = 0.0, heading: float = 0.0
) -> np.ndarray:
    """(41, 5) straight-line ego states with constant acceleration (speed clipped at 0)."""
    sp = np.maximum(v + a * TIME, 0.0)
    t_stop = np.minimum(TIME, v / -a) if a < 0 else TIME
    s = v * t_stop + 0.5 * a * t_stop**2
    return np.column_stack(
        [x0 + s * np.cos(heading), y0 + s * np.sin(heading), np.full(T, heading), sp, np.full(T, a)]
    )


def vehicle(x0: float, y0: float, v: float, heading: float = 0.0, vy: float = 0.0):
    """(pos (41, 2), heading (41,), speed (41,)) moving at ``v`` along ``heading`` plus a lateral
    drift ``vy`` (m/s along world y)."""
    pos = np.column_stack(
        [x0 + v * TIME * np.cos(heading), y0 + v * TIME * np.sin(heading) + vy * TIME]
    )
    return pos, np.full(T, heading), np.full(T, float(np.hypot(v, vy)))


def make_scene(
    objects: list | None = None,
    obstacle: list[bool] | None = None,
    length: list[float] | None = None,
) -> Scene:
    objects = objects or []
    n = len(objects)
    return Scene(
        ego=np.array([100.0, 4.0, 0.0, 10.0]),
        pos=np.stack([o[0] for o in objects], 1) if n else np.zeros((T, 0, 2)),
        heading=np.stack([o[1] for o in objects], 1) if n else np.zeros((T, 0)),
        speed=np.stack([o[2] for o in objects], 1) if n else np.zeros((T, 0)),
        present=np.ones((T, n), dtype=bool),
        length=np.asarray(length if length is not None else [5.0] * n, dtype=np.float64),
        width=np.full(n, 2.0),
        obstacle=np.asarray(obstacle if obstacle is not None else [False] * n, dtype=bool),
        lanes=LaneSet.straight_road(3),
        route=ROUTE,
    )


def score(scene: Scene, *rows: np.ndarray) -> dict:
    return score_states(scene, np.stack(rows))


def assert_pdms_formula(out: dict) -> None:
    want = out["nc"] * out["dac"] * (5 * out["ttc"] + 5 * out["ep"] + 2 * out["comfort"]) / 12
    np.testing.assert_allclose(out["pdms"], want, atol=1e-12)


# -- NC and TTC -----------------------------------------------------------------------------------
def test_free_road_scores_one() -> None:
    out = score(make_scene(), ego_states(v=20.0))
    for k in ("nc", "dac", "ttc", "ep", "comfort", "pdms"):
        assert out[k][0] == pytest.approx(1.0), k
    assert out["progress"][0] == pytest.approx(80.0)
    assert not out["collision"][0]
    assert not out["at_fault"][0]


def test_vehicle_2m_ahead_at_equal_speed_keeps_nc_and_ttc() -> None:
    """Spec 7.3 expects TTC = 0 here, but NAVSIM's TTC moves the ego box at constant velocity by
    0 to 0.9 s and tests it against the object *at that future step*: at equal speed both move
    the same distance, the 2 m gap never closes and NAVSIM's ``_calculate_ttc`` (which this
    scorer re-implements) gives 1. The TTC = 0 case is the closing vehicle below."""
    out = score(make_scene([vehicle(107.0, 4.0, 20.0)]), ego_states(v=20.0))
    assert out["nc"][0] == 1.0
    assert not out["collision"][0]
    assert out["ttc"][0] == 1.0
    assert_pdms_formula(out)


def test_ttc_vehicle_2m_ahead_closing_without_contact() -> None:
    # Lead 2 m ahead at 5 m/s, ego at 10 m/s braking at -8 m/s^2 until it matches the lead: the
    # gap shrinks by 25 / 16 = 1.56 m only (no contact), but the 0.9 s constant-velocity
    # projection at 10 m/s overruns the lead by 2.5 m.
    t_b = 5.0 / 8.0
    braking = np.less(TIME, t_b)
    v = np.where(braking, 10.0 - 8.0 * TIME, 5.0)
    s = np.where(
        braking, 10.0 * TIME - 4.0 * TIME**2, 10.0 * t_b - 4.0 * t_b**2 + 5.0 * (TIME - t_b)
    )
    ego = np.column_stack(
        [100.0 + s, np.full(T, 4.0), np.zeros(T), v, np.where(braking, -8.0, 0.0)]
    )
    lead = vehicle(107.0, 4.0, 5.0)
    gap = lead[0][:, 0] - ego[:, 0] - 5.0
    assert gap.min() > 0.4
    out = score(make_scene([lead]), ego)
    assert out["nc"][0] == 1.0
    assert not out["collision"][0]
    assert out["ttc"][0] == 0.0
    assert_pdms_formula(out)


def test_rear_ended_in_lane_is_not_at_fault() -> None:
    # A 20 m/s vehicle 2 m behind a 10 m/s ego drives into its rear (contact at 0.2 s).
    out = score(make_scene([vehicle(93.0, 4.0, 20.0)]), ego_states(v=10.0))
    assert out["collision"][0]
    assert out["nc"][0] == 1.0
    assert not out["at_fault"][0]
    assert_pdms_formula(out)


def test_front_hit_on_slower_vehicle_is_at_fault() -> None:
    # 20 m/s ego, 10 m/s vehicle with a 5 m gap: the ego's front edge hits it at 0.5 s.
    out = score(make_scene([vehicle(110.0, 4.0, 10.0)]), ego_states(v=20.0))
    assert out["collision"][0]
    assert out["at_fault"][0]
    assert out["nc"][0] == 0.0
    assert out["ttc"][0] == 0.0
    assert out["pdms"][0] == 0.0
    assert out["ep"][0] == 0.0  # unsafe, and the only row
    assert_pdms_formula(out)


def test_static_obstacle_hit_gives_half() -> None:
    # A static obstacle 25 m ahead of a 10 m/s ego: contact at 2.5 s.
    obstacle = vehicle(130.0, 4.0, 0.0)
    out = score(make_scene([obstacle], obstacle=[True]), ego_states(v=10.0))
    assert out["collision"][0]
    assert out["at_fault"][0]
    assert out["nc"][0] == 0.5
    # The same object as a stopped vehicle: a stopped-track collision counts fully.
    out_vehicle = score(make_scene([obstacle], obstacle=[False]), ego_states(v=10.0))
    assert out_vehicle["nc"][0] == 0.0
    assert_pdms_formula(out)


def test_stopped_ego_hit_is_not_at_fault() -> None:
    # A vehicle reversing (heading pi, 5 m/s toward -x) into the ego's front from 3 m away.
    oncoming = [vehicle(108.0, 4.0, 5.0, heading=np.pi)]
    stopped = score(make_scene(oncoming), ego_states(v=0.0))
    assert stopped["collision"][0]
    assert stopped["nc"][0] == 1.0
    assert not stopped["at_fault"][0]
    # Creeping forward at 0.5 m/s, the same contact is an active-front collision.
    moving = score(make_scene(oncoming), ego_states(v=0.5))
    assert moving["collision"][0]
    assert moving["nc"][0] == 0.0
    assert moving["at_fault"][0]


def test_lateral_contact_fault_depends_on_straddling() -> None:
    # A 4 m long vehicle alongside the ego (same x, same speed) drifts toward it at 1 m/s; its
    # box lies between the ego's bumpers, so the contact is lateral.
    def side_vehicle(y_ego: float):
        return vehicle(100.0, y_ego + 3.2, 10.0, vy=-1.0)

    in_lane = score(make_scene([side_vehicle(4.0)], length=[4.0]), ego_states(y0=4.0))
    assert in_lane["collision"][0]
    assert in_lane["nc"][0] == 1.0
    assert not in_lane["at_fault"][0]
    # Centred at y = 5.5 the ego's right corners (y = 6.5) are out of its lane (y <= 6).
    straddling = score(make_scene([side_vehicle(5.5)], length=[4.0]), ego_states(y0=5.5))
    assert straddling["collision"][0]
    assert straddling["nc"][0] == 0.0
    assert straddling["at_fault"][0]
    assert straddling["dac"][0] == 1.0
    assert_pdms_formula(in_lane)
    assert_pdms_formula(straddling)


def test_later_contacts_with_a_not_at_fault_object_are_ignored() -> None:
    # Rear-ended at 0.2 s; the faster vehicle then drives through the ego, its rear passing the
    # ego's front bumper later on. Only the first contact is classified.
    out = score(make_scene([vehicle(93.0, 4.0, 20.0)]), ego_states(v=10.0))
    assert out["nc"][0] == 1.0
    assert not out["at_fault"][0]


def _follower(ego: np.ndarray, offset: float):
    """A vehicle that copies the ego's motion ``offset`` m (centre to centre) along x."""
    pos = ego[:, :2] + np.array([offset, 0.0])
    return pos, np.zeros(T), ego[:, 3].copy()


def test_ttc_ignores_an_object_behind() -> None:
    # The ego speeds up from 1 to 5 m/s (1 m/s^2) with a vehicle 0.3 m behind copying its
    # motion: the 0.9 s constant-velocity projection lags the real ego by 0.405 m, so the
    # projected box overlaps the follower. As in NAVSIM the bearing is taken from the ego's
    # current pose to the object's future centre, which stays behind (v * 0.9 + 0.405 < 5.3),
    # so it does not count, also when the ego straddles two lanes.
    for y0 in (4.0, 5.5):
        ego = ego_states(y0=y0, v=1.0, a=1.0)
        out = score(make_scene([_follower(ego, -5.3)]), ego)
        assert not out["collision"][0]
        assert out["ttc"][0] == 1.0, y0
    # Mirror image: braking from 5 to 1 m/s behind a leader copying the motion 0.3 m ahead.
    ego = ego_states(v=5.0, a=-1.0)
    out = score(make_scene([_follower(ego, 5.3)]), ego)
    assert not out["collision"][0]
    assert out["nc"][0] == 1.0
    assert out["ttc"][0] == 0.0


def test_ttc_ignores_a_slow_rear_end() -> None:
    # A 5 m/s vehicle 1 m behind a 2 m/s ego: the projections meet it before the contact
    # (1/3 s) while its future centre is still behind the ego, so TTC stays 1.
    for y0 in (4.0, 5.5):
        out = score(make_scene([vehicle(100.0 - 6.0, y0, 5.0)]), ego_states(y0=y0, v=2.0))
        assert out["collision"][0]
        assert out["nc"][0] == 1.0
        assert out["ttc"][0] == 1.0, y0
    # The same closing speed with the slower vehicle ahead.
    out = score(make_scene([vehicle(106.0, 4.0, 2.0)]), ego_states(v=5.0))
    assert out["ttc"][0] == 0.0
    assert out["nc"][0] == 0.0


def test_ttc_skipped_for_stopped_ego() -> None:
    # A vehicle reverses into a standing ego's front: the projections of a standing ego meet it
    # before the contact, but TTC is not evaluated below 5e-3 m/s.
    oncoming = [vehicle(108.0, 4.0, 5.0, heading=np.pi)]
    out = score(make_scene(oncoming), ego_states(v=0.0))
    assert out["ttc"][0] == 1.0
    # At 0.01 m/s the ego still counts as stopped for NC (< 0.05 m/s) but TTC is evaluated.
    creeping = score(make_scene(oncoming), ego_states(v=0.01))
    assert creeping["nc"][0] == 1.0
    assert creeping["ttc"][0] == 0.0


def test_absent_objects_are_ignored() -> None:
    scene = make_scene([vehicle(110.0, 4.0, 10.0)])
    scene.present[:] = False
    out = score(scene, ego_states(v=20.0))
    assert not out["collision"][0]
    assert out["nc"][0] == 1.0
    assert out["ttc"][0] == 1.0


# -- DAC ------------------------------------------------------------------------------------------
def test_dac_corner_off_road_at_one_step() -> None:
    off = ego_states()
    off[20, 1] = 9.1  # right corners at y = 10.1: 0.1 m past the road edge (y = 10)
    edge = ego_states()
    edge[20, 1] = 8.9  # right corners at y = 9.9
    left = ego_states()
    left[5, 1] = -1.1  # left corners at y = -2.1
    out = score(make_scene(), off, edge, left, ego_states())
    np.testing.assert_array_equal(out["dac"], [0.0, 1.0, 0.0, 1.0])
    np.testing.assert_array_equal(out["pdms"][[0, 2]], 0.0)
    assert_pdms_formula(out)


def test_dac_rotated_box_corner_off_road() -> None:
    # Centred at y = 8.5 with heading 0.3: the front-right corner reaches
    # 8.5 + 2.5 sin(0.3) + 1 cos(0.3) = 10.19 > 10.
    ego = ego_states(y0=8.5)
    ego[10, 2] = 0.3
    assert score(make_scene(), ego)["dac"][0] == 0.0
    ego = ego_states(y0=8.0)  # the same pose 0.5 m further left reaches y = 9.69
    ego[10, 2] = 0.3
    assert score(make_scene(), ego)["dac"][0] == 1.0


# -- EP -------------------------------------------------------------------------------------------
def test_ep_below_progress_threshold() -> None:
    # All rows travel 4 m (< 5 m): EP is 1 for safe and 0 for unsafe rows.
    scene = make_scene([vehicle(108.5, 0.0, 0.0)])  # a stopped vehicle in lane 0
    safe = ego_states(y0=4.0, v=1.0)
    crash = ego_states(y0=0.0, v=1.0)  # front reaches 106.5 at 4 s: hits the vehicle's rear
    off_road = ego_states(y0=9.5, v=1.0)
    out = score(scene, safe, crash, off_road)
    np.testing.assert_allclose(out["progress"], 4.0, atol=1e-9)
    np.testing.assert_array_equal(out["nc"], [1.0, 0.0, 1.0])
    np.testing.assert_array_equal(out["dac"], [1.0, 1.0, 0.0])
    np.testing.assert_array_equal(out["ep"], [1.0, 0.0, 0.0])
    assert_pdms_formula(out)


def test_ep_is_progress_over_best_safe_progress() -> None:
    # Progress 40, 20, 80 m for safe rows; an off-road row travels 100 m but does not count in
    # the normalisation.
    rows = [ego_states(v=10.0), ego_states(v=5.0), ego_states(v=20.0), ego_states(y0=9.5, v=25.0)]
    out = score(make_scene(), *rows)
    np.testing.assert_allclose(out["progress"], [40.0, 20.0, 80.0, 100.0], atol=1e-9)
    np.testing.assert_allclose(out["ep"], [0.5, 0.25, 1.0, 0.0], atol=1e-12)
    assert_pdms_formula(out)


def test_ep_progress_is_clipped_at_zero() -> None:
    backward = ego_states(v=5.0, heading=np.pi)
    backward[:, 2] = 0.0  # a car reversing along the lane, still facing +x
    out = score(make_scene(), backward, ego_states(v=10.0))
    assert out["progress"][0] == 0.0
    np.testing.assert_allclose(out["ep"], [0.0, 1.0])


# -- comfort --------------------------------------------------------------------------------------
def _turning(v: float, yaw_rate: float) -> np.ndarray:
    heading = yaw_rate * TIME
    x = 100.0 + v / yaw_rate * np.sin(heading)
    y = 4.0 + v / yaw_rate * (1.0 - np.cos(heading))
    return np.column_stack([x, y, wrap_angle(heading), np.full(T, v), np.zeros(T)])


def test_comfort_bounds() -> None:
    rows = [
        ego_states(v=20.0, a=-5.0),  # lon accel -5 < -4.05
        ego_states(v=20.0),  # constant speed, straight
        ego_states(v=10.0, a=2.0),  # within [-4.05, 2.40]
        ego_states(v=10.0, a=3.0),  # above 2.40
        _turning(3.0, 1.2),  # yaw rate 1.2 > 0.95 (lateral accel 3.6 is fine)
        _turning(3.0, 0.8),  # yaw rate 0.8, heading wraps past pi: still comfortable
    ]
    out = score(make_scene(), *rows)
    np.testing.assert_array_equal(out["comfort"], [0.0, 1.0, 1.0, 0.0, 0.0, 1.0])
    assert_pdms_formula(out)


def test_pdms_formula_on_mixed_rows() -> None:
    scene = make_scene(
        [vehicle(110.0, 8.0, 10.0), vehicle(130.0, 0.0, 0.0, heading=0.0)], obstacle=[False, True]
    )
    rows = [
        ego_states(y0=4.0, v=15.0),
        ego_states(y0=8.0, v=20.0),  # hits the slower vehicle in lane 2
        ego_states(y0=0.0, v=12.0),  # hits the obstacle in lane 0
        ego_states(y0=4.0, v=20.0, a=-5.0),
        ego_states(y0=9.5, v=10.0),
    ]
    out = score(scene, *rows)
    assert set(out) == {
        "nc",
        "dac",
        "ttc",
        "ep",
        "comfort",
        "pdms",
        "progress",
        "collision",
        "at_fault",
    }
    assert all(v.shape == (5,) for v in out.values())
    np.testing.assert_array_equal(out["nc"], [1.0, 0.0, 0.5, 1.0, 1.0])
    assert_pdms_formula(out)
    assert np.all((out["pdms"] >= 0) & (out["pdms"] <= 1))


# -- route progress and bad input -----------------------------------------------------------------
def test_route_progress_hand_computed() -> None:
    route = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]])
    pts = np.array([[5.0, 1.0], [11.0, 4.0], [-3.0, 0.0], [12.0, 15.0], [2.0, -3.0]])
    np.testing.assert_allclose(route_progress(route, pts), [5.0, 14.0, 0.0, 20.0, 2.0])
    assert route_progress(route, pts.reshape(5, 1, 2)).shape == (5, 1)


def test_route_progress_straight_route() -> None:
    pts = np.array([[100.0, 4.0], [180.0, 7.0], [-30.0, 4.0]])
    np.testing.assert_allclose(route_progress(ROUTE, pts), [120.0, 200.0, 0.0], atol=1e-9)


def test_score_states_rejects_bad_shapes() -> None:
    scene = make_scene()
    with pytest.raises(ValueError, match=r"states must be \(R, 41, 5\)"):
        score_states(scene, np.zeros((2, 40, 5)))
    with pytest.raises(ValueError, match=r"got \(2, 41, 3\)"):
        score_states(scene, np.zeros((2, 41, 3)))


def _log(n_frames: int = 50, n_obj: int = 3) -> EpisodeLog:
    rng = np.random.default_rng(0)
    speed = np.tile(np.linspace(10.0, 15.0, n_frames)[:, None], (1, n_obj))
    pos = np.cumsum(speed * DT, axis=0)[..., None] * np.array([1.0, 0.0]) + rng.uniform(
        0, 1, size=(1, n_obj, 2)
    )
    decisions = np.arange(0, n_frames, 5)
    return EpisodeLog(
        scenario="highway",
        env_id="highway-v0",
        seed=0,
        pos=pos,
        heading=np.zeros((n_frames, n_obj)),
        speed=speed,
        present=np.ones((n_frames, n_obj), dtype=bool),
        crashed=np.zeros((n_frames, n_obj), dtype=bool),
        length=np.full(n_obj, 5.0),
        width=np.full(n_obj, 2.0),
        obstacle=np.zeros(n_obj, dtype=bool),
        status=np.zeros((n_frames, 11)),
        routes=np.stack([ROUTE + np.array([i, 0.0]) for i in range(len(decisions))]),
        decision_frames=decisions,
        lanes=LaneSet.straight_road(3),
    )


def test_scene_from_log_rejects_frames_without_future() -> None:
    log = _log(50)
    for t in (10, 49, -1):
        with pytest.raises(ValueError, match="future"):
            scene_from_log(log, t)
    scene = scene_from_log(log, 9)
    assert scene.pos.shape == (T, 2, 2)
    assert scene.present.shape == (T, 2)
    np.testing.assert_array_equal(scene.pos, log.pos[9:50, 1:])
    np.testing.assert_array_equal(scene.ego, [*log.pos[9, 0], 0.0, log.speed[9, 0]])
    assert scene.expert.shape == (T, 5)
    np.testing.assert_allclose(scene.expert[:-1, 4], np.diff(log.speed[9:50, 0]) / DT)
    np.testing.assert_array_equal(scene.route, log.routes[1])  # decision frame 5 <= 9
    assert scene_from_log(log, 0, with_expert=False).expert is None


# -- control --------------------------------------------------------------------------------------
def _reference(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(1, 40, 3) world poses at 0.1 ... 4.0 s from (41,) positions including t = 0."""
    heading = np.arctan2(np.gradient(y), np.gradient(x))
    return np.stack([x[1:], y[1:], heading[1:]], -1)[None]


def test_track_straight_constant_speed() -> None:
    ref = _reference(20.0 * TIME, np.zeros(T))
    out = track(np.array([0.0, 0.0, 0.0, 20.0]), ref)
    assert out.shape == (1, T, 5)
    np.testing.assert_allclose(out[0, :, 0], 20.0 * TIME, atol=0.05)
    np.testing.assert_allclose(out[0, :, 1], 0.0, atol=0.05)
    np.testing.assert_allclose(out[0, :, 3], 20.0, atol=0.05)


def test_track_lane_change() -> None:
    # 4 m to the right over 3 s (smooth cosine profile) at 20 m/s, then straight.
    y = 4.0 * np.where(TIME < 3.0, 0.5 * (1 - np.cos(np.pi * TIME / 3.0)), 1.0)
    ref = _reference(20.0 * TIME, y)
    out = track(np.array([0.0, 0.0, 0.0, 20.0]), ref)
    assert abs(out[0, -1, 1] - 4.0) < 0.5
    assert abs(out[0, -1, 0] - 80.0) < 1.0
    assert np.all(np.abs(out[0, :, 1] - y) < 1.0)


def test_track_stop_reference_never_reverses() -> None:
    # Several start states and stop references; one stays at the start point (stop at once).
    stop_at = 10.0 * np.minimum(TIME, 2.0) - 2.5 * np.minimum(TIME, 2.0) ** 2
    refs = np.concatenate(
        [_reference(stop_at, np.zeros(T)), _reference(np.full(T, 1e-3), np.zeros(T))]
    )
    for v0 in (10.0, 3.0, 0.0):
        out = track(np.array([0.0, 0.0, 0.0, v0]), refs)
        assert np.all(out[..., 3] >= 0.0), v0
        assert np.all(np.diff(out[..., 0], axis=-1) >= -1e-9), v0  # never moves backward
    out = track(np.array([0.0, 0.0, 0.0, 10.0]), refs[:1])
    assert out[0, -1, 3] < 0.5
    assert abs(out[0, -1, 0] - 10.0) < 1.0


def test_bicycle_step_zero_steering_moves_straight() -> None:
    x, y, psi, v = bicycle_step(
        np.array([1.0]),
        np.array([2.0]),
        np.array([0.3]),
        np.array([10.0]),
        np.array([0.5]),
        np.array([0.0]),
    )
    np.testing.assert_allclose(x, 1.0 + 10.0 * np.cos(0.3) * DT)
    np.testing.assert_allclose(y, 2.0 + 10.0 * np.sin(0.3) * DT)
    np.testing.assert_allclose(psi, 0.3)
    np.testing.assert_allclose(v, 10.0 + 0.5 * DT)
    # Distance travelled in one step is v * dt.
    assert float(np.hypot(x - 1.0, y - 2.0)[0]) == pytest.approx(10.0 * DT)


def test_bicycle_step_steering_turns_toward_positive_heading() -> None:
    _, y, psi, _ = bicycle_step(0.0, 0.0, 0.0, 10.0, 0.0, 0.2)
    assert psi > 0
    assert y > 0
    beta = np.arctan(0.5 * np.tan(0.2))
    assert psi == pytest.approx(10.0 * np.sin(beta) / 2.5 * DT)
