"""Road and box geometry of entropykit_driving_tta: frames, boxes, the separating-axis overlap
test and the vectorised lane set (checked against highway-env's own scalar lane formulas)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from entropykit_driving_tta.geometry import (
    CIRCULAR,
    SINE,
    STRAIGHT,
    LaneSet,
    box_corners,
    boxes_overlap,
    from_ego_frame,
    to_ego_frame,
    wrap_angle,
)

SQRT2 = math.sqrt(2.0)


# -- angles and frames ----------------------------------------------------------------------------
def test_wrap_angle_known_values() -> None:
    a = np.array([0.0, np.pi, -np.pi, 1.5 * np.pi, -1.5 * np.pi, 0.3 + 4 * np.pi, -0.3 - 6 * np.pi])
    expected = np.array([0.0, -np.pi, -np.pi, -0.5 * np.pi, 0.5 * np.pi, 0.3, -0.3])
    np.testing.assert_allclose(wrap_angle(a), expected, atol=1e-12)
    assert float(wrap_angle(2 * np.pi)) == pytest.approx(0.0, abs=1e-12)


def test_wrap_angle_range_and_equivalence() -> None:
    a = np.random.default_rng(0).uniform(-50, 50, size=1000)
    w = wrap_angle(a)
    assert np.all(w >= -np.pi)
    assert np.all(w < np.pi)
    # Same angle: the difference is a whole number of turns.
    turns = (a - w) / (2 * np.pi)
    np.testing.assert_allclose(turns, np.round(turns), atol=1e-9)


def test_ego_frame_hand_computed_heading_pi_over_2() -> None:
    # Heading pi/2 points along world +y; the ego's right (+y in the ego frame) is world -x.
    origin = np.array([1.0, 2.0])
    world = np.array([[1.0, 5.0], [0.0, 2.0], [3.0, 2.0], [2.0, 3.0]])
    ego = to_ego_frame(world, origin, np.pi / 2)
    np.testing.assert_allclose(ego, [[3.0, 0.0], [0.0, 1.0], [0.0, -2.0], [1.0, -1.0]], atol=1e-12)
    np.testing.assert_allclose(from_ego_frame(ego, origin, np.pi / 2), world, atol=1e-12)


def test_ego_frame_heading_zero_is_a_translation() -> None:
    p = np.array([[4.0, -1.0], [0.5, 0.5]])
    np.testing.assert_allclose(to_ego_frame(p, np.array([1.0, 1.0]), 0.0), p - 1.0)


def test_ego_frame_round_trip_random() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        origin = rng.uniform(-100, 100, size=2)
        heading = rng.uniform(-4, 4)
        pts = rng.uniform(-50, 50, size=(3, 7, 2))
        local = to_ego_frame(pts, origin, heading)
        assert local.shape == pts.shape
        np.testing.assert_allclose(from_ego_frame(local, origin, heading), pts, atol=1e-9)
        np.testing.assert_allclose(
            to_ego_frame(from_ego_frame(pts, origin, heading), origin, heading), pts, atol=1e-9
        )
        # A rotation keeps distances to the origin.
        np.testing.assert_allclose(
            np.linalg.norm(local, axis=-1), np.linalg.norm(pts - origin, axis=-1), rtol=1e-12
        )


# -- boxes ----------------------------------------------------------------------------------------
def test_box_corners_order_heading_zero() -> None:
    c = box_corners(np.array([0.0, 0.0]), 0.0, 4.0, 2.0)
    # front-left, front-right, rear-right, rear-left; "left" is -y.
    np.testing.assert_allclose(c, [[2, -1], [2, 1], [-2, 1], [-2, -1]], atol=1e-12)


def test_box_corners_heading_pi_over_2() -> None:
    c = box_corners(np.array([10.0, 0.0]), np.pi / 2, 4.0, 2.0)
    np.testing.assert_allclose(c, [[11, 2], [9, 2], [9, -2], [11, -2]], atol=1e-12)


def test_box_corners_broadcast_and_frame_consistency() -> None:
    rng = np.random.default_rng(2)
    centers = rng.uniform(-10, 10, size=(3, 5, 2))
    headings = rng.uniform(-np.pi, np.pi, size=(3, 5))
    c = box_corners(centers, headings, 5.0, 2.0)
    assert c.shape == (3, 5, 4, 2)
    for i in range(3):
        for j in range(5):
            local = to_ego_frame(c[i, j], centers[i, j], headings[i, j])
            np.testing.assert_allclose(
                local, [[2.5, -1], [2.5, 1], [-2.5, 1], [-2.5, -1]], atol=1e-9
            )


def _overlap(c1, h1, l1, w1, c2, h2, l2, w2) -> bool:
    return bool(boxes_overlap(np.asarray(c1, float), h1, l1, w1, np.asarray(c2, float), h2, l2, w2))


def test_boxes_overlap_axis_aligned() -> None:
    a = ((0.0, 0.0), 0.0, 4.0, 2.0)
    assert not _overlap(*a, (4.5, 0.0), 0.0, 4.0, 2.0)  # 0.5 m gap along x
    assert _overlap(*a, (4.0, 0.0), 0.0, 4.0, 2.0)  # touching counts
    assert _overlap(*a, (3.9, 0.0), 0.0, 4.0, 2.0)
    assert not _overlap(*a, (0.0, 2.01), 0.0, 4.0, 2.0)  # side by side, 1 cm apart
    assert _overlap(*a, (0.0, 2.0), 0.0, 4.0, 2.0)
    assert _overlap(*a, (0.0, 0.0), 0.0, 1.0, 1.0)  # one inside the other
    # Symmetric in its arguments.
    assert not _overlap((4.5, 0.0), 0.0, 4.0, 2.0, *a)


def test_boxes_overlap_rotated_45_on_axis() -> None:
    # Unit half-size square at the origin vs a side-2 square turned 45 deg at (d, 0): its vertex
    # reaches d - sqrt(2), so they touch at d = 1 + sqrt(2).
    sq = ((0.0, 0.0), 0.0, 2.0, 2.0)
    assert _overlap(*sq, (1 + SQRT2 - 0.01, 0.0), np.pi / 4, 2.0, 2.0)
    assert not _overlap(*sq, (1 + SQRT2 + 0.01, 0.0), np.pi / 4, 2.0, 2.0)


def test_boxes_overlap_rotated_45_needs_second_box_axes() -> None:
    # The turned square at (d, d): on the first box's axes they overlap until d = 1 + sqrt(2),
    # but the turned square's edge is the line x + y = 2d - sqrt(2), which clears the corner
    # (1, 1) once d > 1 + 1/sqrt(2). Only the second box's axis separates them in between.
    sq = ((0.0, 0.0), 0.0, 2.0, 2.0)
    assert not _overlap(*sq, (2.0, 2.0), np.pi / 4, 2.0, 2.0)
    assert not _overlap(*sq, (1 + 1 / SQRT2 + 0.01,) * 2, np.pi / 4, 2.0, 2.0)
    assert _overlap(*sq, (1 + 1 / SQRT2 - 0.01,) * 2, np.pi / 4, 2.0, 2.0)
    assert _overlap(*sq, (1.6, 1.6), np.pi / 4, 2.0, 2.0)
    # And the same with the roles swapped.
    assert not _overlap((2.0, 2.0), np.pi / 4, 2.0, 2.0, *sq)


def test_boxes_overlap_zero_length_segment() -> None:
    # A front bumper: zero length, 2 m wide, at x = 2.5 spanning y in [-1, 1].
    bumper = ((2.5, 0.0), 0.0, 0.0, 2.0)
    assert _overlap(*bumper, (5.0, 0.0), 0.0, 5.0, 2.0)  # box rear edge at x = 2.5
    assert not _overlap(*bumper, (5.1, 0.0), 0.0, 5.0, 2.0)
    assert _overlap(*bumper, (3.0, 1.9), 0.0, 5.0, 2.0)  # box y in [0.9, 2.9]
    assert not _overlap(*bumper, (3.0, 3.1), 0.0, 5.0, 2.0)
    assert _overlap(*bumper, (2.5, 0.0), np.pi / 3, 1.0, 1.0)
    # A bumper turned by 90 deg lies along x.
    assert _overlap((0.0, 0.0), np.pi / 2, 0.0, 2.0, (1.5, 0.0), 0.0, 1.0, 1.0)
    assert not _overlap((0.0, 0.0), np.pi / 2, 0.0, 2.0, (1.6, 0.0), 0.0, 1.0, 1.0)
    # A point (zero length and width).
    assert _overlap((1.0, 0.5), 0.3, 0.0, 0.0, (0.0, 0.0), 0.0, 2.0, 1.0)
    assert not _overlap((1.1, 0.5), 0.3, 0.0, 0.0, (0.0, 0.0), 0.0, 2.0, 1.0)


def test_boxes_overlap_broadcasting() -> None:
    rng = np.random.default_rng(3)
    c1 = rng.uniform(-4, 4, size=(5, 1, 2))
    h1 = rng.uniform(-np.pi, np.pi, size=(5, 1))
    c2 = rng.uniform(-4, 4, size=(1, 7, 2))
    h2 = rng.uniform(-np.pi, np.pi, size=(1, 7))
    out = boxes_overlap(c1, h1, 4.0, 2.0, c2, h2, 3.0, 1.5)
    assert out.shape == (5, 7)
    assert out.dtype == bool
    for i in range(5):
        for j in range(7):
            assert out[i, j] == _overlap(c1[i, 0], h1[i, 0], 4.0, 2.0, c2[0, j], h2[0, j], 3.0, 1.5)
    assert out.any()
    assert not out.all()
    # Scalar headings with arrays of centres, and per-box sizes.
    lengths = rng.uniform(1, 5, size=7)
    out2 = boxes_overlap(np.zeros(2), 0.0, 4.0, 2.0, c2[0], h2[0], lengths, 1.0)
    assert out2.shape == (7,)


def _grid_points(c: np.ndarray, h: np.ndarray, ln: np.ndarray, w: np.ndarray, n: int) -> np.ndarray:
    """(B, n*n, 2) world points on an n x n grid over each box, edges included."""
    s = np.linspace(-0.5, 0.5, n)
    gx, gy = np.meshgrid(s, s, indexing="ij")
    local = np.stack([gx.ravel()[None] * ln[:, None], gy.ravel()[None] * w[:, None]], -1)
    cos, sin = np.cos(h)[:, None], np.sin(h)[:, None]
    x = c[:, None, 0] + local[..., 0] * cos - local[..., 1] * sin
    y = c[:, None, 1] + local[..., 0] * sin + local[..., 1] * cos
    return np.stack([x, y], -1)


def _contains(pts: np.ndarray, c: np.ndarray, h: np.ndarray, ln: np.ndarray, w: np.ndarray):
    d = pts - c[:, None]
    cos, sin = np.cos(h)[:, None], np.sin(h)[:, None]
    lon = d[..., 0] * cos + d[..., 1] * sin
    lat = -d[..., 0] * sin + d[..., 1] * cos
    return (np.abs(lon) <= ln[:, None] / 2) & (np.abs(lat) <= w[:, None] / 2)


def _brute(c1, h1, l1, w1, c2, h2, l2, w2, n: int = 61) -> np.ndarray:
    a_in_b = _contains(_grid_points(c1, h1, l1, w1, n), c2, h2, l2, w2).any(-1)
    b_in_a = _contains(_grid_points(c2, h2, l2, w2, n), c1, h1, l1, w1).any(-1)
    return a_in_b | b_in_a


def test_boxes_overlap_matches_brute_force_sampling() -> None:
    """Random box pairs against grid sampling. With B- and B+ the second box shrunk and grown
    by ``margin`` on every side: sampled contact with B- proves an overlap; no sampled contact
    with B+ proves none, because the grid spacing (< 0.1 m) puts a sample within ``margin`` of
    any point of A. Pairs where the two disagree are near-touching and skipped."""
    rng = np.random.default_rng(12345)
    n_pairs, margin = 200, 0.1
    c1 = rng.uniform(-4, 4, size=(n_pairs, 2))
    c2 = rng.uniform(-4, 4, size=(n_pairs, 2))
    h1 = rng.uniform(-np.pi, np.pi, n_pairs)
    h2 = rng.uniform(-np.pi, np.pi, n_pairs)
    l1, l2 = rng.uniform(0.5, 6.0, n_pairs), rng.uniform(0.5, 6.0, n_pairs)
    w1, w2 = rng.uniform(0.5, 3.0, n_pairs), rng.uniform(0.5, 3.0, n_pairs)
    sat = boxes_overlap(c1, h1, l1, w1, c2, h2, l2, w2)
    lo = _brute(
        c1, h1, l1, w1, c2, h2, np.maximum(l2 - 2 * margin, 0.0), np.maximum(w2 - 2 * margin, 0.0)
    )
    hi = _brute(c1, h1, l1, w1, c2, h2, l2 + 2 * margin, w2 + 2 * margin)
    decided = lo == hi
    assert decided.sum() >= 150
    assert lo[decided].sum() >= 30
    assert (~lo[decided]).sum() >= 30
    np.testing.assert_array_equal(sat[decided], lo[decided])
    # One-sided claims hold on every pair, undecided ones included.
    assert np.all(sat[lo])
    assert not np.any(sat[~hi])


# -- the straight road ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def road() -> LaneSet:
    return LaneSet.straight_road(3)


def test_straight_road_layout(road: LaneSet) -> None:
    assert len(road) == 3
    assert road.keys == ("0>1>0", "0>1>1", "0>1>2")
    np.testing.assert_array_equal(road.kind, [STRAIGHT] * 3)
    np.testing.assert_allclose(road.start, [[0, 0], [0, 4], [0, 8]])
    np.testing.assert_allclose(road.width, 4.0)
    assert road.junctions.shape == (0, 2)
    assert road.describe() == "3 StraightLane"
    with pytest.raises(ValueError, match="at least one lane"):
        LaneSet.straight_road(0)


def test_straight_road_local_coordinates(road: LaneSet) -> None:
    lon, lat = road.local_coordinates(np.array([[12.0, 5.0], [3.0, -1.0]]))
    assert lon.shape == lat.shape == (2, 3)
    np.testing.assert_allclose(lon, [[12, 12, 12], [3, 3, 3]])
    np.testing.assert_allclose(lat, [[5, 1, -3], [-1, -5, -9]])


def test_straight_road_drivable(road: LaneSet) -> None:
    pts = np.array(
        [
            [10.0, 0.0],
            [10.0, 4.0],
            [10.0, 8.0],
            [10.0, 9.9],
            [10.0, -1.9],
            [10.0, 10.1],  # 0.1 m past the right edge (y = 10)
            [10.0, -2.1],  # 0.1 m past the left edge (y = -2)
            [-0.4, 0.0],  # within the 0.5 m end tolerance
            [-0.6, 0.0],
        ]
    )
    np.testing.assert_array_equal(
        road.drivable(pts), [True, True, True, True, True, False, False, True, False]
    )
    assert road.drivable(pts.reshape(3, 3, 2)).shape == (3, 3)


def test_straight_road_inside(road: LaneSet) -> None:
    inside = road.inside(np.array([[10.0, 1.0], [10.0, 2.0], [10.0, 7.0], [10.0, 11.0]]))
    np.testing.assert_array_equal(
        inside,
        [[True, False, False], [True, True, False], [False, False, True], [False, False, False]],
    )
    # The margin widens every lane.
    np.testing.assert_array_equal(
        road.inside(np.array([10.0, 11.0]), margin=1.0), [False, False, True]
    )


def test_straight_road_multi_lane(road: LaneSet) -> None:
    centers = np.array([[50.0, 4.0], [50.0, 2.0], [50.0, 4.9], [50.0, 5.1]])
    corners = box_corners(centers, np.zeros(4), 5.0, 2.0)
    # Centred in lane 1 (y in [3, 5]); straddling 0/1; just inside; just over the edge.
    np.testing.assert_array_equal(road.multi_lane(corners, centers), [False, True, False, True])
    # A long box turned across the lanes straddles even when centred.
    tilted = box_corners(np.array([50.0, 4.0]), np.pi / 4, 5.0, 2.0)
    assert bool(road.multi_lane(tilted, np.array([50.0, 4.0])))


def test_straight_road_home_lane(road: LaneSet) -> None:
    assert road.home_lane(np.array([10.0, 5.5])) == 1
    assert road.home_lane(np.array([10.0, 6.5])) == 2
    assert road.home_lane(np.array([10.0, -0.5])) == 0
    assert road.home_lane(np.array([10.0, 30.0])) == 2  # off the road: the nearest lane


def test_straight_road_subset(road: LaneSet) -> None:
    sub = road.subset(np.array([50.0, 20.0]), 15.0)  # lane edges at 18, 14, 10 m away
    assert sub.keys == ("0>1>1", "0>1>2")
    np.testing.assert_allclose(sub.start, road.start[1:])
    assert len(sub.width) == len(sub.kind) == 2
    assert road.subset(np.array([50.0, 20.0]), 11.0).keys == ("0>1>2",)
    # Nothing within reach keeps every lane rather than returning an empty road.
    assert road.subset(np.array([50.0, 500.0]), 5.0).keys == road.keys


def _assert_lanesets_equal(a: LaneSet, b: LaneSet) -> None:
    assert a.keys == b.keys
    for f in LaneSet._array_fields():
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    np.testing.assert_array_equal(a.junctions, b.junctions)


def test_to_from_arrays_round_trip(road: LaneSet) -> None:
    back = LaneSet.from_arrays(road.to_arrays())
    _assert_lanesets_equal(road, back)
    arrays = road.to_arrays(prefix="road_")
    assert all(k.startswith("road_") for k in arrays)
    _assert_lanesets_equal(road, LaneSet.from_arrays(arrays, prefix="road_"))


# -- highway-env networks -------------------------------------------------------------------------
def _network(env_id: str):
    import gymnasium
    import highway_env  # noqa: F401  (registers the environments)

    env = gymnasium.make(env_id)
    env.reset(seed=0)
    net = env.unwrapped.road.network
    env.close()
    return net


@pytest.fixture(scope="module", params=["roundabout-generic-v1", "merge-generic-v1"])
def network(request: pytest.FixtureRequest):
    return _network(request.param)


def _lanes_in_order(network) -> list:
    return [
        (f"{_from}>{_to}>{i}", lane)
        for _from, tos in network.graph.items()
        for _to, lanes in tos.items()
        for i, lane in enumerate(lanes)
    ]


def test_from_network_keys_and_kinds(network) -> None:
    from highway_env.road.lane import CircularLane, SineLane

    ls = LaneSet.from_network(network)
    lanes = _lanes_in_order(network)
    assert ls.keys == tuple(k for k, _ in lanes)
    for j, (_, lane) in enumerate(lanes):
        want = STRAIGHT
        if isinstance(lane, CircularLane):
            want = CIRCULAR
        elif isinstance(lane, SineLane):
            want = SINE
        assert ls.kind[j] == want
        assert ls.length[j] == pytest.approx(lane.length)
        assert ls.width[j] == pytest.approx(lane.width_at(0.0))


def test_from_network_local_coordinates_match_highway_env(network) -> None:
    ls = LaneSet.from_network(network)
    lanes = _lanes_in_order(network)
    rng = np.random.default_rng(7)
    for j, (key, lane) in enumerate(lanes):
        s = rng.uniform(-5.0, lane.length + 5.0, 50)
        r = rng.uniform(-6.0, 6.0, 50)
        pts = np.array([lane.position(si, ri) for si, ri in zip(s, r, strict=True)])
        lon, lat = ls.local_coordinates(pts)
        assert lon.shape == (50, len(ls))
        want = np.array([lane.local_coordinates(p) for p in pts])
        np.testing.assert_allclose(lon[:, j], want[:, 0], atol=1e-7, err_msg=key)
        np.testing.assert_allclose(lat[:, j], want[:, 1], atol=1e-7, err_msg=key)
        # Points on the lane (inside its width and length) are drivable and inside that lane.
        on = (
            (np.abs(want[:, 1]) < lane.width_at(0.0) / 2 - 1e-6)
            & (want[:, 0] >= 0)
            & (want[:, 0] <= lane.length)
        )
        assert np.all(ls.inside(pts[on])[:, j]), key
        assert np.all(ls.drivable(pts[on])), key


def test_from_network_round_trips_through_npz(network) -> None:
    ls = LaneSet.from_network(network)
    buf = io.BytesIO()
    np.savez(buf, **ls.to_arrays())
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as z:
        back = LaneSet.from_arrays(z)
    _assert_lanesets_equal(ls, back)


def test_from_network_roundabout_junctions() -> None:
    ls = LaneSet.from_network(_network("roundabout-generic-v1"))
    assert ls.describe() == "8 StraightLane, 8 SineLane, 16 CircularLane"
    assert len(ls.junctions) > 0
    # Junction discs are drivable; subsetting keeps the junctions near the query point.
    assert np.all(ls.drivable(ls.junctions))
    sub = ls.subset(ls.junctions[0], 10.0)
    assert 0 < len(sub) < len(ls)
    assert any(np.allclose(j, ls.junctions[0]) for j in sub.junctions)


def test_from_network_rejects_poly_lane() -> None:
    from highway_env.road.lane import PolyLane
    from highway_env.road.road import RoadNetwork

    net = RoadNetwork()
    net.add_lane(
        "a",
        "b",
        PolyLane(
            [(0, 0), (10, 0), (20, 2)], [(0, -2), (10, -2), (20, 0)], [(0, 2), (10, 2), (20, 4)]
        ),
    )
    with pytest.raises(ValueError, match=r"a->b\[0\] is a PolyLane"):
        LaneSet.from_network(net)


def test_from_network_rejects_empty_network() -> None:
    from highway_env.road.road import RoadNetwork

    with pytest.raises(ValueError, match="no lanes"):
        LaneSet.from_network(RoadNetwork())
