"""The teacher scorer: NAVSIM v1's PDM score for every vocabulary entry at once, in numpy.

Each entry is tracked from the current ego state (:func:`entropykit_driving_tta.control.track`)
and scored against the other objects' logged futures (non-reactive, as in NAVSIM):

- **NC** (no at-fault collision, {0, 0.5, 1}): the first contact with each object is
  classified as NAVSIM does: stopped ego (not at fault), stopped object (at fault), the ego's
  front bumper in the object (active front, at fault), its rear bumper (active rear, not at
  fault), otherwise lateral, at fault only when the ego straddles lanes or is off the road.
  Later contacts with an object already hit are ignored. 0 for vehicles, 0.5 for static
  obstacles.
- **DAC** ({0, 1}): every corner of the ego box on a lane at every step.
- **TTC** ({0, 1}): at each step the ego box is moved ahead at constant velocity by
  0, 0.3, 0.6 and 0.9 s and tested against the objects at that future step; a hit counts when
  the object is ahead (bearing within 30 degrees) or when the ego straddles lanes or is off the
  road and the object is not behind. Skipped below 5e-3 m/s and for objects already hit.
- **EP** ([0, 1]): progress along the route centre line (clipped at 0) times NC * DAC, divided
  by the largest such progress among all scored trajectories (the vocabulary plus the
  expert's logged future, NAVSIM's PDM-Closed reference) when that exceeds 5 m; otherwise 1
  for a safe and 0 for an unsafe trajectory.
- **C** ({0, 1}): NAVSIM's six comfort bounds on Savitzky-Golay derivatives.
- **PDMS** = NC * DAC * (5 TTC + 5 EP + 2 C) / 12.

The 30-degree "ahead" tolerance and the Savitzky-Golay windows are configurable
(:class:`ScoringConfig`); NAVSIM inherits them from nuPlan and they are not documented there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import savgol_filter

from entropykit_driving_tta.control import plan_to_world, track
from entropykit_driving_tta.geometry import LaneSet, box_corners, boxes_overlap, wrap_angle
from entropykit_driving_tta.sim import DT, HORIZON, EpisodeLog

METRICS = ("nc", "dac", "ttc", "ep", "comfort")
EGO_LENGTH, EGO_WIDTH = 5.0, 2.0


@dataclass(frozen=True)
class ScoringConfig:
    """NAVSIM v1 scoring parameters.

    Attributes:
        ttc_offsets: constant-velocity look-ahead times (s).
        ahead_angle_deg: an object is "ahead" when its bearing from the ego heading is within
            this angle, "behind" within this angle of the reverse heading.
        stopped_speed: m/s below which the ego or an object counts as stopped.
        ttc_min_speed: m/s below which TTC is not evaluated.
        progress_threshold: m; below it EP is 1 (safe) / 0 (unsafe).
        weights: weighted-average weights of TTC, EP and comfort.
        comfort bounds: lon accel [min, max], |lat accel|, |jerk|, |lon jerk|, |yaw accel|,
            |yaw rate| (NAVSIM's values).
        window_rate, window_accel: Savitzky-Golay windows (poses) for first and second
            derivatives (polynomial order 2).
        lane_radius: m; only lanes within this distance of the ego are tested.
    """

    ttc_offsets: tuple[float, ...] = (0.0, 0.3, 0.6, 0.9)
    ahead_angle_deg: float = 30.0
    stopped_speed: float = 0.05
    ttc_min_speed: float = 5e-3
    progress_threshold: float = 5.0
    weights: dict[str, float] = field(
        default_factory=lambda: {"ttc": 5.0, "ep": 5.0, "comfort": 2.0}
    )
    lon_accel: tuple[float, float] = (-4.05, 2.40)
    lat_accel: float = 4.89
    jerk: float = 8.37
    lon_jerk: float = 4.13
    yaw_accel: float = 1.93
    yaw_rate: float = 0.95
    window_rate: int = 8
    window_accel: int = 15
    lane_radius: float = 200.0


@dataclass
class Scene:
    """What the scorer needs at one decision frame.

    Attributes:
        ego: (4,) x, y, heading, speed now.
        pos: (41, N, 2), heading, speed: (41, N) other objects now and over the next 4 s.
        present: (41, N); length, width: (N,); obstacle: (N,) static objects.
        lanes: road geometry; route: (P, 2) the ego's route centre line.
        expert: (41, 5) the logged ego states (x, y, heading, speed, accel) or None.
    """

    ego: np.ndarray
    pos: np.ndarray
    heading: np.ndarray
    speed: np.ndarray
    present: np.ndarray
    length: np.ndarray
    width: np.ndarray
    obstacle: np.ndarray
    lanes: LaneSet
    route: np.ndarray
    expert: np.ndarray | None = None


def scene_from_log(log: EpisodeLog, t: int, with_expert: bool = True) -> Scene:
    """The scene at frame ``t`` (needs 4 s of logged future)."""
    if not 0 <= t <= log.n_frames - HORIZON - 1:
        raise ValueError(
            f"frame {t} has no 4-s future in a log of {log.n_frames} frames "
            f"(valid: 0..{log.n_frames - HORIZON - 1})"
        )
    sl = slice(t, t + HORIZON + 1)
    others = np.arange(1, log.pos.shape[1])
    expert = None
    if with_expert:
        v = log.speed[sl, 0]
        acc = np.append(np.diff(v) / DT, 0.0)
        expert = np.column_stack([log.pos[sl, 0], log.heading[sl, 0], v, acc])
    ego = np.array([*log.pos[t, 0], log.heading[t, 0], log.speed[t, 0]])
    return Scene(
        ego=ego,
        pos=log.pos[sl][:, others],
        heading=log.heading[sl][:, others],
        speed=log.speed[sl][:, others],
        present=log.present[sl][:, others],
        length=log.length[others],
        width=log.width[others],
        obstacle=log.obstacle[others],
        lanes=log.lanes.subset(ego[:2], 200.0),
        route=log.route_at(t),
        expert=expert,
    )


def route_progress(route: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Arc length (m) of the projection of points (..., 2) on a polyline (P, 2)."""
    a, b = route[:-1], route[1:]
    seg = b - a
    seg_len = np.hypot(seg[:, 0], seg[:, 1])
    cum = np.concatenate([[0.0], np.cumsum(seg_len)])[:-1]
    p = np.asarray(points, dtype=np.float64)[..., None, :]
    u = np.clip(np.sum((p - a) * seg, -1) / np.maximum(seg_len**2, 1e-12), 0.0, 1.0)
    proj = a + u[..., None] * seg
    d = np.hypot(*np.moveaxis(p - proj, -1, 0))
    j = np.argmin(d, axis=-1)
    return cum[j] + np.take_along_axis(u, j[..., None], -1)[..., 0] * seg_len[j]


def _comfort(states: np.ndarray, cfg: ScoringConfig) -> np.ndarray:
    v = states[..., 3]
    psi = np.unwrap(states[..., 2], axis=-1)
    w1 = min(cfg.window_rate, v.shape[-1])
    w2 = min(cfg.window_accel, v.shape[-1])
    lon_acc = savgol_filter(v, w1, 2, deriv=1, delta=DT, axis=-1)
    yaw_rate = savgol_filter(psi, w1, 2, deriv=1, delta=DT, axis=-1)
    yaw_acc = savgol_filter(psi, w2, 2, deriv=2, delta=DT, axis=-1)
    lon_jerk = savgol_filter(v, w2, 2, deriv=2, delta=DT, axis=-1)
    lat_acc = v * yaw_rate
    lat_jerk = savgol_filter(lat_acc, w2, 2, deriv=1, delta=DT, axis=-1)
    ok = (
        (lon_acc >= cfg.lon_accel[0])
        & (lon_acc <= cfg.lon_accel[1])
        & (np.abs(lat_acc) <= cfg.lat_accel)
        & (np.hypot(lon_jerk, lat_jerk) <= cfg.jerk)
        & (np.abs(lon_jerk) <= cfg.lon_jerk)
        & (np.abs(yaw_acc) <= cfg.yaw_accel)
        & (np.abs(yaw_rate) <= cfg.yaw_rate)
    )
    return ok.all(axis=-1).astype(np.float64)


def _bearing(ego: np.ndarray, obj_xy: np.ndarray) -> np.ndarray:
    """|angle| (rad) of the object centre seen from the ego heading; ego (..., >=3)."""
    d = obj_xy - ego[..., None, :2]
    return np.abs(wrap_angle(np.arctan2(d[..., 1], d[..., 0]) - ego[..., None, 2]))


CONTACT_TYPES = ("stopped_ego", "stopped_track", "active_front", "active_rear", "active_lateral")


def classify_contacts(
    ego_xy: np.ndarray,
    ego_h: np.ndarray,
    ego_v: np.ndarray,
    obj_xy: np.ndarray,
    obj_h: np.ndarray,
    obj_v: np.ndarray,
    obj_len: np.ndarray,
    obj_w: np.ndarray,
    risky: np.ndarray,
    cfg: ScoringConfig | None = None,
    inflate: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """NAVSIM's collision type of ego-object contacts (arrays over contacts) and whether each
    is the ego's fault.

    Types index :data:`CONTACT_TYPES`: the ego stopped (not at fault); the object stopped (at
    fault); the ego's front bumper in the object (at fault); its rear bumper (not at fault);
    otherwise lateral, at fault when ``risky`` (the ego straddles lanes or is off the road).
    ``inflate`` grows the object box (m) for contacts measured after the simulator separated
    the boxes.
    """
    cfg = cfg or ScoringConfig()
    ego_h = np.asarray(ego_h, dtype=np.float64)
    u = np.stack([np.cos(ego_h), np.sin(ego_h)], -1)
    obj = (obj_xy, obj_h, np.asarray(obj_len) + inflate, np.asarray(obj_w) + inflate)
    front = boxes_overlap(ego_xy + u * EGO_LENGTH / 2, ego_h, 0.0, EGO_WIDTH, *obj)
    rear = boxes_overlap(ego_xy - u * EGO_LENGTH / 2, ego_h, 0.0, EGO_WIDTH, *obj)
    ego_stopped = np.asarray(ego_v) < cfg.stopped_speed
    obj_stopped = np.asarray(obj_v) < cfg.stopped_speed
    kind = np.where(
        ego_stopped, 0, np.where(obj_stopped, 1, np.where(front, 2, np.where(rear, 3, 4)))
    )
    fault = (kind == 1) | (kind == 2) | ((kind == 4) & np.asarray(risky, dtype=bool))
    return kind, fault


def score_states(scene: Scene, states: np.ndarray, cfg: ScoringConfig | None = None) -> dict:
    """Score tracked ego trajectories against a scene.

    Args:
        scene: the frame's objects, road and route.
        states: (R, 41, 5) ego states (x, y, heading, speed, accel) over 4 s.
        cfg: scoring parameters.

    Returns:
        dict of (R,) arrays: ``nc, dac, ttc, ep, comfort, pdms`` and ``progress`` (m),
        ``collision`` (bool: any contact), ``at_fault`` (bool).
    """
    cfg = cfg or ScoringConfig()
    states = np.asarray(states, dtype=np.float64)
    r, n_t = states.shape[:2]
    if n_t != HORIZON + 1 or states.shape[2] < 4:
        raise ValueError(f"states must be (R, {HORIZON + 1}, 5), got {states.shape}")
    xy, psi, v = states[..., :2], states[..., 2], states[..., 3]
    lanes = scene.lanes

    # Road: drivable corners, lane straddling.
    corners = box_corners(xy, psi, EGO_LENGTH, EGO_WIDTH)  # (R, T, 4, 2)
    on_road = lanes.drivable(corners).all(axis=-1)  # (R, T)
    multi = lanes.multi_lane(corners, xy)  # (R, T)
    risky = multi | ~on_road
    dac = on_road.all(axis=-1).astype(np.float64)

    # Contacts: prefilter by distance, exact SAT on the candidates.
    n_obj = scene.pos.shape[1]
    nc = np.ones(r)
    at_fault = np.zeros(r, dtype=bool)
    collision = np.zeros(r, dtype=bool)
    first_hit = np.full((r, n_obj), np.iinfo(np.int64).max)
    if n_obj:
        diag_e = np.hypot(EGO_LENGTH, EGO_WIDTH)
        diag_o = np.hypot(scene.length, scene.width)
        dist = np.hypot(*np.moveaxis(xy[:, :, None] - scene.pos[None], -1, 0))  # (R, T, N)
        cand = (dist <= (diag_e + diag_o) / 2 + 1e-6) & scene.present[None]
        ri, ti, ni = np.nonzero(cand)
        hit = boxes_overlap(
            xy[ri, ti], psi[ri, ti], EGO_LENGTH, EGO_WIDTH,
            scene.pos[ti, ni], scene.heading[ti, ni], scene.length[ni], scene.width[ni],
        )  # fmt: skip
        ri, ti, ni = ri[hit], ti[hit], ni[hit]
        np.minimum.at(first_hit, (ri, ni), ti)
        first = ti == first_hit[ri, ni]
        ri, ti, ni = ri[first], ti[first], ni[first]
        collision[ri] = True
        if len(ri):
            _, fault = classify_contacts(
                xy[ri, ti], psi[ri, ti], v[ri, ti],
                scene.pos[ti, ni], scene.heading[ti, ni], scene.speed[ti, ni],
                scene.length[ni], scene.width[ni], risky[ri, ti], cfg,
            )  # fmt: skip
            value = np.where(scene.obstacle[ni], 0.5, 0.0)
            np.minimum.at(nc, ri[fault], value[fault])
            at_fault[ri[fault]] = True

    # TTC: constant-velocity projections against the objects at the future step.
    ttc = np.ones(r)
    if n_obj:
        cos_a = np.cos(np.deg2rad(cfg.ahead_angle_deg))
        for off in cfg.ttc_offsets:
            k = round(off / DT)
            if k >= n_t:
                continue
            ts = np.arange(n_t - k)
            moving = v[:, ts] >= cfg.ttc_min_speed  # (R, Ts)
            u = np.stack([np.cos(psi[:, ts]), np.sin(psi[:, ts])], -1)
            proj = xy[:, ts] + u * (v[:, ts] * off)[..., None]
            opos = scene.pos[ts + k]  # (Ts, N, 2)
            dist = np.hypot(*np.moveaxis(proj[:, :, None] - opos[None], -1, 0))
            cand = (
                (dist <= (diag_e + diag_o) / 2 + 1e-6)
                & scene.present[ts + k][None]
                & moving[..., None]
                & (first_hit[:, None, :] > ts[None, :, None])
            )
            ri, ti, ni = np.nonzero(cand)
            if not len(ri):
                continue
            hit = boxes_overlap(
                proj[ri, ti], psi[ri, ts[ti]], EGO_LENGTH, EGO_WIDTH,
                opos[ti, ni], scene.heading[ts[ti] + k, ni], scene.length[ni], scene.width[ni],
            )  # fmt: skip
            ri, ti, ni = ri[hit], ti[hit], ni[hit]
            d = opos[ti, ni] - xy[ri, ts[ti]]
            cos_b = (d[:, 0] * np.cos(psi[ri, ts[ti]]) + d[:, 1] * np.sin(psi[ri, ts[ti]])) / (
                np.hypot(d[:, 0], d[:, 1]) + 1e-9
            )
            ahead = cos_b >= cos_a
            behind = cos_b <= -cos_a
            bad = ahead | (risky[ri, ts[ti]] & ~behind)
            ttc[ri[bad]] = 0.0

    # Progress along the route, normalised NAVSIM's way.
    s = route_progress(scene.route, xy[:, [0, -1]])
    progress = np.maximum(s[:, 1] - s[:, 0], 0.0)
    mult = nc * dac
    safe_progress = progress * mult
    best = safe_progress.max()
    if best > cfg.progress_threshold:
        ep = np.clip(safe_progress / best, 0.0, 1.0)
    else:
        ep = (mult > 0).astype(np.float64)

    comfort = _comfort(states, cfg)
    w = cfg.weights
    pdms = mult * (w["ttc"] * ttc + w["ep"] * ep + w["comfort"] * comfort) / sum(w.values())
    return {
        "nc": nc,
        "dac": dac,
        "ttc": ttc,
        "ep": ep,
        "comfort": comfort,
        "pdms": pdms,
        "progress": progress,
        "collision": collision,
        "at_fault": at_fault,
    }


def score_vocabulary(
    scene: Scene, poses: np.ndarray, cfg: ScoringConfig | None = None
) -> dict[str, np.ndarray]:
    """Teacher scores of every vocabulary entry (K, 40, 3 ego-frame poses) at a scene.

    The expert's logged future (when the scene has it) is scored with them, as NAVSIM scores
    the agent together with PDM-Closed: it takes part in the EP normalisation. Returns (K,)
    arrays (as :func:`score_states`) plus ``expert_*`` scalars for the expert's own window.
    """
    ref = plan_to_world(np.asarray(poses, dtype=np.float64), *scene.ego[:3])
    states = track(scene.ego, ref)
    if scene.expert is not None:
        states = np.concatenate([states, scene.expert[None]], axis=0)
    out = score_states(scene, states, cfg)
    if scene.expert is None:
        return out
    res = {k: v[:-1] for k, v in out.items()}
    res.update({f"expert_{k}": v[-1] for k, v in out.items()})
    return res
