"""Vectorised road and box geometry in numpy.

Conventions (highway-env's): world metres, x to the east, y "down" on the screen; a heading of 0
points along +x and positive headings turn toward +y. In the **ego frame** x points forward and
y to the ego's right (the same handedness as the world). Lane width is 4 m; lane 0 of a highway
is the leftmost lane.

:class:`LaneSet` turns a highway-env road network into arrays, so that drivable-area and lane
tests run on many points at once (every corner of every vocabulary entry at every step), with the
same lane formulas highway-env uses for its straight, sinusoidal and circular lanes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

STRAIGHT, SINE, CIRCULAR = 0, 1, 2
JUNCTION_RADIUS = 2.0  # lane widths around a junction point that count as drivable
_KIND_NAMES = {STRAIGHT: "StraightLane", SINE: "SineLane", CIRCULAR: "CircularLane"}


def wrap_angle(a: np.ndarray | float) -> np.ndarray:
    """Angle(s) wrapped to [-pi, pi)."""
    return (np.asarray(a) + np.pi) % (2 * np.pi) - np.pi


def to_ego_frame(points: np.ndarray, origin: np.ndarray, heading: float) -> np.ndarray:
    """World points (..., 2) -> ego frame of a pose at ``origin`` (2,) with ``heading``."""
    c, s = np.cos(heading), np.sin(heading)
    d = np.asarray(points, dtype=np.float64) - np.asarray(origin, dtype=np.float64)
    return np.stack([d[..., 0] * c + d[..., 1] * s, -d[..., 0] * s + d[..., 1] * c], axis=-1)


def from_ego_frame(points: np.ndarray, origin: np.ndarray, heading: float) -> np.ndarray:
    """Ego-frame points (..., 2) -> world, the inverse of :func:`to_ego_frame`."""
    c, s = np.cos(heading), np.sin(heading)
    p = np.asarray(points, dtype=np.float64)
    x = origin[0] + p[..., 0] * c - p[..., 1] * s
    y = origin[1] + p[..., 0] * s + p[..., 1] * c
    return np.stack([x, y], axis=-1)


def box_corners(
    center: np.ndarray, heading: np.ndarray, length: np.ndarray, width: np.ndarray
) -> np.ndarray:
    """Corners (..., 4, 2) of oriented rectangles: front-left, front-right, rear-right,
    rear-left (front = +heading; "left" = the -y side of the ego frame)."""
    center = np.asarray(center, dtype=np.float64)
    h = np.asarray(heading, dtype=np.float64)
    u = np.stack([np.cos(h), np.sin(h)], axis=-1)  # forward
    v = np.stack([-np.sin(h), np.cos(h)], axis=-1)  # right (ego frame +y)
    hl = (np.asarray(length, dtype=np.float64) / 2)[..., None]
    hw = (np.asarray(width, dtype=np.float64) / 2)[..., None]
    fl = center + hl * u - hw * v
    fr = center + hl * u + hw * v
    rr = center - hl * u + hw * v
    rl = center - hl * u - hw * v
    return np.stack([fl, fr, rr, rl], axis=-2)


def boxes_overlap(
    c1: np.ndarray,
    h1: np.ndarray,
    l1: np.ndarray,
    w1: np.ndarray,
    c2: np.ndarray,
    h2: np.ndarray,
    l2: np.ndarray,
    w2: np.ndarray,
) -> np.ndarray:
    """Whether oriented rectangles intersect (touching counts), broadcast over leading axes.

    Separating-axis test in closed form: two rectangles are disjoint iff, on one of their four
    edge normals, the distance between centres exceeds the sum of the projected half-extents.
    ``c`` are (..., 2) centres, ``h`` headings (rad), ``l``/``w`` lengths/widths (m); a width or
    length of 0 gives a segment (used for the front-bumper test).
    """
    c1 = np.asarray(c1, dtype=np.float64)
    c2 = np.asarray(c2, dtype=np.float64)
    d = c2 - c1
    a1 = np.asarray(h1, dtype=np.float64)
    a2 = np.asarray(h2, dtype=np.float64)
    u1 = np.stack([np.cos(a1), np.sin(a1)], axis=-1)
    v1 = np.stack([-np.sin(a1), np.cos(a1)], axis=-1)
    u2 = np.stack([np.cos(a2), np.sin(a2)], axis=-1)
    v2 = np.stack([-np.sin(a2), np.cos(a2)], axis=-1)
    hl1, hw1 = np.asarray(l1) / 2, np.asarray(w1) / 2
    hl2, hw2 = np.asarray(l2) / 2, np.asarray(w2) / 2
    separated = np.zeros(np.broadcast_shapes(d.shape[:-1], a1.shape, a2.shape), dtype=bool)
    for n in (u1, v1, u2, v2):
        dist = np.abs(np.sum(d * n, axis=-1))
        r1 = hl1 * np.abs(np.sum(u1 * n, axis=-1)) + hw1 * np.abs(np.sum(v1 * n, axis=-1))
        r2 = hl2 * np.abs(np.sum(u2 * n, axis=-1)) + hw2 * np.abs(np.sum(v2 * n, axis=-1))
        separated |= dist > r1 + r2 + 1e-9
    return ~separated


@dataclass(frozen=True)
class LaneSet:
    """Every lane of a road as arrays (L lanes).

    Attributes:
        keys: highway-env lane indices ``(from, to, id)`` as strings ``"from>to>id"``.
        kind: 0 straight, 1 sine, 2 circular.
        start, direction: (L, 2) start point and unit direction (straight and sine lanes).
        length, width: (L,) metres.
        amplitude, pulsation, phase: sine-lane parameters (0 otherwise).
        center, radius, start_phase, turn: circular-lane parameters; ``turn`` is +1 clockwise
            (highway-env's ``direction``), -1 counter-clockwise.
        junctions: (J, 2) points where a lane flows into one of a different direction (ramp
            and roundabout entries and exits). A disc of two lane widths around each counts as
            drivable, like NAVSIM's intersection polygons: the lane strips alone leave slivers
            uncovered at such joins.
    """

    keys: tuple[str, ...]
    kind: np.ndarray
    start: np.ndarray
    direction: np.ndarray
    length: np.ndarray
    width: np.ndarray
    amplitude: np.ndarray
    pulsation: np.ndarray
    phase: np.ndarray
    center: np.ndarray
    radius: np.ndarray
    start_phase: np.ndarray
    turn: np.ndarray
    junctions: np.ndarray

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_network(cls, network: Any) -> LaneSet:
        """Read a ``highway_env.road.road.RoadNetwork`` (straight, sine and circular lanes)."""
        from highway_env.road.lane import CircularLane, SineLane, StraightLane

        rows: dict[str, list[Any]] = {f: [] for f in cls._array_fields()}
        keys: list[str] = []
        for _from, tos in network.graph.items():
            for _to, lanes in tos.items():
                for i, lane in enumerate(lanes):
                    keys.append(f"{_from}>{_to}>{i}")
                    zero2 = np.zeros(2)
                    if isinstance(lane, SineLane | StraightLane):
                        is_sine = isinstance(lane, SineLane)
                        row = {
                            "kind": SINE if is_sine else STRAIGHT,
                            "start": lane.start,
                            "direction": lane.direction,
                            "amplitude": lane.amplitude if is_sine else 0.0,
                            "pulsation": lane.pulsation if is_sine else 0.0,
                            "phase": lane.phase if is_sine else 0.0,
                            "center": zero2,
                            "radius": 0.0,
                            "start_phase": 0.0,
                            "turn": 1.0,
                        }
                    elif isinstance(lane, CircularLane):
                        row = {
                            "kind": CIRCULAR,
                            "start": zero2,
                            "direction": zero2,
                            "amplitude": 0.0,
                            "pulsation": 0.0,
                            "phase": 0.0,
                            "center": lane.center,
                            "radius": lane.radius,
                            "start_phase": lane.start_phase,
                            "turn": float(lane.direction),
                        }
                    else:
                        raise ValueError(
                            f"lane {_from}->{_to}[{i}] is a {type(lane).__name__}; entropykit "
                            "handles StraightLane, SineLane and CircularLane roads (highway, "
                            "merge, roundabout, intersection). Use one of those environments."
                        )
                    row["length"] = float(lane.length)
                    row["width"] = float(lane.width_at(0.0))
                    for f, val in row.items():
                        rows[f].append(val)
        if not keys:
            raise ValueError("the road network has no lanes")
        arrays = {f: np.asarray(v, dtype=np.float64) for f, v in rows.items()}
        arrays["kind"] = arrays["kind"].astype(np.int64)
        junctions = []
        for _from, tos in network.graph.items():
            for _to, lanes in tos.items():
                for lane in lanes:
                    end = lane.position(lane.length, 0.0)
                    h_end = lane.heading_at(lane.length)
                    for nxt in (
                        ln for nxt_lanes in network.graph.get(_to, {}).values() for ln in nxt_lanes
                    ):
                        if (
                            np.hypot(*(nxt.position(0.0, 0.0) - end)) < 1.0
                            and abs(float(wrap_angle(nxt.heading_at(0.0) - h_end))) > 0.02
                        ) or (
                            np.hypot(*(nxt.position(0.0, 0.0) - end)) < 1.0
                            and type(nxt) is not type(lane)
                        ):
                            junctions.append(end)
        arrays["junctions"] = np.asarray(junctions, dtype=np.float64).reshape(-1, 2)
        return cls(keys=tuple(keys), **arrays)

    @classmethod
    def straight_road(
        cls, lanes: int = 3, length: float = 10_000.0, width: float = 4.0, x0: float = 0.0
    ) -> LaneSet:
        """A straight road along +x like highway-env's: lane i centred at y = i * width."""
        n = int(lanes)
        if n < 1:
            raise ValueError(f"a road needs at least one lane, got {lanes}")
        z = np.zeros(n)
        start = np.column_stack([np.full(n, x0), np.arange(n) * width])
        return cls(
            keys=tuple(f"0>1>{i}" for i in range(n)),
            kind=np.zeros(n, dtype=np.int64),
            start=start,
            direction=np.tile([1.0, 0.0], (n, 1)),
            length=np.full(n, float(length)),
            width=np.full(n, float(width)),
            amplitude=z,
            pulsation=z,
            phase=z,
            center=np.zeros((n, 2)),
            radius=z,
            start_phase=z,
            turn=np.ones(n),
            junctions=np.zeros((0, 2)),
        )

    @staticmethod
    def _array_fields() -> tuple[str, ...]:
        return (
            "kind",
            "start",
            "direction",
            "length",
            "width",
            "amplitude",
            "pulsation",
            "phase",
            "center",
            "radius",
            "start_phase",
            "turn",
        )

    def to_arrays(self, prefix: str = "lane_") -> dict[str, np.ndarray]:
        """Flat arrays for ``np.savez`` (see :meth:`from_arrays`)."""
        out = {prefix + f: getattr(self, f) for f in self._array_fields()}
        out[prefix + "keys"] = np.asarray(self.keys)
        out[prefix + "junctions"] = self.junctions
        return out

    @classmethod
    def from_arrays(cls, arrays: Any, prefix: str = "lane_") -> LaneSet:
        return cls(
            keys=tuple(str(k) for k in arrays[prefix + "keys"]),
            junctions=np.asarray(arrays[prefix + "junctions"]).reshape(-1, 2),
            **{f: np.asarray(arrays[prefix + f]) for f in cls._array_fields()},
        )

    def __len__(self) -> int:
        return len(self.keys)

    # -- queries ------------------------------------------------------------------------------
    def local_coordinates(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Longitudinal and lateral coordinates (..., L) of points (..., 2) in every lane.

        The same formulas as highway-env's ``local_coordinates`` (lateral positive to the
        right of the lane direction), vectorised over points and lanes.
        """
        p = np.asarray(points, dtype=np.float64)[..., None, :]  # (..., 1, 2)
        d = p - self.start
        lon = np.sum(d * self.direction, axis=-1)
        lat = d[..., 1] * self.direction[:, 0] - d[..., 0] * self.direction[:, 1]
        lat = lat - self.amplitude * np.sin(self.pulsation * lon + self.phase)
        circ = self.kind == CIRCULAR
        if circ.any():
            dc = p - self.center
            phi = np.arctan2(dc[..., 1], dc[..., 0])
            phi = self.start_phase + wrap_angle(phi - self.start_phase)
            r = np.hypot(dc[..., 0], dc[..., 1])
            lon_c = self.turn * (phi - self.start_phase) * self.radius
            lat_c = self.turn * (self.radius - r)
            lon = np.where(circ, lon_c, lon)
            lat = np.where(circ, lat_c, lat)
        return lon, lat

    def positions(self, s: np.ndarray, lateral: float | np.ndarray = 0.0) -> np.ndarray:
        """World points (L, S, 2) at longitudinal coordinates ``s`` (L, S) of every lane (the
        inverse of :meth:`local_coordinates`, used for drawing)."""
        s = np.asarray(s, dtype=np.float64)
        lat = np.broadcast_to(np.asarray(lateral, dtype=np.float64), s.shape)
        lat_eff = lat + self.amplitude[:, None] * np.sin(
            self.pulsation[:, None] * s + self.phase[:, None]
        )
        d, st = self.direction[:, None, :], self.start[:, None, :]
        normal = np.stack([-d[..., 1], d[..., 0]], -1)
        straight = st + s[..., None] * d + lat_eff[..., None] * normal
        phi = (
            self.turn[:, None] * s / np.maximum(self.radius[:, None], 1e-9)
            + self.start_phase[:, None]
        )
        r = self.radius[:, None] - lat * self.turn[:, None]
        circ = self.center[:, None, :] + r[..., None] * np.stack([np.cos(phi), np.sin(phi)], -1)
        return np.where((self.kind == CIRCULAR)[:, None, None], circ, straight)

    def inside(self, points: np.ndarray, margin: float = 0.0, end_tol: float = 0.5) -> np.ndarray:
        """(..., L) whether each point lies on each lane: ``|lateral| <= width/2 + margin`` and
        ``-end_tol <= longitudinal <= length + end_tol`` (the tolerance joins consecutive lane
        segments without gaps)."""
        lon, lat = self.local_coordinates(points)
        return (
            (np.abs(lat) <= self.width / 2 + margin)
            & (lon >= -end_tol)
            & (lon <= self.length + end_tol)
        )

    def drivable(self, points: np.ndarray) -> np.ndarray:
        """(...) whether each point lies on at least one lane or in a junction disc (the
        drivable area)."""
        ok = self.inside(points).any(axis=-1)
        if len(self.junctions):
            p = np.asarray(points, dtype=np.float64)[..., None, :]
            d = np.hypot(*np.moveaxis(p - self.junctions, -1, 0))
            ok |= (d <= JUNCTION_RADIUS * float(self.width.max())).any(axis=-1)
        return ok

    def subset(self, near: np.ndarray, radius: float) -> LaneSet:
        """The lanes that pass within ``radius`` m of point ``near`` (2,), to speed up queries."""
        lon, lat = self.local_coordinates(np.asarray(near, dtype=np.float64))
        over = np.maximum(np.maximum(-lon, lon - self.length), 0.0)
        keep = np.hypot(over, np.maximum(np.abs(lat) - self.width / 2, 0.0)) <= radius
        if not keep.any():
            keep = np.ones(len(self), dtype=bool)
        if len(self.junctions):
            jd = np.hypot(*np.moveaxis(self.junctions - np.asarray(near), -1, 0))
            junctions = self.junctions[jd <= radius + JUNCTION_RADIUS * float(self.width.max())]
        else:
            junctions = self.junctions
        return LaneSet(
            keys=tuple(k for k, m in zip(self.keys, keep, strict=True) if m),
            junctions=junctions,
            **{f: getattr(self, f)[keep] for f in self._array_fields()},
        )

    def home_lane(self, points: np.ndarray) -> np.ndarray:
        """Index (...) of the lane whose centre line is closest to each point (..., 2), measured
        as ``|lateral|`` plus the distance past the lane's ends (0 on the lane)."""
        lon, lat = self.local_coordinates(np.asarray(points, dtype=np.float64))
        over = np.maximum(np.maximum(-lon, lon - self.length), 0.0)
        return np.argmin(np.abs(lat) + over, axis=-1)

    def multi_lane(self, corners: np.ndarray, centers: np.ndarray) -> np.ndarray:
        """(...) whether a box straddles lanes: some corner (..., 4, 2) is outside the lane that
        holds its centre (..., 2). The centre's lane is the on-lane lane with the smallest
        ``|lateral|``; the lateral test extends that lane's geometry past its ends, so a box
        crossing a segment join is not counted as straddling."""
        home = self.home_lane(centers)  # (...)
        _, lat_k = self.local_coordinates(corners)  # (..., 4, L)
        lat_home = np.take_along_axis(lat_k, home[..., None, None], axis=-1)[..., 0]
        w_home = self.width[home][..., None]
        return (np.abs(lat_home) > w_home / 2 + 1e-6).any(axis=-1)

    def describe(self) -> str:
        kinds = {n: int((self.kind == k).sum()) for k, n in _KIND_NAMES.items()}
        return ", ".join(f"{v} {k}" for k, v in kinds.items() if v)
