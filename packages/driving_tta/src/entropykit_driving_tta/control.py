"""Trajectory tracking: the controller that turns a chosen vocabulary entry into motion.

NAVSIM scores a planned trajectory after tracking it with a controller and a kinematic bicycle
model from the current ego state; so do we. :func:`track` runs the controller and highway-env's
own bicycle model (slip angle at the centre of mass, 5 m wheelbase, steering clipped to
+-pi/3) for all K entries at once. The closed-loop ego vehicle (:func:`trajectory_vehicle`) uses
the same :func:`tracking_action`, so what the scorer predicts is what the simulator executes
(until something hits the ego).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from entropykit_driving_tta.geometry import from_ego_frame, wrap_angle
from entropykit_driving_tta.sim import DT, HORIZON

LENGTH = 5.0  # m, highway-env vehicle length (its bicycle-model wheelbase)
MAX_STEER = np.pi / 3
ACC_MIN, ACC_MAX = -9.0, 6.0  # m/s^2, physical limits of the tracked ego
K_SPEED, K_POS = 3.0, 1.5  # longitudinal gains (1/s, 1/s^2)
K_HEADING = 5.0  # 1/s, heading-rate gain (highway-env's 1 / TAU_HEADING)
LOOKAHEAD = 5  # poses (0.5 s) ahead for pure pursuit
MIN_LOOKAHEAD = 2.0  # m; below it the controller steers on the reference heading


def plan_to_world(poses: np.ndarray, x: float, y: float, psi: float) -> np.ndarray:
    """Ego-frame poses (..., 40, 3) -> world poses from the ego pose (x, y, psi)."""
    xy = from_ego_frame(poses[..., :2], np.array([x, y]), psi)
    return np.concatenate([xy, wrap_angle(poses[..., 2:3] + psi)], axis=-1)


def reference_speeds(ref: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(..., 40) speed implied by each reference segment, the first one starting at (x, y)."""
    start = np.stack([np.broadcast_to(x, ref.shape[:-2]), np.broadcast_to(y, ref.shape[:-2])], -1)
    pts = np.concatenate([start[..., None, :], ref[..., :2]], axis=-2)
    return np.hypot(*np.moveaxis(np.diff(pts, axis=-2), -1, 0)) / DT


def tracking_action(
    x: np.ndarray,
    y: np.ndarray,
    psi: np.ndarray,
    v: np.ndarray,
    ref: np.ndarray,
    v_ref: np.ndarray,
    i: int,
    x0: np.ndarray,
    y0: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Acceleration (m/s^2) and steering angle (rad) at step ``i`` toward the reference.

    Args:
        x, y, psi, v: (...) current state.
        ref: (..., 40, 3) world reference poses at 0.1 ... 4.0 s after the plan started.
        v_ref: (..., 40) reference speeds (:func:`reference_speeds`).
        i: steps since the plan started (0 ... 39); later steps hold the last pose.
        x0, y0: (...) where the plan started (the reference position at time 0).
    """
    i = min(int(i), HORIZON - 1)
    # Longitudinal: speed feed-forward + speed and along-track position feedback.
    if i == 0:
        cur = np.stack([np.broadcast_to(x0, psi.shape), np.broadcast_to(y0, psi.shape)], -1)
        cur_psi = ref[..., 0, 2]
    else:
        cur, cur_psi = ref[..., i - 1, :2], ref[..., i - 1, 2]
    u = np.stack([np.cos(cur_psi), np.sin(cur_psi)], axis=-1)
    e_along = np.sum((cur - np.stack([x, y], -1)) * u, axis=-1)
    nxt = min(i + 1, HORIZON - 1)
    a_ff = (v_ref[..., nxt] - v_ref[..., i]) / DT
    acc = a_ff + K_SPEED * (v_ref[..., i] - v) + K_POS * e_along
    acc = np.clip(acc, ACC_MIN, ACC_MAX)
    acc = np.maximum(acc, -v / DT)  # never reverse
    # Lateral: pure pursuit on a point 0.5 s ahead, heading control when it is too close.
    aim = ref[..., min(i + LOOKAHEAD, HORIZON - 1), :2]
    d = aim - np.stack([x, y], -1)
    ld = np.hypot(d[..., 0], d[..., 1])
    alpha = wrap_angle(np.arctan2(d[..., 1], d[..., 0]) - psi)
    rate_pp = v * 2 * np.sin(alpha) / np.maximum(ld, 1e-6)
    rate_h = K_HEADING * wrap_angle(ref[..., i, 2] - psi)
    yaw_rate = np.where(ld >= MIN_LOOKAHEAD, rate_pp, rate_h)
    slip = np.arcsin(np.clip(LENGTH / 2 * yaw_rate / np.maximum(v, 1e-3), -1, 1))
    steer = np.clip(np.arctan(2 * np.tan(slip)), -MAX_STEER, MAX_STEER)
    return acc, steer


def bicycle_step(
    x: np.ndarray, y: np.ndarray, psi: np.ndarray, v: np.ndarray, acc: np.ndarray, steer: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """highway-env's ``Vehicle.step`` for one 0.1 s frame, vectorised."""
    beta = np.arctan(0.5 * np.tan(steer))
    x = x + v * np.cos(psi + beta) * DT
    y = y + v * np.sin(psi + beta) * DT
    psi = psi + v * np.sin(beta) / (LENGTH / 2) * DT
    v = v + acc * DT
    return x, y, psi, v


def track(state: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Track K world-frame references from one start state.

    Args:
        state: (4,) x, y, heading, speed of the ego now.
        ref: (K, 40, 3) world reference poses.

    Returns:
        (K, 41, 5) states x, y, heading, speed, acceleration at 0, 0.1, ..., 4.0 s (the
        acceleration of row t is the command applied from t to t + 0.1 s; the last repeats).
    """
    ref = np.asarray(ref, dtype=np.float64)
    k = ref.shape[0]
    x0, y0, psi0, v0 = (float(s) for s in state)
    x, y = np.full(k, x0), np.full(k, y0)
    psi, v = np.full(k, psi0), np.full(k, v0)
    v_ref = reference_speeds(ref, x0, y0)
    out = np.empty((k, HORIZON + 1, 5))
    for i in range(HORIZON):
        acc, steer = tracking_action(x, y, psi, v, ref, v_ref, i, x0, y0)
        out[:, i] = np.stack([x, y, psi, v, acc], -1)
        x, y, psi, v = bicycle_step(x, y, psi, v, acc, steer)
    out[:, HORIZON] = np.stack([x, y, wrap_angle(psi), v, acc], -1)
    out[:, :, 2] = wrap_angle(out[:, :, 2])
    return out


_VEHICLE_CLASS: Any = None


def trajectory_vehicle_class() -> type:
    """A highway-env ``Vehicle`` that follows a plan with :func:`tracking_action` (built on
    first use so that importing this module does not import highway-env)."""
    global _VEHICLE_CLASS
    if _VEHICLE_CLASS is not None:
        return _VEHICLE_CLASS
    from highway_env.vehicle.kinematics import Vehicle

    class TrajectoryVehicle(Vehicle):
        """Follows ``plan`` (40 ego-frame poses from the pose at :meth:`set_plan` time)."""

        MAX_SPEED = 40.0
        MIN_SPEED = 0.0

        def set_plan(self, poses: np.ndarray) -> None:
            x, y = (float(c) for c in self.position)
            self._ref = plan_to_world(np.asarray(poses, dtype=np.float64), x, y, self.heading)
            self._v_ref = reference_speeds(self._ref, np.float64(x), np.float64(y))
            self._origin = (x, y)
            self._step = 0

        def act(self, action: Any = None) -> None:
            if getattr(self, "_ref", None) is None:
                self.action = {"acceleration": 0.0, "steering": 0.0}
                return
            acc, steer = tracking_action(
                np.float64(self.position[0]),
                np.float64(self.position[1]),
                np.float64(self.heading),
                np.float64(self.speed),
                self._ref,
                self._v_ref,
                self._step,
                np.float64(self._origin[0]),
                np.float64(self._origin[1]),
            )
            self.action = {"acceleration": float(acc), "steering": float(steer)}
            self._step += 1

    _VEHICLE_CLASS = TrajectoryVehicle
    return TrajectoryVehicle
