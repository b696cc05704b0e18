"""Closed-loop driving: the planner drives the ego in highway-env, replanning at 2 Hz.

The ego is a trajectory-tracking vehicle (see ``control.trajectory_vehicle_class``) that
follows the chosen vocabulary entry with the scorer's controller; the other vehicles are
highway-env's IDM/MOBIL drivers and react to it. An episode ends at the first collision, at
the end of the road, or after ``duration`` seconds. The first collision is classified with
NAVSIM's rules (rear-ended while in lane = not at fault), since highway-env's drivers
rear-end braking vehicles and raw crash counts are not a fair safety metric.

The safety suite (``hwsafe``, the analogue of the paper's per-scenario navsafe) scripts one
critical event per episode: a forced cut-in, a lead vehicle braking hard to a stop, a stopped
vehicle in the ego's lane, a forced on-ramp merge, and a roundabout entry with fast traffic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from entropykit_driving_tta.centaur import Planner
from entropykit_driving_tta.control import trajectory_vehicle_class
from entropykit_driving_tta.features import DECISION_EVERY, state_features
from entropykit_driving_tta.geometry import box_corners, to_ego_frame
from entropykit_driving_tta.scoring import (
    CONTACT_TYPES,
    EGO_LENGTH,
    EGO_WIDTH,
    ScoringConfig,
    classify_contacts,
    route_progress,
    scene_from_log,
    score_states,
)
from entropykit_driving_tta.sim import (
    DT,
    HORIZON,
    EpisodeLog,
    Recorder,
    Scenario,
    get_scenario,
    make_env,
    step_road,
)


# -- the safety suite ---------------------------------------------------------------------------
def _lane_vehicles(env: Any, ego: Any, lane_offset: int) -> list[tuple[float, Any]]:
    """Vehicles in the lane ``lane_offset`` lanes right of the ego's (sorted by distance ahead)."""
    net = env.road.network
    f, t, i = ego.lane_index
    n = len(net.graph[f][t])
    j = i + lane_offset
    if not 0 <= j < n:
        return []
    lane = net.get_lane((f, t, j))
    s_ego = lane.local_coordinates(ego.position)[0]
    out = []
    for v in env.road.vehicles:
        if v is ego or v.lane_index != (f, t, j):
            continue
        out.append((lane.local_coordinates(v.position)[0] - s_ego, v))
    return sorted(out, key=lambda x: x[0])


def _cut_in(env: Any, ego: Any, t: int) -> None:
    if t != 20:  # 2 s in
        return
    for side in (-1, 1):
        for gap, v in _lane_vehicles(env, ego, side):
            if 8.0 <= gap <= 25.0 and hasattr(v, "target_lane_index"):
                v.target_lane_index = ego.lane_index
                v.LANE_CHANGE_DELAY = 1e9  # stay committed to the cut-in
                return


def _hard_brake(env: Any, ego: Any, t: int) -> None:
    if t != 20:
        return
    ahead = [(g, v) for g, v in _lane_vehicles(env, ego, 0) if g > 0]
    if ahead and hasattr(ahead[0][1], "target_speed"):
        ahead[0][1].target_speed = 0.0


def _stopped_vehicle(env: Any, ego: Any, t: int) -> None:
    if t != 0:
        return
    from highway_env.vehicle.objects import Obstacle

    lane = env.road.network.get_lane(ego.lane_index)
    s = lane.local_coordinates(ego.position)[0] + 70.0
    env.road.objects.append(Obstacle(env.road, lane.position(s, 0.0), lane.heading_at(s)))


SAFETY: dict[str, tuple[str, Callable[[Any, Any, int], None] | None, dict[str, Any]]] = {
    "cut_in": ("highway", _cut_in, {}),
    "hard_brake": ("highway", _hard_brake, {}),
    "stopped_vehicle": ("highway", _stopped_vehicle, {}),
    "forced_merge": ("merge", None, {"vehicles_count": 16}),
    "roundabout_entry": ("roundabout", None, {"vehicles_count": 12}),
}


def safety_scenario(name: str) -> tuple[Scenario, Callable[[Any, Any, int], None] | None]:
    """The scenario and event script of one safety-suite case."""
    if name not in SAFETY:
        raise ValueError(f"unknown safety scenario {name!r}; choose one of {sorted(SAFETY)}")
    base, script, overrides = SAFETY[name]
    sc = get_scenario(base)
    sc = Scenario(name, sc.env_id, {**sc.config, **overrides}, sc.duration, sc.ego_speed)
    return sc, script


# -- episodes -----------------------------------------------------------------------------------
@dataclass
class EpisodeResult:
    """One closed-loop episode.

    Attributes:
        metrics: at_fault (bool), collision (bool), collision_type, duration (s),
            progress (m), min_ttc (s, inf if never closing), ttc_violation, comfort_violation
            and offroad (fractions of realised windows / frames), mean_h (cluster entropy).
        log: the realised episode.
        decisions: the planner's per-decision records.
    """

    scenario: str
    seed: int
    policy: str
    metrics: dict[str, Any]
    log: EpisodeLog
    decisions: list[dict[str, Any]] = field(default_factory=list)
    plans: list[tuple[int, int]] = field(default_factory=list)


def _lead_ttc(log: EpisodeLog, t: int) -> float:
    """Time to collision (s) with the nearest object ahead in the ego's corridor (|y| < 2 m)."""
    others = np.nonzero(log.present[t, 1:])[0] + 1
    if not len(others):
        return float("inf")
    rel = to_ego_frame(log.pos[t, others], log.pos[t, 0], log.heading[t, 0])
    ahead = (rel[:, 0] > 0) & (np.abs(rel[:, 1]) < 2.0)
    if not ahead.any():
        return float("inf")
    j = others[ahead][np.argmin(rel[ahead, 0])]
    gap = float(rel[ahead, 0].min()) - (log.length[0] + log.length[j]) / 2
    dh = log.heading[t, j] - log.heading[t, 0]
    closing = log.speed[t, 0] - log.speed[t, j] * np.cos(dh)
    return max(gap, 0.0) / closing if closing > 1e-6 else float("inf")


def _first_contact(log: EpisodeLog, t: int, cfg: ScoringConfig) -> tuple[str, bool]:
    """Type and fault of the ego's collision at frame t (the crashed object nearest to it)."""
    cand = np.nonzero(log.present[t, 1:] & log.crashed[t, 1:])[0] + 1
    if not len(cand):
        cand = np.nonzero(log.present[t, 1:])[0] + 1
    d = np.hypot(*(log.pos[t, cand] - log.pos[t, 0]).T)
    j = cand[np.argmin(d)]
    tp = max(t - 1, 0)  # the state before the impact displaced the boxes
    corners = box_corners(log.pos[tp, 0], log.heading[tp, 0], EGO_LENGTH, EGO_WIDTH)
    risky = bool(
        (~log.lanes.drivable(corners)).any()
        or log.lanes.multi_lane(corners[None], log.pos[tp, 0][None])[0]
    )
    kind, fault = classify_contacts(
        log.pos[tp, 0], log.heading[tp, 0], log.speed[tp, 0],
        log.pos[tp, j], log.heading[tp, j], log.speed[tp, j],
        log.length[j], log.width[j], np.asarray(risky), cfg, inflate=0.5,
    )  # fmt: skip
    return CONTACT_TYPES[int(kind)], bool(fault)


def episode_metrics(
    log: EpisodeLog, crashed_at: int | None, cfg: ScoringConfig | None = None
) -> dict[str, Any]:
    """Safety and progress metrics of a realised episode."""
    cfg = cfg or ScoringConfig()
    corners = box_corners(log.pos[:, 0], log.heading[:, 0], EGO_LENGTH, EGO_WIDTH)
    offroad = float((~log.lanes.drivable(corners).all(-1)).mean())
    ttc = [_lead_ttc(log, t) for t in range(log.n_frames)]
    windows = [t for t in range(0, log.n_frames - HORIZON, DECISION_EVERY)]
    ttc_bad = comfort_bad = 0
    for t in windows:
        sl = slice(t, t + HORIZON + 1)
        acc = np.append(np.diff(log.speed[sl, 0]) / DT, 0.0)
        states = np.column_stack([log.pos[sl, 0], log.heading[sl, 0], log.speed[sl, 0], acc])[None]
        sc = score_states(scene_from_log(log, t, with_expert=False), states, cfg)
        ttc_bad += int(sc["ttc"][0] == 0)
        comfort_bad += int(sc["comfort"][0] == 0)
    # Progress: summed along the route polyline stored at each decision frame (each covers
    # 150 m ahead, more than 0.5 s of driving).
    marks = [*log.decision_frames.tolist(), log.n_frames - 1]
    progress = 0.0
    for i in range(len(marks) - 1):
        s = route_progress(log.routes[i], log.pos[[marks[i], marks[i + 1]], 0])
        progress += max(float(s[1] - s[0]), 0.0)
    out: dict[str, Any] = {
        "collision": crashed_at is not None,
        "at_fault": False,
        "collision_type": "",
        "duration": (log.n_frames - 1) * DT,
        "progress": progress,
        "min_ttc": float(min(ttc)) if ttc else float("inf"),
        "ttc_violation": ttc_bad / max(len(windows), 1),
        "comfort_violation": comfort_bad / max(len(windows), 1),
        "offroad": offroad,
    }
    if crashed_at is not None:
        out["collision_type"], out["at_fault"] = _first_contact(log, crashed_at, cfg)
    return out


def run_episode(
    scenario: str | Scenario,
    seed: int,
    policy: Planner | str,
    duration: float | None = None,
    script: Callable[[Any, Any, int], None] | None = None,
    cfg: ScoringConfig | None = None,
) -> EpisodeResult:
    """One closed-loop episode with a planner, or with ``"idm"`` (highway-env's IDM/MOBIL
    driving the ego: the expert row)."""
    from highway_env.vehicle.behavior import IDMVehicle

    sc = get_scenario(scenario)
    env = make_env(sc, seed)
    old = env.vehicle
    rng = np.random.default_rng([int(seed), 7])
    target = float(rng.uniform(*sc.ego_speed))
    if isinstance(policy, str):
        if policy != "idm":
            raise ValueError(f"policy must be a Planner or 'idm', got {policy!r}")
        ego = IDMVehicle.create_from(old)
        ego.target_speed = target
        name = "idm_expert"
    else:
        cls = trajectory_vehicle_class()
        ego = cls(env.road, old.position.copy(), old.heading, old.speed)
        ego.route = list(old.route) if getattr(old, "route", None) else None
        name = policy.cfg.method
        policy.reset()
    env.road.vehicles[env.road.vehicles.index(old)] = ego
    env.controlled_vehicles = [ego]
    rec = Recorder(env, ego, sc, seed)
    n_frames = round((duration or sc.duration) / DT) + 1
    decisions: list[dict[str, Any]] = []
    plans: list[tuple[int, int]] = []
    crashed_at = None
    if script is not None:
        script(env, ego, 0)
    rec.snapshot()
    for t in range(n_frames - 1):
        if not isinstance(policy, str) and t % DECISION_EVERY == 0:
            state = rec.current_state()
            agents, status = state_features(
                state["pos"], state["heading"], state["speed"], state["present"],
                state["length"], state["width"], state["status"], state["past_speeds"],
            )  # fmt: skip
            t0 = time.perf_counter()
            choice, info = policy.plan(agents, status)
            info["ms"] = 1000 * (time.perf_counter() - t0)
            info["frame"] = t
            decisions.append(info)
            plans.append((t, choice))
            ego.set_plan(policy.vocab.poses[choice])
        if script is not None:
            script(env, ego, t)
        step_road(env)
        rec.snapshot()
        if ego.crashed:
            crashed_at = t + 1
            break
        corners = box_corners(ego.position, ego.heading, EGO_LENGTH, EGO_WIDTH)
        if not rec.lanes.drivable(corners).any():  # left the road entirely
            break
    log = rec.log({"policy": name})
    metrics = episode_metrics(log, crashed_at, cfg)
    if decisions:
        metrics["mean_h"] = float(np.mean([d["h_before"] for d in decisions]))
        metrics["ms_per_decision"] = float(np.mean([d["ms"] for d in decisions]))
    return EpisodeResult(sc.name, int(seed), name, metrics, log, decisions, plans)


def wilson(k: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion k / n."""
    if n == 0:
        return float("nan"), float("nan")
    p = k / n
    den = 1 + z**2 / n
    mid = (p + z**2 / (2 * n)) / den
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / den
    return float(mid - half), float(mid + half)


def mcnemar_exact(a: Sequence[bool], b: Sequence[bool]) -> float:
    """Exact McNemar p-value for paired binary outcomes (same seeds)."""
    from scipy.stats import binomtest

    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    n01 = int((a & ~b).sum())
    n10 = int((~a & b).sum())
    if n01 + n10 == 0:
        return 1.0
    return float(binomtest(n01, n01 + n10, 0.5).pvalue)


def closed_loop_table(
    results: dict[str, list[EpisodeResult]], base: str = "none"
) -> list[dict[str, Any]]:
    """One row per policy: at-fault and any-collision rates with Wilson 95% CIs, McNemar p
    against ``base`` on paired seeds, progress, min TTC, violation rates."""
    rows = []
    ref = {r.seed: r.metrics["at_fault"] for r in results.get(base, [])}
    for name, rs in results.items():
        n = len(rs)
        k = sum(r.metrics["at_fault"] for r in rs)
        lo, hi = wilson(k, n)
        row: dict[str, Any] = {
            "policy": name,
            "episodes": n,
            "at_fault_rate": k / n if n else float("nan"),
            "at_fault_lo": lo,
            "at_fault_hi": hi,
            "collision_rate": sum(r.metrics["collision"] for r in rs) / max(n, 1),
            "progress_m": float(np.mean([r.metrics["progress"] for r in rs])),
            "min_ttc_median_s": float(np.median([r.metrics["min_ttc"] for r in rs])),
            "ttc_violation": float(np.mean([r.metrics["ttc_violation"] for r in rs])),
            "comfort_violation": float(np.mean([r.metrics["comfort_violation"] for r in rs])),
            "offroad": float(np.mean([r.metrics["offroad"] for r in rs])),
        }
        if ref and name != base:
            paired = [(r.metrics["at_fault"], ref[r.seed]) for r in rs if r.seed in ref]
            if paired:
                a, b = zip(*paired, strict=True)
                row["mcnemar_p"] = mcnemar_exact(a, b)
        rows.append(row)
    return rows
