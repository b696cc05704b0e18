"""Planner inputs from a logged or live frame, and the training set of decision frames.

The planner sees what a NAVSIM agent sees, as an object list instead of camera images: up to
16 nearest objects in the ego frame and the ego status (speed, acceleration, lane position,
lanes and road edges on each side, route command, and the speed over the last 1.5 s).
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from entropykit_driving_tta.geometry import to_ego_frame, wrap_angle
from entropykit_driving_tta.parallel import pmap
from entropykit_driving_tta.scoring import ScoringConfig, scene_from_log, score_vocabulary
from entropykit_driving_tta.sim import DECISION_EVERY, HORIZON, STATUS_FEATURES, EpisodeLog
from entropykit_driving_tta.vocab import Vocabulary, future_in_ego_frame

N_AGENTS = 16
AGENT_FEATURES = ("presence", "x", "y", "vx", "vy", "cos_h", "sin_h", "length", "width")
HISTORY = 3  # past decision frames (0.5 s apart) whose speed is part of the status
STATUS_DIM = len(STATUS_FEATURES) + HISTORY
MAX_RANGE = 80.0  # m
# Feature scales: positions / 50 m, lateral / 10 m, speeds / 30 m/s, sizes / 5 m.
_AGENT_SCALE = np.array([1.0, 50.0, 10.0, 30.0, 30.0, 1.0, 1.0, 5.0, 5.0])
_STATUS_SCALE = np.array([30.0, 5.0, 2.0, 0.5, 3.0, 3.0, 8.0, 8.0, 1.0, 1.0, 1.0])
METRIC_HEADS = ("nc", "dac", "ttc", "ep", "comfort")
FIRST_FRAME = HISTORY * DECISION_EVERY  # decisions start once 1.5 s of history exist


def frame_features(log: EpisodeLog, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Agent tokens (16, 9) and the status vector (14,) of frame ``t`` (ego = column 0)."""
    past = [log.status[max(t - DECISION_EVERY * (i + 1), 0), 0] for i in range(HISTORY)]
    return state_features(
        log.pos[t],
        log.heading[t],
        log.speed[t],
        log.present[t],
        log.length,
        log.width,
        log.status[t],
        np.asarray(past),
    )


def state_features(
    pos: np.ndarray,
    heading: np.ndarray,
    speed: np.ndarray,
    present: np.ndarray,
    length: np.ndarray,
    width: np.ndarray,
    status: np.ndarray,
    past_speeds: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Planner inputs from one frame of object states (N objects, the ego first): positions
    (N, 2), headings, speeds, presence, sizes (N,), the ego status (11,) and its speed at the
    last three decisions (3,)."""
    ego_xy, ego_h = pos[0], heading[0]
    others = np.nonzero(present[1:])[0] + 1
    rel = to_ego_frame(pos[others], ego_xy, ego_h)
    dist = np.hypot(rel[:, 0], rel[:, 1])
    keep = dist <= MAX_RANGE
    others, rel, dist = others[keep], rel[keep], dist[keep]
    order = np.argsort(dist, kind="stable")[:N_AGENTS]
    others, rel = others[order], rel[order]
    dh = wrap_angle(heading[others] - ego_h)
    v = speed[others]
    agents = np.zeros((N_AGENTS, len(AGENT_FEATURES)))
    n = len(others)
    agents[:n] = np.column_stack(
        [np.ones(n), rel[:, 0], rel[:, 1], v * np.cos(dh), v * np.sin(dh), np.cos(dh),
         np.sin(dh), length[others], width[others]]
    )  # fmt: skip
    agents /= _AGENT_SCALE
    st = np.concatenate([np.asarray(status) / _STATUS_SCALE, np.asarray(past_speeds) / 30.0])
    return agents.astype(np.float32), st.astype(np.float32)


def decision_frames(log: EpisodeLog) -> list[int]:
    """Decision frames (every 0.5 s) with 1.5 s of history and a 4-s future."""
    last = log.n_frames - HORIZON - 1
    return [t for t in range(FIRST_FRAME, last + 1, DECISION_EVERY)]


@dataclass
class FrameSet:
    """Decision frames as arrays (M frames, K vocabulary entries).

    Attributes:
        agents: (M, 16, 9); status: (M, 14) float32 planner inputs.
        expert: (M, 8, 3) the expert's 2-Hz future poses in the ego frame (imitation target).
        teacher: (M, K, 5) teacher NC, DAC, TTC, EP, comfort of every entry.
        pdms: (M, K) teacher PDMS of every entry; expert_pdms: (M,) of the expert's window.
        episode: (M,) index of the source log; frame: (M,) frame index in it.
        seeds: (E,) the logs' seeds; scenario: their scenario.
    """

    agents: np.ndarray
    status: np.ndarray
    expert: np.ndarray
    teacher: np.ndarray
    pdms: np.ndarray
    expert_pdms: np.ndarray
    expert_scores: np.ndarray
    episode: np.ndarray
    frame: np.ndarray
    seeds: np.ndarray
    scenario: str
    vocab_hash: str

    def __len__(self) -> int:
        return int(self.agents.shape[0])

    def save(self, path: str) -> None:
        np.savez_compressed(
            path,
            **{k: getattr(self, k) for k in self._arrays()},
            scenario=np.asarray(self.scenario),
            vocab_hash=np.asarray(self.vocab_hash),
        )

    @staticmethod
    def _arrays() -> tuple[str, ...]:
        return (
            "agents",
            "status",
            "expert",
            "teacher",
            "pdms",
            "expert_pdms",
            "expert_scores",
            "episode",
            "frame",
            "seeds",
        )

    @classmethod
    def load(cls, path: str) -> FrameSet:
        try:
            with np.load(path, allow_pickle=False) as z:
                return cls(
                    **{k: np.asarray(z[k]) for k in cls._arrays()},
                    scenario=str(z["scenario"]),
                    vocab_hash=str(z["vocab_hash"]),
                )
        except (KeyError, ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
            raise ValueError(f"{path} is not a saved frame set ({err})") from err


def _log_frames(args: tuple[EpisodeLog, Vocabulary, ScoringConfig]) -> dict[str, list]:
    log, vocab, cfg = args
    out: dict[str, list] = {k: [] for k in FrameSet._arrays() if k not in ("episode", "seeds")}
    for t in decision_frames(log):
        agents, status = frame_features(log, t)
        sc = score_vocabulary(scene_from_log(log, t), vocab.poses, cfg)
        out["agents"].append(agents)
        out["status"].append(status)
        out["expert"].append(future_in_ego_frame(log, t)[DECISION_EVERY - 1 :: DECISION_EVERY])
        out["teacher"].append(np.stack([sc[m] for m in METRIC_HEADS], -1).astype(np.float32))
        out["pdms"].append(sc["pdms"].astype(np.float32))
        out["expert_pdms"].append(float(sc["expert_pdms"]))
        out["expert_scores"].append([float(sc[f"expert_{m}"]) for m in METRIC_HEADS])
        out["frame"].append(t)
    return out


def build_frames(
    logs: Sequence[EpisodeLog],
    vocab: Vocabulary,
    cfg: ScoringConfig | None = None,
    workers: int = 1,
    progress: bool = False,
) -> FrameSet:
    """Features, imitation targets and teacher scores of every decision frame of the logs."""
    cfg = cfg or ScoringConfig()
    if not logs:
        raise ValueError("build_frames needs at least one log")
    jobs = [(lg, vocab, cfg) for lg in logs]
    acc: dict[str, list] = {k: [] for k in FrameSet._arrays() if k != "seeds"}
    desc = "teacher scores" if progress else None
    for e, part in enumerate(pmap(_log_frames, jobs, max(int(workers), 1), desc)):
        for k, v in part.items():
            acc[k].extend(v)
        acc["episode"].extend([e] * len(part["frame"]))
    if not acc["frame"]:
        raise ValueError("the logs have no decision frame with 1.5 s of history and 4 s of future")
    k = vocab.size
    return FrameSet(
        agents=np.asarray(acc["agents"], dtype=np.float32),
        status=np.asarray(acc["status"], dtype=np.float32),
        expert=np.asarray(acc["expert"], dtype=np.float32),
        teacher=np.asarray(acc["teacher"], dtype=np.float32).reshape(-1, k, len(METRIC_HEADS)),
        pdms=np.asarray(acc["pdms"], dtype=np.float32).reshape(-1, k),
        expert_pdms=np.asarray(acc["expert_pdms"], dtype=np.float32),
        expert_scores=np.asarray(acc["expert_scores"], dtype=np.float32),
        episode=np.asarray(acc["episode"], dtype=np.int64),
        frame=np.asarray(acc["frame"], dtype=np.int64),
        seeds=np.asarray([lg.seed for lg in logs], dtype=np.int64),
        scenario=logs[0].scenario,
        vocab_hash=vocab.hash,
    )
