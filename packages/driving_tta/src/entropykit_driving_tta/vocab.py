"""The trajectory vocabulary and its behaviour clusters.

Hydra-MDP scores a fixed vocabulary of K trajectories (40 poses of (x, y, heading), 4 s at
10 Hz, in the ego frame), built by k-means++ over human trajectories. Ours is built the same way
from expert windows plus perturbed manoeuvres (hard braking, stops, accelerations, forced lane
changes, constant-curvature turns), so that unsafe and low-speed options exist. Cluster Entropy
needs a fixed partition of the vocabulary into behaviours; the default is the manoeuvre grid
{left, keep, right} x {stop, slow, medium, fast}. Every checkpoint stores the vocabulary and its
hash, and a mismatch is an error.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from entropykit_driving_tta.geometry import to_ego_frame, wrap_angle
from entropykit_driving_tta.sim import DT, HORIZON, EpisodeLog

LATERAL = ("left", "keep", "right")
LONGITUDINAL = ("stop", "slow", "medium", "fast")


class VocabularyMismatchError(ValueError):
    """A checkpoint and a vocabulary (or two artefacts) disagree."""


@dataclass(frozen=True)
class Vocabulary:
    """K trajectories and their cluster ids.

    Attributes:
        poses: (K, 40, 3) float32 ego-frame (x forward, y right, heading) at 0.1 ... 4.0 s.
        clusters: (K,) int64 cluster id per entry, ids 0..C-1, every cluster non-empty.
        cluster_names: (C,) name of each cluster.
    """

    poses: np.ndarray
    clusters: np.ndarray
    cluster_names: tuple[str, ...]

    def __post_init__(self) -> None:
        p, c = np.asarray(self.poses), np.asarray(self.clusters)
        if p.ndim != 3 or p.shape[1:] != (HORIZON, 3):
            raise ValueError(f"vocabulary poses must be (K, {HORIZON}, 3), got {p.shape}")
        if c.shape != (p.shape[0],):
            raise ValueError(f"cluster ids must be ({p.shape[0]},), got {c.shape}")
        if not np.isfinite(p).all():
            raise ValueError("vocabulary poses contain NaN or inf")
        if len(self.cluster_names) != int(c.max()) + 1 or np.bincount(c).min() == 0:
            raise ValueError("cluster ids must be 0..C-1 with every cluster non-empty")

    @property
    def size(self) -> int:
        return int(self.poses.shape[0])

    @property
    def n_clusters(self) -> int:
        return len(self.cluster_names)

    @property
    def hash(self) -> str:
        """SHA-256 (first 16 hex digits) of the poses and cluster ids."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.poses, dtype=np.float32).tobytes())
        h.update(np.ascontiguousarray(self.clusters, dtype=np.int64).tobytes())
        h.update(json.dumps(list(self.cluster_names)).encode())
        return h.hexdigest()[:16]

    def subsampled(self, every: int = 5) -> np.ndarray:
        """(K, 40 / every, 3) poses at 2 Hz (NAVSIM's eight poses) by default."""
        return self.poses[:, every - 1 :: every]

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        np.savez(
            path,
            poses=self.poses.astype(np.float32),
            clusters=self.clusters.astype(np.int64),
            cluster_names=np.asarray(self.cluster_names),
        )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Vocabulary:
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(
                    poses=np.asarray(z["poses"], dtype=np.float32),
                    clusters=np.asarray(z["clusters"], dtype=np.int64),
                    cluster_names=tuple(str(n) for n in z["cluster_names"]),
                )
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"{path} is not a vocabulary file ({err})") from err

    def check_matches(self, expected_hash: str, what: str = "checkpoint") -> None:
        if self.hash != expected_hash:
            raise VocabularyMismatchError(
                f"the {what} was built for vocabulary {expected_hash}, but this vocabulary is "
                f"{self.hash} (K={self.size}); use the vocabulary stored in the {what}, or "
                "retrain with this one"
            )


# -- windows ------------------------------------------------------------------------------------
def expert_windows(logs: Sequence[EpisodeLog], stride: int = 5) -> np.ndarray:
    """(M, 40, 3) ego-frame future windows of the expert (ego column) every ``stride`` frames."""
    out = []
    for lg in logs:
        for t in range(0, lg.n_frames - HORIZON, stride):
            out.append(future_in_ego_frame(lg, t))
    if not out:
        raise ValueError("the logs are shorter than one 4-s window; collect longer episodes")
    return np.asarray(out)


def future_in_ego_frame(log: EpisodeLog, t: int, column: int = 0) -> np.ndarray:
    """(40, 3) poses of object ``column`` at t+0.1 ... t+4.0 s in its own frame at ``t``."""
    sl = slice(t + 1, t + 1 + HORIZON)
    xy = to_ego_frame(log.pos[sl, column], log.pos[t, column], log.heading[t, column])
    psi = wrap_angle(log.heading[sl, column] - log.heading[t, column])
    return np.concatenate([xy, psi[:, None]], axis=1)


def perturbed_windows(n: int, speeds: np.ndarray, seed: int, lane_width: float = 4.0) -> np.ndarray:
    """(n, 40, 3) synthetic manoeuvres from initial speeds drawn from ``speeds``.

    A third brake or accelerate on a piecewise-constant profile in [-6, 3] m/s^2 (a quarter of
    them to a stop), a third change one or two lanes while doing so, a third drive a constant
    yaw rate of up to 6 m/s^2 lateral acceleration (curved roads). Speeds never go negative.
    """
    rng = np.random.default_rng([int(seed), 11])
    t = np.arange(1, HORIZON + 1) * DT
    v0 = rng.choice(np.asarray(speeds, dtype=np.float64), size=n) * rng.uniform(0.8, 1.2, n)
    kind = rng.integers(0, 3, n)
    a1 = rng.uniform(-6.0, 3.0, n)
    a2 = rng.uniform(-6.0, 3.0, n)
    switch = rng.uniform(0.5, 3.5, n)
    stop = rng.random(n) < 0.25
    a1 = np.where(stop, -rng.uniform(3.0, 6.0, n), a1)
    a2 = np.where(stop, a1, a2)
    acc = np.where(t[None] < switch[:, None], a1[:, None], a2[:, None])
    v = np.maximum(v0[:, None] + np.cumsum(acc * DT, axis=1), 0.0)
    # Turns up to 6 m/s^2 of lateral acceleration (at most 0.8 rad/s): roundabout curvature at
    # low speed, gentle curves at highway speed.
    max_rate = np.minimum(0.8, 6.0 / np.maximum(v0, 1e-3))
    yaw_rate = np.where(kind == 2, rng.uniform(-1.0, 1.0, n) * max_rate, 0.0)
    psi = np.cumsum(yaw_rate[:, None] * np.ones_like(t)[None] * DT, axis=1)
    x = np.cumsum(v * np.cos(psi) * DT, axis=1)
    y = np.cumsum(v * np.sin(psi) * DT, axis=1)
    # Lane changes: a smooth lateral offset profile added in the lane frame.
    lanes = rng.choice([-2, -1, 1, 2], size=n) * lane_width
    dur = rng.uniform(2.0, 4.0, n)
    start = rng.uniform(0.0, 0.8, n)
    tau = np.clip((t[None] - start[:, None]) / dur[:, None], 0.0, 1.0)
    lat = np.where(kind[:, None] == 1, lanes[:, None] * (1 - np.cos(np.pi * tau)) / 2, 0.0)
    y = y + lat
    # Heading from the direction of motion (kept when nearly stopped).
    dx = np.diff(np.concatenate([np.zeros((n, 1)), x], axis=1), axis=1)
    dy = np.diff(np.concatenate([np.zeros((n, 1)), y], axis=1), axis=1)
    moving = np.hypot(dx, dy) > 1e-3
    heading = np.where(moving, np.arctan2(dy, dx), np.nan)
    for k in range(1, HORIZON):  # carry the last heading through stops
        heading[:, k] = np.where(np.isnan(heading[:, k]), heading[:, k - 1], heading[:, k])
    heading = np.nan_to_num(heading, nan=0.0)
    return np.stack([x, y, heading], axis=-1)


# -- building -----------------------------------------------------------------------------------
def maneuver_clusters(
    poses: np.ndarray, lane_width: float = 4.0, stop_speed: float = 0.5
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The manoeuvre grid: lateral {left, keep, right} by the final lateral offset against
    +-half a lane width, times longitudinal {stop, slow, medium, fast} (stop: final speed
    < 0.5 m/s; the others: terciles of the 4-s progress of the moving entries). Empty cells are
    dropped; ids are renumbered 0..C-1."""
    poses = np.asarray(poses, dtype=np.float64)
    y_end = poses[:, -1, 1]
    lat = np.where(y_end < -lane_width / 2, 0, np.where(y_end > lane_width / 2, 2, 1))
    v_end = np.hypot(*(poses[:, -1, :2] - poses[:, -2, :2]).T) / DT
    prog = poses[:, -1, 0]
    moving = v_end >= stop_speed
    lon = np.zeros(len(poses), dtype=np.int64)
    if moving.any():
        q1, q2 = np.quantile(prog[moving], [1 / 3, 2 / 3])
        lon = np.where(~moving, 0, np.where(prog <= q1, 1, np.where(prog <= q2, 2, 3)))
    cell = lat * len(LONGITUDINAL) + lon
    used = np.unique(cell)
    remap = {int(c): i for i, c in enumerate(used)}
    ids = np.array([remap[int(c)] for c in cell], dtype=np.int64)
    names = tuple(
        f"{LATERAL[int(c) // len(LONGITUDINAL)]}-{LONGITUDINAL[int(c) % len(LONGITUDINAL)]}"
        for c in used
    )
    return ids, names


def endpoint_clusters(
    poses: np.ndarray, k: int = 8, seed: int = 0
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Alternative partition: k-means (k-means++) on the 4-s endpoints (x, y)."""
    from sklearn.cluster import KMeans

    ends = np.asarray(poses, dtype=np.float64)[:, -1, :2]
    k = min(int(k), len(np.unique(ends, axis=0)))
    lab = KMeans(n_clusters=k, init="k-means++", n_init=1, random_state=int(seed)).fit_predict(ends)
    used = np.unique(lab)
    ids = np.searchsorted(used, lab).astype(np.int64)
    return ids, tuple(f"endpoint-{i}" for i in range(len(used)))


def build_vocabulary(
    logs: Sequence[EpisodeLog],
    k: int = 256,
    seed: int = 0,
    perturbed_fraction: float = 0.5,
    clusters: str = "maneuver",
    n_endpoint_clusters: int = 8,
) -> Vocabulary:
    """k-means++ (seeded, scikit-learn) over expert windows plus perturbed manoeuvres.

    Args:
        logs: expert logs.
        k: vocabulary size K (Hydra-MDP uses 8192; 256 by default here, 32 for quick runs).
        seed: k-means and perturbation seed.
        perturbed_fraction: synthetic manoeuvres as a fraction of the pool.
        clusters: ``"maneuver"`` (the grid) or ``"endpoint"`` (k-means on endpoints).
        n_endpoint_clusters: C for ``"endpoint"``.
    """
    from sklearn.cluster import KMeans

    if clusters not in ("maneuver", "endpoint"):
        raise ValueError(f"clusters must be 'maneuver' or 'endpoint', got {clusters!r}")
    if not 0 <= perturbed_fraction < 1:
        raise ValueError(f"perturbed_fraction must be in [0, 1), got {perturbed_fraction}")
    expert = expert_windows(logs)
    speeds = np.concatenate([lg.status[:, 0] for lg in logs])
    n_pert = round(len(expert) * perturbed_fraction / (1 - perturbed_fraction))
    pool = np.concatenate([expert, perturbed_windows(n_pert, speeds, seed)]) if n_pert else expert
    if len(pool) < k:
        raise ValueError(
            f"only {len(pool)} windows for a vocabulary of K={k}; collect more episodes or lower k"
        )
    flat = pool.reshape(len(pool), -1)
    km = KMeans(n_clusters=int(k), init="k-means++", n_init=1, tol=0.0, random_state=int(seed))
    km.fit(flat)
    poses = km.cluster_centers_.reshape(-1, HORIZON, 3).astype(np.float32)
    order = np.lexsort((poses[:, -1, 1], poses[:, -1, 0]))  # deterministic, readable order
    poses = poses[order]
    if clusters == "maneuver":
        ids, names = maneuver_clusters(poses)
    else:
        ids, names = endpoint_clusters(poses, n_endpoint_clusters, seed)
    return Vocabulary(poses=poses, clusters=ids, cluster_names=names)
