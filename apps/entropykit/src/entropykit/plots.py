"""Plot saving with matplotlib's Agg backend (no display needed) and standard metric plots.

matplotlib is imported on first use, never at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, *, dpi: int = 120) -> Path:
    """Save ``fig`` as PNG at ``path`` (parents created) and close it to free memory."""
    out = Path(path)
    if out.suffix.lower() != ".png":
        out = out.with_suffix(".png")
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, bbox_inches="tight")
    pyplot().close(fig)
    return out


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def numeric_keys(records: Sequence[Mapping[str, Any]], *, skip: Sequence[str] = ()) -> list[str]:
    """Keys that hold a number in at least one record, in first-seen order."""
    keys: dict[str, None] = {}
    for record in records:
        for key, value in record.items():
            if key not in skip and _is_number(value):
                keys.setdefault(key, None)
    return list(keys)


def plot_series(
    records: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    path: str | Path,
    *,
    x: str = "step",
    title: str | None = None,
) -> Path:
    """One panel per key: ``key`` against ``x`` over the records that have both."""
    if not keys:
        raise ValueError("plot_series needs at least one key to plot")
    plt = pyplot()
    fig, axes = plt.subplots(len(keys), 1, figsize=(6.4, 2.4 * len(keys)), squeeze=False)
    for ax, key in zip(axes[:, 0], keys, strict=True):
        points = [
            (r[x], r[key]) for r in records if _is_number(r.get(key)) and _is_number(r.get(x))
        ]
        if points:
            xs, ys = zip(*points, strict=True)
            ax.plot(xs, ys, marker="o" if len(points) < 30 else None, markersize=3)
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel(x)
    if title:
        axes[0, 0].set_title(title)
    return save_figure(fig, path)


def plot_scalars(
    values: Mapping[str, float], path: str | Path, *, title: str | None = None
) -> Path:
    """Horizontal bar chart of named numbers (the fallback picture of a results table)."""
    if not values:
        raise ValueError("plot_scalars needs at least one value")
    plt = pyplot()
    names = list(values)
    fig, ax = plt.subplots(figsize=(6.4, 0.45 * len(names) + 1.2))
    ax.barh(names, [values[n] for n in names], color="tab:blue")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title)
    return save_figure(fig, path)
