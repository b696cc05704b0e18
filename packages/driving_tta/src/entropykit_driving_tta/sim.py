"""highway-env scenarios, the 10 Hz simulation loop and the episode log.

The simulation is stepped directly through ``road.act(); road.step(dt)`` at 10 Hz (the rate of
NAVSIM's trajectories), which skips the environment's observation and reward code: we read the
road state ourselves with numpy. Every environment is created through gymnasium from the
``-v1`` IDs where they exist (connected-lane neighbour search); the straight highway has only a
``-v0`` ID and gets the same behaviour through ``neighbour_vehicles_connected_lanes=True``.

Shifts (train on ``highway``, test on the others):

========== ======================= ==========================================================
name       environment             what changes
========== ======================= ==========================================================
highway    highway-v0              3 lanes, 25 vehicles, density 1.0 (in-distribution)
dense      highway-v0              45 vehicles, density 1.75
aggressive highway-v0              drivers with short headways, eager cut-ins, hard braking
merge      merge-generic-v1        on-ramp merge, more vehicles
roundabout roundabout-generic-v1   two-lane roundabout
========== ======================= ==========================================================
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from entropykit_driving_tta.geometry import LaneSet, wrap_angle

DT = 0.1  # s, simulation and logging period
DECISION_EVERY = 5  # frames: decisions and NAVSIM poses at 2 Hz
HORIZON = 40  # poses (4 s at 10 Hz)
ROUTE_AHEAD = 150.0  # m of route centre line stored per decision frame
ROUTE_BEHIND = 20.0
ROUTE_STEP = 2.0
STATUS_FEATURES = (
    "speed",
    "accel",
    "lane_lateral",
    "heading_error",
    "lanes_left",
    "lanes_right",
    "edge_left",
    "edge_right",
    "cmd_left",
    "cmd_straight",
    "cmd_right",
)


def _require_highway_env() -> Any:
    try:
        import highway_env  # noqa: F401  (registers the environments)
    except ImportError as err:  # pragma: no cover - highway-env is a declared dependency
        raise ImportError(
            "entropykit-driving-tta needs highway-env: pip install 'highway-env==1.12.*'"
        ) from err
    import gymnasium

    return gymnasium


def _make_aggressive() -> type:
    from highway_env.vehicle.behavior import IDMVehicle

    class _Aggressive(IDMVehicle):
        TIME_WANTED = 0.8
        DISTANCE_WANTED = 6.0 + IDMVehicle.LENGTH
        LANE_CHANGE_MAX_BRAKING_IMPOSED = 6.0
        LANE_CHANGE_MIN_ACC_GAIN = 0.05
        COMFORT_ACC_MIN = -7.0

    _Aggressive.__name__ = _Aggressive.__qualname__ = "AggressiveIDMVehicle"
    _Aggressive.__module__ = __name__
    return _Aggressive


def __getattr__(name: str) -> Any:
    # highway-env resolves `other_vehicles_type` from a dotted path; the class is built on first
    # use so that importing this module does not import highway-env.
    if name == "AggressiveIDMVehicle":
        cls = _make_aggressive()
        globals()[name] = cls
        return cls
    raise AttributeError(name)


@dataclass(frozen=True)
class Scenario:
    """A highway-env environment and its configuration.

    Attributes:
        name: short name used in tables.
        env_id: a registered gymnasium ID of highway-env.
        config: environment config overrides (merged over the environment's defaults).
        duration: episode length in seconds.
        ego_speed: range of the expert's target speed (m/s), drawn per episode.
    """

    name: str
    env_id: str
    config: dict[str, Any] = field(default_factory=dict)
    duration: float = 30.0
    ego_speed: tuple[float, float] = (20.0, 30.0)

    def with_overrides(self, **config: Any) -> Scenario:
        return replace(self, config={**self.config, **config})


_HIGHWAY = {
    "lanes_count": 3,
    "vehicles_count": 25,
    "vehicles_density": 1.0,
    "neighbour_vehicles_connected_lanes": True,
}
SCENARIOS: dict[str, Scenario] = {
    "highway": Scenario("highway", "highway-v0", dict(_HIGHWAY)),
    "dense": Scenario(
        "dense", "highway-v0", {**_HIGHWAY, "vehicles_count": 45, "vehicles_density": 1.75}
    ),
    "aggressive": Scenario(
        "aggressive",
        "highway-v0",
        {**_HIGHWAY, "other_vehicles_type": f"{__name__}.AggressiveIDMVehicle"},
    ),
    "merge": Scenario(
        "merge", "merge-generic-v1", {"lanes_count": 2, "vehicles_count": 12}, duration=20.0
    ),
    "roundabout": Scenario(
        "roundabout", "roundabout-generic-v1", {"vehicles_count": 8}, 17.0, (8.0, 16.0)
    ),
}
SHIFTS = ("highway", "dense", "aggressive", "merge", "roundabout")


def get_scenario(name_or_scenario: str | Scenario) -> Scenario:
    """A scenario by name (see :data:`SCENARIOS`), or the scenario itself."""
    if isinstance(name_or_scenario, Scenario):
        return name_or_scenario
    if name_or_scenario not in SCENARIOS:
        raise ValueError(
            f"unknown scenario {name_or_scenario!r}; choose one of {sorted(SCENARIOS)}"
        )
    return SCENARIOS[name_or_scenario]


def highway_env_ids() -> list[str]:
    gym = _require_highway_env()
    return sorted(
        k
        for k, spec in gym.registry.items()
        if str(spec.entry_point).startswith("highway_env.") and "multi-agent" not in k
    )


def make_env(scenario: str | Scenario, seed: int) -> Any:
    """Create and reset the environment of a scenario (unwrapped ``AbstractEnv``), 10 Hz."""
    sc = get_scenario(scenario)
    gym = _require_highway_env()
    if sc.env_id not in gym.registry or not str(gym.registry[sc.env_id].entry_point).startswith(
        "highway_env."
    ):
        raise ValueError(
            f"unknown environment id {sc.env_id!r}; highway-env registers: "
            f"{', '.join(highway_env_ids())} (use the -v1 IDs where they exist)"
        )
    config = {"simulation_frequency": round(1 / DT), "policy_frequency": 2, **sc.config}
    env = gym.make(sc.env_id, config=config)
    env.reset(seed=int(seed))
    return env.unwrapped


def step_road(env: Any) -> None:
    """Advance the road by one 0.1 s frame."""
    env.road.act()
    env.road.step(DT)
    env.time += DT
    env.steps += 1


# -- ego status and route -----------------------------------------------------------------------
def route_polyline(env: Any, vehicle: Any) -> np.ndarray:
    """The vehicle's route centre line, (P, 2) points every 2 m from 20 m behind to 150 m ahead
    of its position, following its planned route through the road network (lane 0 offset)."""
    net = env.road.network
    index = vehicle.lane_index
    lane = net.get_lane(index)
    s0 = float(lane.local_coordinates(vehicle.position)[0])
    route = list(vehicle.route) if getattr(vehicle, "route", None) else None
    if route:  # drop the legs already driven (a tracking ego does not pop its route itself)
        here = [i for i, leg in enumerate(route) if tuple(leg[:2]) == tuple(index[:2])]
        route = route[here[0] :] if here else None
    rng = np.random.RandomState(0)
    n = int((ROUTE_AHEAD + ROUTE_BEHIND) / ROUTE_STEP) + 1
    pts = np.empty((n, 2))
    s = s0 - ROUTE_BEHIND
    for i in range(n):
        while s > lane.length:
            nxt = net.next_lane(
                index, route=route, position=lane.position(lane.length, 0), np_random=rng
            )
            if nxt == index:  # end of the network: extend the last lane straight
                break
            s -= lane.length
            index, lane = nxt, net.get_lane(nxt)
        pts[i] = lane.position(s, 0.0)
        s += ROUTE_STEP
    return pts


def route_command(route: np.ndarray) -> int:
    """0 left, 1 straight, 2 right: the route's heading change over the 40 m ahead."""
    i0 = int(ROUTE_BEHIND / ROUTE_STEP)
    i1 = min(i0 + int(40 / ROUTE_STEP), len(route) - 1)
    d0 = route[i0 + 1] - route[i0]
    d1 = route[i1] - route[i1 - 1]
    turn = float(wrap_angle(np.arctan2(d1[1], d1[0]) - np.arctan2(d0[1], d0[0])))
    return 0 if turn < -0.3 else 2 if turn > 0.3 else 1


def ego_status(env: Any, vehicle: Any, accel: float, route: np.ndarray) -> np.ndarray:
    """The ego-status vector (:data:`STATUS_FEATURES`) of a vehicle."""
    net = env.road.network
    index = vehicle.lane_index
    lane = net.get_lane(index)
    lon, lat = lane.local_coordinates(vehicle.position)
    heading_error = float(wrap_angle(vehicle.heading - lane.heading_at(lon)))
    n_side = len(net.all_side_lanes(index))
    lane_id = int(index[2])
    w = float(lane.width_at(lon))
    cmd = np.zeros(3)
    cmd[route_command(route)] = 1.0
    return np.array(
        [
            vehicle.speed,
            accel,
            lat,
            heading_error,
            lane_id,
            n_side - 1 - lane_id,
            lat + w / 2 + lane_id * w,
            (n_side - 1 - lane_id) * w + w / 2 - lat,
            *cmd,
        ],
        dtype=np.float64,
    )


# -- the episode log ---
LOG_ARRAYS = (
    "pos",
    "heading",
    "speed",
    "present",
    "crashed",
    "length",
    "width",
    "obstacle",
    "status",
    "routes",
    "decision_frames",
)


@dataclass
class EpisodeLog:
    """One episode at 10 Hz. Column 0 of every per-object array is the ego vehicle.

    Attributes:
        scenario, env_id, seed: where it came from.
        pos: (T, N, 2) positions (m); heading, speed: (T, N).
        present: (T, N) whether object n exists at frame t; crashed: (T, N).
        length, width: (N,) box sizes (m); obstacle: (N,) static obstacles.
        status: (T, len(STATUS_FEATURES)) ego status per frame.
        routes: (T_dec, P, 2) the ego's route centre line at each decision frame.
        decision_frames: (T_dec,) frame indices of the decisions (every 0.5 s).
        lanes: the road geometry.
        meta: free-form JSON-serialisable facts (versions, expert speed, ...).
    """

    scenario: str
    env_id: str
    seed: int
    pos: np.ndarray
    heading: np.ndarray
    speed: np.ndarray
    present: np.ndarray
    crashed: np.ndarray
    length: np.ndarray
    width: np.ndarray
    obstacle: np.ndarray
    status: np.ndarray
    routes: np.ndarray
    decision_frames: np.ndarray
    lanes: LaneSet
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return int(self.pos.shape[0])

    def route_at(self, frame: int) -> np.ndarray:
        """The route polyline of the decision frame at or before ``frame``."""
        i = int(np.searchsorted(self.decision_frames, frame, side="right")) - 1
        return self.routes[max(i, 0)]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        arrays = {k: getattr(self, k) for k in LOG_ARRAYS}
        head = {"scenario": self.scenario, "env_id": self.env_id, "seed": self.seed, **self.meta}
        np.savez_compressed(
            path, **arrays, **self.lanes.to_arrays(), header=np.asarray(json.dumps(head))
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> EpisodeLog:
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                head = json.loads(str(z["header"]))
                return cls(
                    scenario=head.pop("scenario"),
                    env_id=head.pop("env_id"),
                    seed=int(head.pop("seed")),
                    lanes=LaneSet.from_arrays(z),
                    meta=head,
                    **{k: np.asarray(z[k]) for k in LOG_ARRAYS},
                )
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(
                f"{path} is not an entropykit driving log ({err}); create logs with "
                "`entropykit-driving-tta collect`"
            ) from err


class Recorder:
    """Snapshots the road every frame and builds an :class:`EpisodeLog`."""

    def __init__(self, env: Any, ego: Any, scenario: Scenario, seed: int) -> None:
        self.env, self.ego, self.scenario, self.seed = env, ego, scenario, seed
        self._cols: dict[int, int] = {id(ego): 0}
        self._objs: list[Any] = [ego]
        self._frames: list[dict[int, tuple[float, float, float, float, bool]]] = []
        self._status: list[np.ndarray] = []
        self._routes: list[np.ndarray] = []
        self._decisions: list[int] = []
        self._last_route: np.ndarray | None = None
        self._last_speed = float(ego.speed)
        self.lanes = LaneSet.from_network(env.road.network)

    def snapshot(self) -> None:
        frame: dict[int, tuple[float, float, float, float, bool]] = {}
        for obj in [*self.env.road.vehicles, *self.env.road.objects]:
            key = id(obj)
            if key not in self._cols:
                self._cols[key] = len(self._objs)
                self._objs.append(obj)
            x, y = obj.position
            frame[self._cols[key]] = (
                float(x),
                float(y),
                float(obj.heading),
                float(getattr(obj, "speed", 0.0)),
                bool(obj.crashed),
            )
        t = len(self._frames)
        self._frames.append(frame)
        if t % DECISION_EVERY == 0 or self._last_route is None:
            self._last_route = route_polyline(self.env, self.ego)
            if t % DECISION_EVERY == 0:
                self._routes.append(self._last_route)
                self._decisions.append(t)
        accel = (float(self.ego.speed) - self._last_speed) / DT if t else 0.0
        self._last_speed = float(self.ego.speed)
        self._status.append(ego_status(self.env, self.ego, accel, self._last_route))

    def current_state(self) -> dict[str, np.ndarray]:
        """The last snapshot as arrays over every object seen so far (ego first)."""
        frame = self._frames[-1]
        n = len(self._objs)
        out = {
            "pos": np.zeros((n, 2)),
            "heading": np.zeros(n),
            "speed": np.zeros(n),
            "present": np.zeros(n, dtype=bool),
            "length": np.array([float(o.LENGTH) for o in self._objs]),
            "width": np.array([float(o.WIDTH) for o in self._objs]),
        }
        for c, (x, y, h, v, _) in frame.items():
            out["pos"][c] = (x, y)
            out["heading"][c], out["speed"][c], out["present"][c] = h, v, True
        t = len(self._frames) - 1
        out["status"] = self._status[-1]
        out["past_speeds"] = np.array(
            [self._status[max(t - DECISION_EVERY * (i + 1), 0)][0] for i in range(3)]
        )
        return out

    def log(self, meta: dict[str, Any] | None = None) -> EpisodeLog:
        import highway_env

        t_n, n = len(self._frames), len(self._objs)
        pos = np.zeros((t_n, n, 2))
        heading = np.zeros((t_n, n))
        speed = np.zeros((t_n, n))
        present = np.zeros((t_n, n), dtype=bool)
        crashed = np.zeros((t_n, n), dtype=bool)
        for t, frame in enumerate(self._frames):
            for c, (x, y, h, v, cr) in frame.items():
                pos[t, c] = (x, y)
                heading[t, c], speed[t, c], present[t, c], crashed[t, c] = h, v, True, cr
        from highway_env.vehicle.objects import Obstacle

        return EpisodeLog(
            scenario=self.scenario.name,
            env_id=self.scenario.env_id,
            seed=int(self.seed),
            pos=pos,
            heading=heading,
            speed=speed,
            present=present,
            crashed=crashed,
            length=np.array([float(o.LENGTH) for o in self._objs]),
            width=np.array([float(o.WIDTH) for o in self._objs]),
            obstacle=np.array([isinstance(o, Obstacle) for o in self._objs]),
            status=np.asarray(self._status),
            routes=np.asarray(self._routes),
            decision_frames=np.asarray(self._decisions, dtype=np.int64),
            lanes=self.lanes,
            meta={"highway_env": highway_env.__version__, **(meta or {})},
        )
