"""Embeddings from files: loading, DSE/DSMI/CSE summary, and the many-model ranking."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from entropykit_repr_entropy.embeddings import describe_embeddings, load_array, rank_models


def clustered(
    k: int, per: int, dim: int, spread: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=50.0, size=(k, dim))
    labels = np.repeat(np.arange(k), per)
    return centres[labels] + spread * rng.normal(size=(k * per, dim)), labels


def test_load_array_formats(tmp_path: Path) -> None:
    a = np.arange(12, dtype=np.float32).reshape(4, 3)
    np.save(tmp_path / "a.npy", a)
    np.savez(tmp_path / "a.npz", features=a)
    torch.save(torch.from_numpy(a), tmp_path / "a.pt")
    torch.save({"features": torch.from_numpy(a), "labels": torch.arange(4)}, tmp_path / "d.pt")
    for name in ("a.npy", "a.npz", "a.pt"):
        assert np.array_equal(load_array(tmp_path / name), a)
    assert np.array_equal(load_array(tmp_path / "d.pt", key="labels"), np.arange(4))
    with pytest.raises(ValueError, match="say which one with key="):
        load_array(tmp_path / "d.pt")
    with pytest.raises(ValueError, match="does not exist"):
        load_array(tmp_path / "missing.npy")
    (tmp_path / "a.txt").write_text("1 2")
    with pytest.raises(ValueError, match="use one of"):
        load_array(tmp_path / "a.txt")


def test_describe_separated_clusters() -> None:
    z, y = clustered(4, 50, 8, 0.01, seed=0)
    out = describe_embeddings(z, y, sigma=5.0)
    assert out["dse"] == pytest.approx(2.0, abs=0.05)  # log2 of 4 far, tight clusters
    assert out["dsmi_zy"] > 1.0
    assert out["max_bits"] == pytest.approx(math.log2(200))
    shuffled = describe_embeddings(z, np.random.default_rng(1).permutation(y), sigma=5.0)
    assert abs(shuffled["dsmi_zy"]) < out["dsmi_zy"] / 4


def test_describe_subsamples_and_rejects_bad_input() -> None:
    z, y = clustered(2, 300, 4, 1.0, seed=2)
    assert describe_embeddings(z, y, max_n=100)["n"] == 100
    with pytest.raises(ValueError, match="one label per row"):
        describe_embeddings(z, y[:-1])
    bad = z.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        describe_embeddings(bad)
    with pytest.raises(ValueError, match="shape \\(N, D\\)"):
        describe_embeddings(z[0])


def test_rank_models_correlates_with_accuracy() -> None:
    # more clusters visible in the embedding <-> higher "accuracy"
    emb, acc = {}, {}
    for k in (1, 2, 4, 8):
        z, _ = clustered(k, 160 // k, 6, 0.01, seed=k)
        emb[f"m{k}"], acc[f"m{k}"] = z, float(k)
    table = rank_models(emb, acc, sigma=5.0)
    assert table["correlations"]["dse"]["spearman"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="lack either embeddings or an accuracy"):
        rank_models(emb, {"m1": 1.0})
