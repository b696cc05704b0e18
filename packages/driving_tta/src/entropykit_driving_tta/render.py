"""Pictures: a bird's-eye view of one decision (scored proposals and cluster probabilities),
and an episode rendered to an animated GIF or an MP4 with OpenCV."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from entropykit_driving_tta.control import plan_to_world
from entropykit_driving_tta.geometry import LaneSet, box_corners
from entropykit_driving_tta.sim import EpisodeLog
from entropykit_driving_tta.vocab import Vocabulary


def _lane_lines(lanes: LaneSet, step: float = 2.0) -> list[np.ndarray]:
    """Left and right edges of every lane as (S, 2) polylines."""
    lines = []
    for i in range(len(lanes)):
        n = max(int(lanes.length[i] / step), 1) + 1
        s = np.linspace(0.0, lanes.length[i], n)[None]
        sub = LaneSet(
            keys=(lanes.keys[i],),
            junctions=np.zeros((0, 2)),
            **{f: getattr(lanes, f)[i : i + 1] for f in LaneSet._array_fields()},
        )
        for side in (-0.5, 0.5):
            lines.append(sub.positions(s, side * lanes.width[i])[0])
    return lines


def plot_scene(
    log: EpisodeLog,
    t: int,
    vocab: Vocabulary,
    score: np.ndarray,
    cluster_probs: np.ndarray,
    choice: int,
    path: str | Path,
    title: str = "",
    view: float = 90.0,
) -> Path:
    """Bird's-eye plot of frame ``t``: road, objects, every vocabulary entry coloured by its
    planning score (the chosen one in red), and the cluster probabilities as bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    ego = log.pos[t, 0]
    fig, (ax, bx) = plt.subplots(
        1, 2, figsize=(13, 4.2), gridspec_kw={"width_ratios": [3, 1]}, constrained_layout=True
    )
    lanes = log.lanes.subset(ego, view)
    for line in _lane_lines(lanes):
        ax.plot(line[:, 0], line[:, 1], color="0.6", lw=0.8)
    world = plan_to_world(vocab.poses.astype(np.float64), ego[0], ego[1], log.heading[t, 0])
    order = np.argsort(score)
    norm = (score - score.min()) / max(float(np.ptp(score)), 1e-9)
    cmap = plt.get_cmap("viridis")
    for k in order:
        ax.plot(
            world[k, :, 0], world[k, :, 1], color=cmap(norm[k]), lw=0.7, alpha=0.35 + 0.6 * norm[k]
        )
    ax.plot(world[choice, :, 0], world[choice, :, 1], color="red", lw=2.2, label="chosen")
    for n in np.nonzero(log.present[t])[0]:
        c = box_corners(log.pos[t, n], log.heading[t, n], log.length[n], log.width[n])
        colour = "tab:blue" if n == 0 else ("k" if log.obstacle[n] else "tab:orange")
        ax.fill(c[:, 0], c[:, 1], color=colour, alpha=0.9 if n == 0 else 0.7)
    ax.set_xlim(ego[0] - view / 3, ego[0] + view)
    ax.set_ylim(ego[1] + view / 4, ego[1] - view / 4)  # y points down, as highway-env draws
    ax.set_aspect("equal")
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(title or f"{log.scenario} seed {log.seed}, t = {t / 10:.1f} s", fontsize=10)
    names = list(vocab.cluster_names)
    bx.barh(range(len(names)), cluster_probs, color="tab:green")
    bx.set_yticks(range(len(names)), names, fontsize=7)
    bx.invert_yaxis()
    bx.set_xlim(0, 1)
    bx.set_xlabel("cluster probability")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def render_episode(
    log: EpisodeLog,
    path: str | Path,
    vocab: Vocabulary | None = None,
    plans: Sequence[tuple[int, int]] = (),
    fps: int = 10,
    px_per_m: float = 4.0,
    size: tuple[int, int] = (640, 240),
) -> Path:
    """Render a realised episode to ``.gif`` (Pillow) or ``.mp4`` (OpenCV), following the ego;
    ``plans`` (frame, entry) draws each chosen vocabulary entry from the frame it was chosen."""
    import cv2

    path = Path(path)
    if path.suffix.lower() not in (".gif", ".mp4"):
        raise ValueError(f"render to a .gif or .mp4 file, got {path.name!r}")
    w, h = size
    lanes = log.lanes
    lines = _lane_lines(lanes)
    plan_at = dict(plans)
    current: np.ndarray | None = None
    frames = []
    for t in range(log.n_frames):
        if vocab is not None and t in plan_at:
            current = plan_to_world(
                vocab.poses[plan_at[t]].astype(np.float64), *log.pos[t, 0], log.heading[t, 0]
            )
        cx, cy = log.pos[t, 0]

        def px(p: np.ndarray, cx: float = cx, cy: float = cy) -> np.ndarray:
            q = (np.asarray(p) - [cx - w / (3 * px_per_m), cy - h / (2 * px_per_m)]) * px_per_m
            return np.round(q).astype(np.int32)

        img = np.full((h, w, 3), 235, np.uint8)
        for line in lines:
            cv2.polylines(img, [px(line)], False, (150, 150, 150), 1, cv2.LINE_AA)
        if current is not None:
            cv2.polylines(img, [px(current[:, :2])], False, (40, 40, 220), 2, cv2.LINE_AA)
        for n in np.nonzero(log.present[t])[0]:
            c = box_corners(log.pos[t, n], log.heading[t, n], log.length[n], log.width[n])
            colour = (
                (200, 120, 30) if n == 0 else ((60, 60, 60) if log.obstacle[n] else (40, 150, 240))
            )
            if log.crashed[t, n]:
                colour = (0, 0, 200)
            cv2.fillPoly(img, [px(c)], colour, cv2.LINE_AA)
        cv2.putText(
            img, f"{log.scenario} seed {log.seed}  t={t / 10:4.1f}s  v={log.speed[t, 0]:4.1f} m/s",
            (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (20, 20, 20), 1, cv2.LINE_AA,
        )  # fmt: skip
        frames.append(img)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".mp4":
        writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
        if not writer.isOpened():
            raise RuntimeError(f"OpenCV cannot write MP4 to {path}; write a .gif instead")
        for f in frames:
            writer.write(f)
        writer.release()
    else:
        from PIL import Image

        imgs = [Image.fromarray(cv2.cvtColor(f, cv2.COLOR_BGR2RGB)) for f in frames[::2]]
        imgs[0].save(path, save_all=True, append_images=imgs[1:], duration=int(2000 / fps), loop=0)
    return path
