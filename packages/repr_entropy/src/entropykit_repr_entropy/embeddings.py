"""DSE and DSMI of embeddings you already have: load them from files, measure them, and rank many
models by how their embeddings' entropy tracks their accuracy (the paper's many-model study,
fed with your own embeddings instead of downloaded checkpoints)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from entropykit_shared.binning import binned_entropy
from entropykit_shared.diffusion import (
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)

#: File types :func:`load_array` reads.
ARRAY_SUFFIXES: tuple[str, ...] = (".npy", ".npz", ".pt", ".pth")


def load_array(path: str | Path, key: str | None = None) -> np.ndarray:
    """An array from ``.npy``, ``.npz`` (``key`` or its only array) or a torch file (a tensor, or
    a dict holding one under ``key``)."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{p} does not exist; pass a .npy, .npz, .pt or .pth file")
    suffix = p.suffix.lower()
    if suffix not in ARRAY_SUFFIXES:
        raise ValueError(f"{p} has suffix {suffix!r}; use one of {', '.join(ARRAY_SUFFIXES)}")
    if suffix == ".npy":
        return np.load(p, allow_pickle=False)
    if suffix == ".npz":
        with np.load(p, allow_pickle=False) as z:
            return _pick(dict(z), key, p)
    import torch

    obj = torch.load(p, map_location="cpu", weights_only=True)
    if isinstance(obj, Mapping):
        obj = _pick(dict(obj), key, p)
    if not hasattr(obj, "numpy"):
        raise ValueError(f"{p} holds a {type(obj).__name__}, not a tensor; save a tensor or a dict")
    return obj.detach().cpu().numpy()


def _pick(arrays: dict[str, Any], key: str | None, p: Path) -> Any:
    if key is not None:
        if key not in arrays:
            raise ValueError(f"{p} has no entry {key!r}; it has {sorted(arrays)}")
        return arrays[key]
    if len(arrays) != 1:
        raise ValueError(f"{p} holds {sorted(arrays)}; say which one with key=")
    return next(iter(arrays.values()))


def _check_embeddings(z: np.ndarray, labels: np.ndarray | None) -> tuple[np.ndarray, Any]:
    z = np.asarray(z)
    if z.ndim != 2 or z.shape[0] < 2:
        raise ValueError(f"embeddings must have shape (N, D) with N >= 2, got {z.shape}")
    z = z.astype(np.float64)
    if not np.isfinite(z).all():
        raise ValueError(
            f"embeddings hold {int((~np.isfinite(z)).sum())} NaN or inf values; fix the model "
            "outputs or drop those rows"
        )
    if labels is not None:
        labels = np.asarray(labels).reshape(-1)
        if labels.shape[0] != z.shape[0]:
            raise ValueError(
                f"labels has {labels.shape[0]} entries but there are {z.shape[0]} embeddings; "
                "pass one label per row"
            )
    return z, labels


def describe_embeddings(
    z: np.ndarray,
    labels: np.ndarray | None = None,
    *,
    sigma: float | str = 10.0,
    t: int = 1,
    max_n: int = 3000,
    cse_bins: int = 2,
    seed: int = 0,
) -> dict[str, float]:
    """DSE(Z), CSE(Z) (binned entropy, ``cse_bins`` bins per dimension) and, with labels,
    DSMI(Z;Y); all in bits. At most ``max_n`` rows are used (a seeded subsample)."""
    z, labels = _check_embeddings(z, labels)
    if z.shape[0] > max_n:
        keep = np.sort(np.random.default_rng(seed).choice(z.shape[0], max_n, replace=False))
        z = z[keep]
        labels = None if labels is None else labels[keep]
    out = {
        "n": float(z.shape[0]),
        "dim": float(z.shape[1]),
        "dse": float(diffusion_spectral_entropy(z, sigma=sigma, t=t, max_n=None, seed=seed)),
        "cse": float(binned_entropy(z, bins=cse_bins, base=2.0)),
        "max_bits": math.log2(z.shape[0]),
    }
    if labels is not None:
        out["dsmi_zy"] = float(
            diffusion_spectral_mutual_information(
                z, labels, discrete=True, sigma=sigma, t=t, max_n=None, seed=seed
            )
        )
    return out


def rank_models(
    embeddings: Mapping[str, np.ndarray],
    accuracies: Mapping[str, float],
    labels: np.ndarray | None = None,
    **describe_kwargs: Any,
) -> dict[str, Any]:
    """Correlation of DSE (and DSMI(Z;Y) with labels) with accuracy across models: Pearson and
    Spearman coefficients with p-values (scipy), plus every model's numbers.

    Args:
        embeddings: model name -> (N, D) embeddings of the same N inputs.
        accuracies: model name -> accuracy (any scale).
        labels: (N,) labels of those inputs, for DSMI(Z;Y).
        describe_kwargs: passed to :func:`describe_embeddings`.
    """
    from scipy.stats import pearsonr, spearmanr

    missing = sorted(set(embeddings) ^ set(accuracies))
    if missing:
        raise ValueError(f"models {missing} lack either embeddings or an accuracy; give both")
    if len(embeddings) < 3:
        raise ValueError(f"correlations need at least 3 models, got {len(embeddings)}")
    per_model = {
        name: describe_embeddings(z, labels, **describe_kwargs) for name, z in embeddings.items()
    }
    names = sorted(per_model)
    acc = np.array([accuracies[n] for n in names], dtype=np.float64)
    table = {}
    for metric in ("dse", "cse", "dsmi_zy") if labels is not None else ("dse", "cse"):
        values = np.array([per_model[n][metric] for n in names])
        if np.ptp(values) == 0 or np.ptp(acc) == 0:
            table[metric] = {"pearson": math.nan, "pearson_p": math.nan, "spearman": math.nan}
            continue
        pr = pearsonr(values, acc)
        sr = spearmanr(values, acc)
        table[metric] = {
            "pearson": float(pr.statistic),
            "pearson_p": float(pr.pvalue),
            "spearman": float(sr.statistic),
            "spearman_p": float(sr.pvalue),
        }
    return {"models": per_model, "correlations": table}
