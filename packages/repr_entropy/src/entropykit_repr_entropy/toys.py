"""The toy experiments of the DSE/DSMI paper: data generators and runners that compare DSE and
DSMI with the classic baselines.

Generators (numpy, seeded, never touching a global RNG):

- :func:`intrinsic_dimension_data`: points with a known intrinsic dimension d inside an ambient
  space of dimension D, plus uniform noise (the paper's DSE-vs-dimension toy).
- :func:`blobs_with_corruption`: sklearn Gaussian blobs with a share of the labels shuffled (the
  paper's DSMI-vs-label-corruption and DSMI-vs-dimension toys).

Runners return a list of plain dicts (one per measurement, ready for ``pandas.DataFrame`` or a
table) and report everything in **bits**: DSE/DSMI and the binning baselines are computed in base
2, and the nats estimators (KSG, Ross, MINE) are converted with ``base=2``.

- :func:`run_intrinsic_dimension`: DSE versus CSE (2 bins per dimension) over intrinsic
  dimensions and noise levels. DSE grows with d; CSE saturates at ``log2 n`` as soon as every
  point gets its own bin code, which any noise on the constant coordinates already causes.
- :func:`run_label_corruption`: DSMI(X; Y) and baselines versus the share of shuffled labels.
- :func:`run_dimension_sweep`: the same estimators on uncorrupted blobs of growing dimension.

Both MI runners take their estimator settings as one :class:`MIEstimators` (``estimators=``;
None: the defaults, the paper's settings), checked when it is built, e.g.
``run_label_corruption(estimators=MIEstimators(baselines=("csmi", "ross"), k=5))``.

Baselines (``MIEstimators(baselines=...)``, any subset of :data:`MI_BASELINES`):

- ``"csmi"``: classic Shannon MI in DSMI's form, ``sum_c (n_c/N) (mean CSE of random size-n_c
  subsets - CSE(x[y == c]))`` with CSE the binned entropy (``csmi_bins`` per dimension, min-max
  range per subset), as the paper's comparison computes it. Saturated codes make both terms
  ``log2 n_c``, so it collapses to 0 in high dimension.
- ``"binned_mi"``: the plug-in binned MI ``H(C_x) + H(Y) - H(C_x, Y)``
  (:func:`entropykit_shared.binning.binned_mutual_information`); saturated codes make it
  ``H(Y)`` whatever the labels, the opposite failure.
- ``"ksg"``: KSG (algorithm 1, ``k`` neighbours, max-norm) between x and the label used as one
  numeric column, tie-broken by 1e-10 jitter and not standardised, as NPEET's ``mi`` that the paper
  ran (:func:`entropykit_shared.knn.ksg_mutual_information`).
- ``"ross"``: Ross's k-NN MI for a continuous x and discrete labels
  (:func:`entropykit_shared.knn.mixed_mutual_information`), the estimator made for this pairing.
- ``"mine"``: Donsker-Varadhan bound of a trained critic (the paper's MINE settings: an MLP
  ``(dim + classes) -> 100 -> 100 -> 1`` on x and the one-hot label, Adam, lr 1e-4, batch 500,
  200 epochs, the plain DV gradient), evaluated on all n pairs against a deranged copy of the
  labels (:func:`entropykit_shared.neural_mi.mine_bound`, :func:`~entropykit_shared.neural_mi.
  shuffle_pairs`).

Cost on 2 CPU cores (float64): DSE of n points is one n x n eigendecomposition (n = 500: ~0.05 s).
DSMI with 3 classes is 3 (R + 1) eigendecompositions of n/3 points plus distances, O(n^2 D). KSG
and Ross are O(n^2 D) brute-force neighbour searches above 15 dimensions. MINE is
``mine_epochs * n / mine_batch_size`` critic steps (fields of :class:`MIEstimators`). Measured
with the defaults (2 shared cores): :func:`run_intrinsic_dimension` ~8 s,
:func:`run_label_corruption` ~16 s, :func:`run_dimension_sweep` ~18 s; adding ``"mine"`` costs
~2 s per row at D = 20 and ~2 min at D = 2000. Lower ``n`` (or ``MIEstimators.max_n``, the
per-subset limit of the DSE calls) to go faster.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from entropykit_repr_entropy.baselines import classic_shannon_mi, mine_estimate
from entropykit_shared.binning import binned_entropy, binned_mutual_information
from entropykit_shared.diffusion import (
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from entropykit_shared.knn import ksg_mutual_information, mixed_mutual_information

DISTRIBUTIONS: tuple[str, ...] = ("uniform", "gaussian")
"""Distributions of the intrinsic coordinates of :func:`intrinsic_dimension_data`."""
MI_BASELINES: tuple[str, ...] = ("csmi", "binned_mi", "ksg", "ross", "mine")
"""Baseline names accepted by :class:`MIEstimators` (the MI runners' ``estimators``)."""

Seed = int | np.random.Generator


# ----------------------------------------------------------------------------- validation
def _check_int(value: Any, name: str, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return int(value)


def _check_n(n: Any) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an int >= 2 (entropies need at least 2 samples), got {n!r}")
    return int(n)


def _check_nonnegative(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    v = float(value)
    if not (math.isfinite(v) and v >= 0.0):
        raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    return v


def _check_corruption(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise ValueError(f"corruption must be a number in [0, 1], got {value!r}")
    v = float(value)
    if not 0.0 <= v <= 1.0:
        raise ValueError(
            f"corruption must lie in [0, 1] (the share of labels shuffled), got {value!r}"
        )
    return v


def _check_values(values: Any, name: str) -> list[Any]:
    items = list(np.atleast_1d(np.asarray(values)).tolist())
    if not items:
        raise ValueError(f"{name} must hold at least one value")
    return items


def _check_baselines(baselines: Sequence[str]) -> tuple[str, ...]:
    if isinstance(baselines, str):
        raise ValueError(f"baselines must be a sequence of names, got the string {baselines!r}")
    names = tuple(baselines)
    unknown = [b for b in names if b not in MI_BASELINES]
    if unknown:
        raise ValueError(f"unknown baseline(s) {unknown}; choose from {MI_BASELINES}")
    if len(set(names)) != len(names):
        raise ValueError(f"baselines has repeated names: {names}")
    return names


def _blob_sigma(sigma: float | str, dim: int) -> float | str:
    """``"sqrt_dim"`` resolves to sqrt(dim) (the paper's blob bandwidth); anything else is passed
    through to the shared estimators, which validate it."""
    return float(np.sqrt(dim)) if sigma == "sqrt_dim" else sigma


# ----------------------------------------------------------------------------- generators
def intrinsic_dimension_data(
    n: int = 500,
    ambient_dim: int = 2048,
    intrinsic_dim: int = 102,
    noise: float = 0.01,
    distribution: str = "uniform",
    seed: Seed = 0,
) -> np.ndarray:
    """Points of intrinsic dimension d embedded in R^D, plus uniform noise.

    The paper's construction: the first d coordinates are i.i.d. ``U[-1, 1]``
    (``distribution="uniform"``) or ``N(0, 1)`` (``"gaussian"``); the remaining D - d coordinates
    all equal one shared constant drawn from ``N(0, 1)``; then ``noise * U[-1, 1]`` is added to
    every entry. The paper uses n = 500, D = 2048, d in ``linspace(102, 2048, 20)`` (the default
    d is the first point) and noise in {0.01, 0.1, 0.5}.

    Draw order from ``np.random.default_rng(seed)``: the (n, d) intrinsic block, the constant,
    the (n, D) noise. Equal seeds with different ``noise`` therefore give the same clean points
    and the same noise pattern, scaled.

    Args:
        n: number of points (>= 2).
        ambient_dim: D (>= 1).
        intrinsic_dim: d, with 1 <= d <= D.
        noise: amplitude eps >= 0 of the additive ``eps * U[-1, 1]`` noise (0: none).
        distribution: ``"uniform"`` or ``"gaussian"`` intrinsic coordinates.
        seed: int or ``numpy.random.Generator`` (a Generator is consumed; the global RNG is
            never used).

    Returns:
        (n, D) float64 array.
    """
    n = _check_n(n)
    ambient_dim = _check_int(ambient_dim, "ambient_dim", 1)
    intrinsic_dim = _check_int(intrinsic_dim, "intrinsic_dim", 1)
    if intrinsic_dim > ambient_dim:
        raise ValueError(
            f"intrinsic_dim = {intrinsic_dim} exceeds ambient_dim = {ambient_dim}; pass "
            "intrinsic_dim <= ambient_dim"
        )
    eps = _check_nonnegative(noise, "noise")
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    rng = np.random.default_rng(seed)
    x = np.empty((n, ambient_dim), dtype=np.float64)
    if distribution == "uniform":
        x[:, :intrinsic_dim] = rng.uniform(-1.0, 1.0, size=(n, intrinsic_dim))
    else:
        x[:, :intrinsic_dim] = rng.standard_normal((n, intrinsic_dim))
    x[:, intrinsic_dim:] = rng.standard_normal()
    x += eps * rng.uniform(-1.0, 1.0, size=(n, ambient_dim))
    return x


def blobs_with_corruption(
    n: int = 2000,
    dim: int = 20,
    centers: int = 3,
    corruption: float = 0.0,
    noise: float = 0.01,
    seed: Seed = 0,
    *,
    cluster_std: float = 1.0,
    center_box: tuple[float, float] = (-10.0, 10.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs with a share of their labels shuffled, plus uniform noise.

    ``sklearn.datasets.make_blobs(n, dim, centers, cluster_std, center_box)`` (the paper: std 1,
    box (-10, 10), 3 centers), then ``noise * U[-1, 1]`` added to every entry, then
    ``round(corruption * n)`` samples chosen at random have their labels permuted among
    themselves (the paper's ``corrupt_label``). The label counts are kept exactly; a label
    changes only when the permutation moves a different class onto it, so about
    ``corruption * (1 - sum_c p_c^2)`` of the labels change (2/3 of the requested share for 3
    equal blobs), and corruption = 1 makes the labels independent of x.

    Seeding: an int seed is make_blobs' ``random_state`` and also seeds
    ``np.random.default_rng(seed)`` for the noise, then the corruption; a Generator first draws
    make_blobs' ``random_state``. The points do not depend on ``corruption``: one seed gives the
    same x for every corruption level, and ``corruption=0`` returns make_blobs' labels.

    Args:
        n: number of samples (>= 2).
        dim: features per sample (>= 1).
        centers: number of blobs (>= 1).
        corruption: share of samples whose labels are shuffled, in [0, 1].
        noise: amplitude eps >= 0 of the additive noise.
        seed: int or ``numpy.random.Generator`` (the global RNG is never used).
        cluster_std: standard deviation of each blob (> 0).
        center_box: (low, high) box the centres are drawn from.

    Returns:
        ``(x, y)``: (n, dim) float64 points and (n,) int64 labels in ``[0, centers)``.
    """
    from sklearn.datasets import make_blobs

    n = _check_n(n)
    dim = _check_int(dim, "dim", 1)
    centers = _check_int(centers, "centers", 1)
    share = _check_corruption(corruption)
    eps = _check_nonnegative(noise, "noise")
    std = _check_nonnegative(cluster_std, "cluster_std")
    if std == 0.0:
        raise ValueError("cluster_std must be > 0")
    lo, hi = (float(v) for v in center_box)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(
            f"center_box must be a finite (low, high) pair with low < high, got {center_box!r}"
        )
    if isinstance(seed, np.random.Generator):
        rng = seed
        random_state = int(rng.integers(2**32 - 1))
    else:
        random_state = _check_int(seed, "seed", 0)
        rng = np.random.default_rng(random_state)
    x, y = make_blobs(
        n_samples=n,
        n_features=dim,
        centers=centers,
        cluster_std=std,
        center_box=(lo, hi),
        random_state=random_state,
    )
    x = x + eps * rng.uniform(-1.0, 1.0, size=x.shape)
    y = y.astype(np.int64)
    chosen = rng.choice(n, size=round(share * n), replace=False)
    y[chosen] = y[rng.permutation(chosen)]
    return x, y


# ----------------------------------------------------------------------------- MI estimators
@dataclass(frozen=True)
class MIEstimators:
    """The estimator settings of the MI runners (:func:`run_label_corruption`,
    :func:`run_dimension_sweep`): DSMI always, plus the requested baselines.

    Every field is checked when the object is built (a bad value raises ``ValueError`` naming
    it), so a runner never starts work with a bad setting. The defaults are the paper's settings
    where it gives one.

    Attributes:
        baselines: names from :data:`MI_BASELINES` (see the module docstring), no repeats; any
            sequence of names, stored as a tuple (a plain string is refused). Default
            ``("csmi", "ksg")``.
        sigma: DSMI bandwidth: ``"sqrt_dim"`` (sqrt of the blob dimension, the paper's choice),
            a number, or a rule of
            :func:`entropykit_shared.diffusion.diffusion_spectral_mutual_information`.
        t: diffusion time of DSMI (the paper: 1).
        num_repetitions: random size-matched subsets per class in DSMI's and CSMI's reference
            term (>= 1).
        max_n: subsampling limit of each inner DSE call (None: never subsample).
        k: neighbours of KSG and Ross (NPEET: 3; >= 1).
        csmi_bins: bins per dimension of ``"csmi"`` and ``"binned_mi"`` (the paper: 5, 10, 100;
            >= 1).
        mine_epochs: MINE training epochs (the paper: 200; >= 1).
        mine_lr: MINE Adam learning rate (the paper: 1e-4; > 0).
        mine_batch_size: MINE batch size (the paper: 500; >= 2).
        mine_hidden: width of the MINE critic's two hidden layers (the paper: 100; >= 1).
    """

    baselines: tuple[str, ...] = ("csmi", "ksg")
    sigma: float | str = "sqrt_dim"
    t: float = 1
    num_repetitions: int = 5
    max_n: int | None = 10000
    k: int = 3
    csmi_bins: int = 5
    mine_epochs: int = 200
    mine_lr: float = 1e-4
    mine_batch_size: int = 500
    mine_hidden: int = 100

    def __post_init__(self) -> None:
        object.__setattr__(self, "baselines", _check_baselines(self.baselines))
        lr = _check_nonnegative(self.mine_lr, "mine_lr")
        if lr == 0.0:
            raise ValueError("mine_lr must be > 0")
        object.__setattr__(self, "mine_lr", lr)
        for name, low in (
            ("num_repetitions", 1),
            ("k", 1),
            ("csmi_bins", 1),
            ("mine_epochs", 1),
            ("mine_batch_size", 2),
            ("mine_hidden", 1),
        ):
            object.__setattr__(self, name, _check_int(getattr(self, name), name, low))

    def row(self, x: np.ndarray, y: np.ndarray, dim: int, seed: int) -> dict[str, float]:
        """DSMI and the requested baselines of one (x, labels) pair, all in bits.

        Args:
            x: (n, dim) points.
            y: (n,) integer labels.
            dim: the blob dimension ``"sqrt_dim"`` resolves against.
            seed: seed of every estimator's randomness (subsets, jitter, MINE).

        Returns:
            ``{"dsmi": ..., <baselines>: ...}`` in the order of :attr:`baselines`.
        """
        row = {
            "dsmi": float(
                diffusion_spectral_mutual_information(
                    x,
                    y,
                    discrete=True,
                    sigma=_blob_sigma(self.sigma, dim),
                    t=self.t,
                    num_repetitions=self.num_repetitions,
                    max_n=self.max_n,
                    seed=seed,
                    base=2.0,
                )
            )
        }
        for name in self.baselines:
            if name == "csmi":
                rng = np.random.default_rng(seed)
                row[name] = classic_shannon_mi(x, y, self.csmi_bins, self.num_repetitions, rng)
            elif name == "binned_mi":
                row[name] = float(binned_mutual_information(x, y, self.csmi_bins, base=2.0))
            elif name == "ksg":
                row[name] = float(
                    ksg_mutual_information(
                        x,
                        y[:, None].astype(np.float64),
                        self.k,
                        base=2.0,
                        standardize=False,
                        jitter=True,
                        seed=seed,
                    )
                )
            elif name == "ross":
                row[name] = float(mixed_mutual_information(x, y, self.k, base=2.0))
            else:
                row[name] = mine_estimate(
                    torch.as_tensor(x),
                    y,
                    epochs=self.mine_epochs,
                    lr=self.mine_lr,
                    batch_size=self.mine_batch_size,
                    hidden=self.mine_hidden,
                    seed=seed,
                )
        return row


def _check_estimators(estimators: Any) -> MIEstimators:
    if estimators is None:
        return MIEstimators()
    if not isinstance(estimators, MIEstimators):
        raise ValueError(
            "estimators must be an MIEstimators (e.g. MIEstimators(baselines=('csmi', 'ksg'))) "
            f"or None for the defaults, got {type(estimators).__name__} {estimators!r}"
        )
    return estimators


# ----------------------------------------------------------------------------- runners
def run_intrinsic_dimension(
    dims: Sequence[int] = (8, 16, 32, 64, 128, 256, 512),
    n: int = 500,
    ambient_dim: int = 512,
    noises: Sequence[float] = (0.01, 0.1, 0.5),
    t: float = 1,
    sigma: float | str = 10.0,
    repetitions: int = 1,
    seed: int = 0,
    *,
    distribution: str = "uniform",
    alpha: float = 0.0,
    cse_bins: int = 2,
    max_n: int | None = 10000,
) -> list[dict[str, float]]:
    """DSE and CSE of :func:`intrinsic_dimension_data` over intrinsic dimensions and noise levels.

    One data set per (rep, dim), seeded with ``default_rng([seed, rep, dim])`` and shared by all
    noise levels (same clean points, same noise pattern scaled by each level), so the noise
    comparison is paired. The paper used D = 2048 and 20 dimensions; the defaults are the
    CPU-sized version (D = 512).

    Args:
        dims: intrinsic dimensions d (each <= ``ambient_dim``).
        n: points per data set (DSE cost: one n x n eigendecomposition).
        ambient_dim: D.
        noises: noise amplitudes eps.
        t: diffusion time of DSE.
        sigma: DSE bandwidth: a number (the paper: 10) or a rule of
            :func:`entropykit_shared.diffusion.diffusion_spectral_entropy` (e.g. ``"median"``).
        repetitions: independent data sets per (dim, noise).
        seed: base seed.
        distribution: ``"uniform"`` or ``"gaussian"`` intrinsic coordinates.
        alpha: anisotropy of the diffusion operator (the paper: 0).
        cse_bins: bins per dimension of CSE (the paper: 2).
        max_n: DSE subsamples to this many points when n is larger (None: never).

    Returns:
        Rows ``{"dim", "noise", "rep", "dse", "cse"}``; dse and cse in bits. CSE is bounded by
        ``log2 n``.
    """
    dim_list = [_check_int(d, "dims entries", 1) for d in _check_values(dims, "dims")]
    noise_list = [_check_nonnegative(e, "noises entries") for e in _check_values(noises, "noises")]
    n = _check_n(n)
    ambient_dim = _check_int(ambient_dim, "ambient_dim", 1)
    repetitions = _check_int(repetitions, "repetitions", 1)
    seed = _check_int(seed, "seed", 0)
    too_big = [d for d in dim_list if d > ambient_dim]
    if too_big:
        raise ValueError(
            f"dims {too_big} exceed ambient_dim = {ambient_dim}; pass intrinsic dimensions "
            "<= ambient_dim"
        )
    rows: list[dict[str, float]] = []
    for rep in range(repetitions):
        for d in dim_list:
            for eps in noise_list:
                x = intrinsic_dimension_data(
                    n,
                    ambient_dim,
                    d,
                    eps,
                    distribution,
                    seed=np.random.default_rng([seed, rep, d]),
                )
                dse = diffusion_spectral_entropy(
                    x, sigma, t, alpha, max_n=max_n, seed=seed, base=2.0
                )
                cse = binned_entropy(x, cse_bins, base=2.0)
                rows.append(
                    {"dim": d, "noise": eps, "rep": rep, "dse": float(dse), "cse": float(cse)}
                )
    return rows


def run_label_corruption(
    corruptions: Sequence[float] = tuple(np.linspace(0.0, 1.0, 6)),
    dim: int = 20,
    n: int = 2000,
    seed: int = 0,
    estimators: MIEstimators | None = None,
    *,
    noise: float = 0.01,
    centers: int = 3,
    repetitions: int = 1,
) -> list[dict[str, float]]:
    """DSMI(X; Y) and baselines of :func:`blobs_with_corruption` versus the shuffled-label share.

    One blob data set per rep (seed ``[seed, rep]``), shared by every corruption level: only the
    labels change along the sweep; the estimators of rep ``r`` are seeded with ``seed + r``. The
    paper: n = 5000, dim in {20, 100}, 11 levels, 2 reps, sigma = sqrt(dim), t = 1 (the
    :class:`MIEstimators` defaults).

    Args:
        corruptions: shares of shuffled labels, each in [0, 1].
        dim: blob dimension.
        n: samples (DSMI cost ~ centers * (num_repetitions + 1) eigendecompositions of n/centers
            points; KSG/Ross O(n^2 dim)).
        seed: base seed.
        estimators: DSMI and baseline settings (:class:`MIEstimators`; None: ``MIEstimators()``,
            i.e. baselines ``("csmi", "ksg")`` and the paper's settings).
        noise: additive noise amplitude of the blobs.
        centers: number of blobs (classes).
        repetitions: independent blob data sets.

    Returns:
        Rows ``{"corruption", "rep", "dsmi", <baselines>}``, all estimates in bits.
    """
    levels = [_check_corruption(c) for c in _check_values(corruptions, "corruptions")]
    est = _check_estimators(estimators)
    dim = _check_int(dim, "dim", 1)
    n = _check_n(n)
    seed = _check_int(seed, "seed", 0)
    repetitions = _check_int(repetitions, "repetitions", 1)
    rows: list[dict[str, float]] = []
    for rep in range(repetitions):
        for share in levels:
            x, y = blobs_with_corruption(
                n, dim, centers, share, noise, seed=np.random.default_rng([seed, rep])
            )
            rows.append({"corruption": share, "rep": rep, **est.row(x, y, dim, seed + rep)})
    return rows


def run_dimension_sweep(
    dims: Sequence[int] = (20, 200, 2000),
    n: int = 2000,
    seed: int = 0,
    estimators: MIEstimators | None = None,
    *,
    noise: float = 0.01,
    centers: int = 3,
    repetitions: int = 1,
) -> list[dict[str, float]]:
    """DSMI(X; Y) and baselines of uncorrupted blobs of growing dimension.

    One data set per (rep, dim), seeded with ``[seed, rep, dim]``; the estimators of rep ``r``
    are seeded with ``seed + r``. The paper: n = 5000, dim from 20 to 20 000, sigma = sqrt(dim);
    DSMI stays well above 0 where binning and KSG collapse. Arguments as in
    :func:`run_label_corruption`; ``MIEstimators(sigma="sqrt_dim")`` (the default) is sqrt of
    each dim. Cost grows linearly with dim through the O(n^2 dim) distances (n = 2000,
    dim = 2000: a few seconds per estimator on 2 cores).

    Returns:
        Rows ``{"dim", "rep", "dsmi", <baselines>}``, all estimates in bits.
    """
    dim_list = [_check_int(d, "dims entries", 1) for d in _check_values(dims, "dims")]
    est = _check_estimators(estimators)
    n = _check_n(n)
    seed = _check_int(seed, "seed", 0)
    repetitions = _check_int(repetitions, "repetitions", 1)
    rows: list[dict[str, float]] = []
    for rep in range(repetitions):
        for d in dim_list:
            x, y = blobs_with_corruption(
                n, d, centers, 0.0, noise, seed=np.random.default_rng([seed, rep, d])
            )
            rows.append({"dim": d, "rep": rep, **est.row(x, y, d, seed + rep)})
    return rows
