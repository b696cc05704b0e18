"""Expert demonstrations: an IDM/MOBIL-driven ego in highway-env, logged at 10 Hz.

The ego is replaced after ``reset(seed)`` by highway-env's ``IDMVehicle`` (the "human driver"
analogue of NAVSIM's logs) with a target speed drawn per episode. Episodes whose ego crashes are
dropped and counted, so the expert data are clean.

Seed ranges keep the splits apart: training logs use seeds from 0, validation from
:data:`VAL_SEED0`, test from :data:`TEST_SEED0`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from entropykit_driving_tta.geometry import box_corners
from entropykit_driving_tta.parallel import pmap
from entropykit_driving_tta.sim import (
    EpisodeLog,
    Recorder,
    Scenario,
    get_scenario,
    make_env,
    step_road,
)

TRAIN_SEED0 = 0
VAL_SEED0 = 10_000
TEST_SEED0 = 20_000


@dataclass
class CollectResult:
    """Logs that were kept, and the dropped episodes (seed -> reason: the expert crashed, or
    highway-env's IDM rolled backwards while yielding)."""

    logs: list[EpisodeLog] = field(default_factory=list)
    dropped: dict[int, str] = field(default_factory=dict)

    @property
    def n_frames(self) -> int:
        return sum(lg.n_frames for lg in self.logs)


def expert_episode(scenario: str | Scenario, seed: int) -> EpisodeLog | str:
    """Run one expert episode: its log, or the reason it was dropped."""
    from highway_env.vehicle.behavior import IDMVehicle

    sc = get_scenario(scenario)
    env = make_env(sc, seed)
    rng = np.random.default_rng([int(seed), 7])
    old = env.vehicle
    ego = IDMVehicle.create_from(old)
    ego.target_speed = float(rng.uniform(*sc.ego_speed))
    env.road.vehicles[env.road.vehicles.index(old)] = ego
    env.controlled_vehicles = [ego]
    rec = Recorder(env, ego, sc, seed)
    lanes = rec.lanes
    n_frames = round(sc.duration / 0.1) + 1
    rec.snapshot()
    for _ in range(n_frames - 1):
        step_road(env)
        if ego.crashed:
            return "crashed"
        if ego.speed < -0.1:
            return "reversed"
        corners = box_corners(ego.position, ego.heading, ego.LENGTH, ego.WIDTH)
        if not lanes.drivable(corners).all():  # reached the end of the road
            break
        rec.snapshot()
    return rec.log({"policy": "idm_expert", "target_speed": ego.target_speed})


def _episode_job(args: tuple[Scenario, int]) -> tuple[int, EpisodeLog | str]:
    sc, seed = args
    return seed, expert_episode(sc, seed)


def collect(
    scenario: str | Scenario,
    seeds: Sequence[int],
    workers: int = 1,
    progress: bool = False,
) -> CollectResult:
    """Expert logs for the given episode seeds (crashed episodes dropped and counted).

    ``workers > 1`` runs episodes in that many processes; the result does not depend on it.
    """
    sc = get_scenario(scenario)
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("collect needs at least one episode seed")
    jobs = [(sc, s) for s in seeds]
    desc = f"collect {sc.name}" if progress else None
    out = CollectResult()
    for seed, lg in pmap(_episode_job, jobs, max(int(workers), 1), desc):
        if isinstance(lg, str):
            out.dropped[seed] = lg
        else:
            out.logs.append(lg)
    return out


def save_logs(logs: Sequence[EpisodeLog], folder: str | Path) -> list[Path]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    return [lg.save(folder / f"{lg.scenario}-{lg.seed:06d}.npz") for lg in logs]


def load_logs(folder: str | Path) -> list[EpisodeLog]:
    folder = Path(folder)
    files = sorted(folder.glob("*.npz")) if folder.is_dir() else []
    if not files:
        raise ValueError(
            f"no driving logs (*.npz) in {folder}; create them with "
            "`entropykit-driving-tta collect --out DIR`"
        )
    return [EpisodeLog.load(f) for f in files]
