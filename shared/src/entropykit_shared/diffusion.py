"""Diffusion operators, Diffusion Spectral Entropy (DSE) and Mutual Information (DSMI).

Operator: Gaussian kernel ``G`` (:func:`entropykit_shared.kernels.rbf_kernel`), anisotropic
normalisation ``G_a = D^-a G D^-a`` (``alpha`` = a: 0 graph random walk, 1/2 Fokker-Planck,
1 Laplace-Beltrami), degrees ``d = G_a 1``, Markov matrix ``P = diag(d)^-1 G_a`` and its
symmetric conjugate ``M = diag(d)^-1/2 G_a diag(d)^-1/2`` (same eigenvalues as P, real, in
[-1, 1]; in [0, 1] because the Gaussian kernel is PSD).

DSE(t) = H(|lambda|^t / sum |lambda|^t) over the eigenvalues of M, in bits by default.
DSMI(X; Y) = sum_c (n_c / N) (mean DSE of random size-n_c subsets of X - DSE(X | Y = c)).

``mode="official"`` reproduces dse-dsmi 1.1:
alpha = 0 spectrum, machine epsilon added to every probability, ``np.allclose`` symmetry test
choosing ``eigvalsh`` or ``eigvals``, subsampling with Python's Mersenne Twister seeded like
``random.seed(random_seed)`` (reproduced with a private ``random.Random``, so the caller's global
RNG state is never touched).
"""

from __future__ import annotations

import math
import random
import warnings
from typing import Any

import numpy as np

from entropykit_shared._backend import (
    check_2d,
    check_base,
    check_finite,
    is_tensor,
    numpy_rng,
    restore,
    to_base,
    to_numpy,
    to_torch,
)
from entropykit_shared.kernels import bandwidth, rbf_kernel
from entropykit_shared.linalg import slq_trace

MODES: tuple[str, ...] = ("exact", "official")
OPERATOR_KINDS: tuple[str, ...] = ("symmetric", "markov", "both")
EIG_METHODS: tuple[str, ...] = ("exact", "slq")
CLUSTERINGS: tuple[str, ...] = ("spectral", "kmeans")
_EPS = float(np.finfo(float).eps)  # what dse-dsmi adds to every probability
_BATCH_ENTRIES = 1 << 24  # DSMI's batched subset kernels: at most 128 MiB of float64 at once


# ----------------------------------------------------------------------------- validation helpers
def _prepare_x(x: Any, min_rows: int = 2) -> Any:
    import torch

    xt = to_torch(x, dtype=torch.float64, name="x")
    check_2d(xt, "x", min_rows=min_rows)
    check_finite(xt, "x")
    return xt


def _check_sigma(sigma: float | str) -> None:
    if isinstance(sigma, str):
        return  # rbf_kernel validates rule names
    if isinstance(sigma, bool) or not (isinstance(sigma, (int, float)) and sigma > 0):
        raise ValueError(f"sigma must be a positive number or a bandwidth rule, got {sigma!r}")
    if not math.isfinite(sigma):
        raise ValueError(f"sigma must be finite, got {sigma}")


def _check_common(sigma: float | str, t: float, alpha: float, mode: str) -> None:
    _check_sigma(sigma)
    if isinstance(t, bool) or not (isinstance(t, (int, float)) and math.isfinite(t) and t > 0):
        raise ValueError(f"t (diffusion time) must be a positive number, got {t!r}")
    if not (isinstance(alpha, (int, float)) and 0.0 <= alpha <= 1.0):
        raise ValueError(f"alpha must lie in [0, 1] (0 random walk, 0.5, 1), got {alpha!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if mode == "official":
        if isinstance(sigma, str):
            raise ValueError(
                "mode='official' takes a numeric sigma as dse-dsmi does; compute one with "
                f"entropykit_shared.kernels.bandwidth(x, {sigma!r}) or use mode='exact'"
            )
        if alpha != 0.0:
            raise ValueError(
                "mode='official' has alpha = 0 (dse-dsmi's spectrum); use mode='exact'"
            )


def _check_max_n(max_n: int | None) -> None:
    if max_n is not None and (isinstance(max_n, bool) or not isinstance(max_n, int) or max_n < 2):
        raise ValueError(f"max_n must be an int >= 2 or None (no subsampling), got {max_n!r}")


def _official_seed(seed: Any) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(
            "mode='official' seeds Python's Mersenne Twister like dse-dsmi: seed must be an int "
            f"or None, got {type(seed).__name__}"
        )
    return None if seed is None else int(seed)


def _scalar_out(value: float, like: Any, numpy_in: bool) -> Any:
    if numpy_in:
        return np.float64(value)
    import torch

    return torch.tensor(value, dtype=torch.float64, device=like.device)


# ----------------------------------------------------------------------------- operator
def _normalise(g: Any, alpha: float) -> tuple[Any, Any, Any]:
    """(M, G_alpha, degrees) of a kernel matrix, or of a batch (..., n, n) of them."""
    if alpha != 0.0:
        q = g.sum(dim=-1).pow(-alpha)
        g = g * q[..., :, None] * q[..., None, :]
    d = g.sum(dim=-1)
    r = d.rsqrt()
    m = g * r[..., :, None] * r[..., None, :]
    return 0.5 * (m + m.mT), g, d


def _operator(xt: Any, sigma: float | str, alpha: float, knn: int) -> tuple[Any, Any, Any]:
    """(M, G_alpha, degrees) in torch for float64 samples ``xt``."""
    return _normalise(to_torch(rbf_kernel(xt, sigma=sigma, knn=knn)), alpha)


def diffusion_operator(
    x: Any,
    sigma: float | str = 10.0,
    alpha: float = 0.0,
    *,
    knn: int = 7,
    kind: str = "symmetric",
) -> Any:
    """Diffusion operator of the samples ``x`` on a Gaussian-kernel graph.

    ``M = diag(d)^-1/2 G_a diag(d)^-1/2`` (``kind="symmetric"``, default) or the Markov matrix
    ``P = diag(d)^-1 G_a`` (``kind="markov"``), or both as ``(M, P)``; ``G_a = D^-a G D^-a``
    with ``D = diag(G 1)``, ``d = G_a 1``. M is symmetric with the spectrum of P
    (``P = diag(d)^-1/2 M diag(d)^1/2``), so spectra are taken from M with ``eigvalsh``.

    Args:
        x: (n, d) samples (numpy or torch; computed in float64).
        sigma: kernel bandwidth: a positive number (``exp(-|x-y|^2 / (2 sigma^2))``) or a rule
            of :func:`entropykit_shared.kernels.bandwidth` (``"median"``, ``"sqrt_dim"``, ...).
        alpha: anisotropy in [0, 1].
        knn: neighbour index of the ``"knn"`` bandwidth rule.
        kind: ``"symmetric"``, ``"markov"`` or ``"both"``.

    Returns:
        (n, n) matrix (or a pair), float64, numpy or torch like ``x``. Cost O(n^2 d).
    """
    if kind not in OPERATOR_KINDS:
        raise ValueError(f"kind must be one of {OPERATOR_KINDS}, got {kind!r}")
    _check_common(sigma, 1, alpha, "exact")
    numpy_in = not is_tensor(x)
    xt = _prepare_x(x, min_rows=1)
    m, g, d = _operator(xt, sigma, alpha, knn)
    if kind == "symmetric":
        return restore(m, numpy_in)
    p = g / d[:, None]
    return restore(p if kind == "markov" else (m, p), numpy_in)


# ----------------------------------------------------------------------------- DSE (exact mode)
def _spectrum_entropy_nats(lam: Any, t: float) -> Any:
    """H(|lam|^t / sum |lam|^t) in nats; log clamped at the dtype's tiny so that zero
    eigenvalues contribute exactly 0 with a finite gradient."""
    import torch

    a = lam.abs().pow(t)
    p = a / a.sum(dim=-1, keepdim=True)
    return -(p * torch.log(p.clamp_min(torch.finfo(p.dtype).tiny))).sum(dim=-1)


def _dse_nats(xt: Any, sigma: float | str, t: float, alpha: float, knn: int) -> Any:
    import torch

    m, _, _ = _operator(xt, sigma, alpha, knn)
    return _spectrum_entropy_nats(torch.linalg.eigvalsh(m), t)


def _dse_nats_slq(
    xt: Any,
    sigma: float | str,
    t: float,
    alpha: float,
    knn: int,
    rng: np.random.Generator,
    probes: int,
    steps: int,
) -> tuple[Any, Any]:
    """DSE in nats and its standard error by stochastic Lanczos quadrature.

    With Z = tr(M^t) and B = tr(-M^t log M^t): DSE = log Z + B / Z. B comes from SLQ; Z is exact
    for t = 1 (the trace) and t = 2 (the squared Frobenius norm), else an independent SLQ run.
    The standard error is the delta method over the two independent estimates.
    """
    from scipy.special import xlogy

    m, _, _ = _operator(xt.detach(), sigma, alpha, knn)
    seeds = rng.integers(2**63 - 1, size=2)
    b, b_se = (
        float(v)
        for v in slq_trace(
            m,
            lambda lam: -t * xlogy(lam**t, lam),
            num_probes=probes,
            num_steps=steps,
            seed=int(seeds[0]),
        )
    )
    if t == 1:
        z, z_se = float(m.diagonal().sum()), 0.0
    elif t == 2:
        z, z_se = float((m * m).sum()), 0.0
    else:
        z, z_se = (
            float(v)
            for v in slq_trace(
                m, lambda lam: lam**t, num_probes=probes, num_steps=steps, seed=int(seeds[1])
            )
        )
    h = math.log(z) + b / z
    se = math.hypot(b_se / z, (1.0 / z - b / z**2) * z_se)
    return xt.new_tensor(h), xt.new_tensor(se)


def _subsample(xt: Any, k: int, rng: np.random.Generator) -> Any:
    import torch

    idx = rng.choice(xt.shape[0], size=k, replace=False)
    return xt[torch.as_tensor(idx, device=xt.device)]


def _warn_if_constant(xt: Any) -> None:
    if bool((xt == xt[:1]).all()):
        warnings.warn(
            "all samples of x coincide: the kernel is constant and DSE is 0",
            RuntimeWarning,
            stacklevel=3,
        )


# ----------------------------------------------------------------------------- official mode
def _official_dse_bits(
    x: Any, sigma: float, t: float, max_n: int | None, seed: int | None, rng: random.Random
) -> float:
    """dse-dsmi 1.1 ``diffusion_spectral_entropy`` (DSE branch, exact eigenvalues), in bits, for
    float64 torch samples ``x``.

    ``rng`` stands in for Python's global ``random`` module: it is reseeded exactly where the
    reference calls ``random.seed`` so that the drawn indices are identical. Computed in torch
    like the exact mode (alternating torch and numpy BLAS thread pools slows small calls down).
    """
    import torch

    n = x.shape[0]
    if max_n is not None and n > max_n:
        if seed is not None:
            rng.seed(seed)
        x = x[torch.as_tensor(rng.sample(range(n), k=max_n), device=x.device)]
    # The reference's prefactor 1/(sigma sqrt(2 pi)) cancels in D^-1/2 G D^-1/2 and is omitted.
    g = to_torch(rbf_kernel(x, sigma=float(sigma)))
    r = g.sum(dim=1).rsqrt()
    k = g * r[:, None] * r[None, :]
    if torch.allclose(k, k.T, rtol=1e-5, atol=1e-8):
        lam = torch.linalg.eigvalsh(k)
    else:  # the reference falls back to the general solver; |lambda| below drops the phase
        lam = torch.linalg.eigvals(k)
    a = lam.abs() ** t
    p = a / a.sum() + _EPS
    return float(-(p * torch.log2(p)).sum())


# ----------------------------------------------------------------------------- DSE
def diffusion_spectral_entropy(
    x: Any,
    sigma: float | str = 10.0,
    t: float = 1,
    alpha: float = 0.0,
    *,
    max_n: int | None = 10000,
    seed: int | np.random.Generator | None = 0,
    mode: str = "exact",
    eig: str = "exact",
    num_subsamples: int = 1,
    slq_probes: int = 30,
    slq_steps: int = 30,
    knn: int = 7,
    base: float = 2.0,
    return_se: bool = False,
) -> Any:
    """Diffusion Spectral Entropy ``DSE(t) = -sum_i p_i log p_i`` with
    ``p = |lambda|^t / sum |lambda|^t`` over the eigenvalues of the diffusion operator M of ``x``
    (bits by default).

    Limits: sigma -> 0 gives log2 n (all eigenvalues 1); sigma -> inf gives 0 (spectrum
    {1, 0, ...}); k far-apart clusters of radius r << sigma give log2 k once
    ``(n - k) lambda_{k+1}^t << k`` (the leftover within-cluster eigenvalues are O((r/sigma)^2)).
    DSE(c x, c sigma) = DSE(x, sigma); invariant to rotations, translations and permutations.

    Args:
        x: (n, d) samples, n >= 2 (numpy or torch; computed in float64; torch inputs keep
            autograd in ``mode="exact"``).
        sigma: Gaussian bandwidth, a positive number or a bandwidth rule (``"median"``,
            ``"median_distance"``, ``"sqrt_dim"``, ``"knn"``; evaluated on the data used).
        t: diffusion time (> 0): eigenvalues are raised to t (DSE of P^t).
        alpha: anisotropy of the operator (exact mode; the official code has 0).
        max_n: subsample to this many rows when n > max_n (None: never).
        seed: int, numpy Generator or None for the subsampling and the SLQ probes (never the
            global RNG). The official mode accepts an int or None and draws like
            ``random.seed(seed)`` would.
        mode: ``"exact"`` (xlogy entropy, float64 ``eigvalsh``, seeded numpy subsampling) or
            ``"official"`` (dse-dsmi 1.1 numbers, see the module docstring).
        eig: ``"exact"``: dense ``eigvalsh`` of M, O(n^3), differentiable. ``"slq"``: stochastic
            Lanczos quadrature (:func:`entropykit_shared.linalg.slq_trace`) of
            DSE = log tr(M^t) + tr(-M^t log M^t) / tr(M^t), O(n^2 (d + probes * steps)), with a
            standard error; no autograd. Exact mode only.
        num_subsamples: exact mode with n > max_n: average DSE over this many independent
            subsamples (the standard error needs >= 2).
        slq_probes, slq_steps: Rademacher probes and Lanczos steps of ``eig="slq"``.
        knn: neighbour index of the ``"knn"`` bandwidth rule.
        base: logarithm base of the result (2: bits, ``math.e``: nats).
        return_se: also return the standard error: of the subsampling when n > max_n (the spread
            over ``num_subsamples``), else 0 for ``eig="exact"`` and the SLQ error for ``"slq"``.

    Returns:
        DSE as a float (numpy in) or 0-d tensor (torch in); ``(dse, se)`` with ``return_se``.
    """
    import torch

    _check_common(sigma, t, alpha, mode)
    _check_max_n(max_n)
    check_base(base)
    if eig not in EIG_METHODS:
        raise ValueError(f"eig must be one of {EIG_METHODS}, got {eig!r}")
    if (
        isinstance(num_subsamples, bool)
        or not isinstance(num_subsamples, int)
        or num_subsamples < 1
    ):
        raise ValueError(f"num_subsamples must be a positive int, got {num_subsamples!r}")
    numpy_in = not is_tensor(x)
    xt = _prepare_x(x)
    n = xt.shape[0]
    subsampled = max_n is not None and n > max_n
    _warn_if_constant(xt)

    if mode == "official":
        if num_subsamples != 1:
            raise ValueError("mode='official' draws one subsample; use mode='exact' for several")
        if eig != "exact":
            raise ValueError("mode='official' computes exact eigenvalues; use eig='exact'")
        if return_se and subsampled:
            raise ValueError(
                "mode='official' draws one subsample and has no standard error; use "
                "mode='exact' with num_subsamples >= 2"
            )
        bits = _official_dse_bits(
            xt.detach(), float(sigma), t, max_n, _official_seed(seed), random.Random()
        )
        value = _scalar_out(to_base(bits * math.log(2.0), base), xt, numpy_in)
        return (value, _scalar_out(0.0, xt, numpy_in)) if return_se else value

    rng = numpy_rng(seed)

    def one(sub: Any) -> tuple[Any, Any]:
        if eig == "slq":
            return _dse_nats_slq(sub, sigma, t, alpha, knn, rng, slq_probes, slq_steps)
        return _dse_nats(sub, sigma, t, alpha, knn), sub.new_zeros(())

    if not subsampled:
        h_nats, se_nats = one(xt)
        h, se = to_base(h_nats, base), to_base(se_nats, base)
    else:
        if return_se and num_subsamples < 2:
            raise ValueError(
                f"n = {n} > max_n = {max_n}: the standard error of the subsampling needs "
                "num_subsamples >= 2"
            )
        vals = torch.stack([one(_subsample(xt, max_n, rng))[0] for _ in range(num_subsamples)])
        h = to_base(vals.mean(), base)
        se = (
            to_base(vals.std(unbiased=True), base) / math.sqrt(num_subsamples)
            if num_subsamples > 1
            else torch.full((), float("nan"), dtype=h.dtype, device=h.device)
        )
    return restore((h, se) if return_se else h, numpy_in)


# ----------------------------------------------------------------------------- DSMI
def _partition(
    y: Any,
    n: int,
    *,
    discrete: bool | None,
    n_clusters: int,
    clustering: str,
    random_state: int | None,
    official: bool,
) -> np.ndarray:
    """Cluster labels (n,) of the reference ``y`` as dse-dsmi builds them."""
    yn = y.detach().cpu().numpy() if is_tensor(y) else np.asarray(y)
    if yn.ndim == 1:
        yn = yn[:, None]
    if yn.ndim != 2 or yn.shape[0] != n:
        raise ValueError(
            f"y must have shape (n,) or (n, d') with n = {n} rows like x, got {tuple(yn.shape)}"
        )
    width = yn.shape[1]
    if discrete is None:
        if official:  # the reference: one column of an integer dtype
            discrete = width == 1 and np.issubdtype(yn.dtype, np.integer)
        else:
            discrete = width == 1 and yn.dtype.kind in "biuUSO"
    if discrete:
        if width != 1:
            raise ValueError(
                f"discrete=True needs one label per sample, got y of shape {tuple(yn.shape)}"
            )
        return yn[:, 0]
    yf = to_numpy(yn, name="y")
    check_finite(yf, "y")
    if width == 1:
        v = yf[:, 0]
        distinct = np.unique(v).size
        if not official and distinct <= n_clusters:
            warnings.warn(
                f"y is a float array with only {distinct} distinct values: it is binned into "
                f"n_clusters = {n_clusters} equal-width bins; pass discrete=True to use the "
                "values as labels",
                UserWarning,
                stacklevel=3,
            )
        lo, hi = v.min(), v.max()
        if hi == lo:  # the reference divides by zero here; every sample lands in the last bin
            return np.full(n, n_clusters, dtype=np.int64)
        edges = np.linspace(0.0, 1.0, n_clusters + 1)[:-1]
        return np.digitize((v - lo) / (hi - lo), bins=edges)
    if n_clusters >= n:
        raise ValueError(f"n_clusters must be < n = {n} to cluster y, got {n_clusters}")
    if clustering == "spectral":
        from sklearn.cluster import SpectralClustering

        model = SpectralClustering(
            n_clusters=n_clusters,
            affinity="nearest_neighbors",
            assign_labels="cluster_qr",
            random_state=random_state,
        )
    else:
        from sklearn.cluster import KMeans

        model = KMeans(n_clusters=n_clusters, n_init=10, random_state=random_state)
    return np.asarray(model.fit(yf).labels_)


def diffusion_spectral_mutual_information(
    x: Any,
    y: Any = None,
    *,
    discrete: bool | None = None,
    clusters: Any = None,
    sigma: float | str = 10.0,
    t: float = 1,
    alpha: float = 0.0,
    n_clusters: int = 10,
    clustering: str = "spectral",
    num_repetitions: int = 5,
    max_n: int | None = 10000,
    seed: int | np.random.Generator | None = 0,
    mode: str = "exact",
    knn: int = 7,
    base: float = 2.0,
    return_se: bool = False,
    return_clusters: bool = False,
) -> Any:
    """Diffusion Spectral Mutual Information (bits by default):
    ``DSMI = sum_c (n_c / N) (mean_r DSE(random size-n_c subset of x) - DSE(x[y == c]))``.

    The size-matched reference term removes DSE's growth with the number of points. DSMI is
    not symmetric, not a calibrated Shannon MI and can be negative.

    Partition of ``y`` (as dse-dsmi does it): discrete labels as-is (inferred for one column of
    integer, bool or string dtype; the official mode infers integers only); a continuous scalar is
    min-max scaled and cut into ``n_clusters`` equal-width bins; vectors (n, d' > 1) are
    clustered with sklearn ``SpectralClustering(affinity="nearest_neighbors",
    assign_labels="cluster_qr")`` (or ``KMeans`` with ``clustering="kmeans"``) seeded from
    ``seed`` (the official mode uses ``random_state=0`` as the reference does).

    Args:
        x: (N, d) samples (numpy or torch).
        y: (N,) or (N, d') reference; may be None when ``clusters`` is given.
        discrete: force (True) or forbid (False) reading ``y`` as labels; None infers.
        clusters: (N,) precomputed partition used instead of clustering a continuous ``y``.
        sigma, t, alpha, knn: as in :func:`diffusion_spectral_entropy`. A global bandwidth rule
            is evaluated once on all of ``x`` so that every subset uses the same kernel; the
            ``"knn"`` rule is per sample and is re-evaluated within each subset.
        n_clusters: bins/clusters for a continuous ``y``.
        num_repetitions: random subsets per cluster for the reference term.
        max_n: per-subset subsampling limit of the inner DSE calls.
        seed: int, numpy Generator or None (exact); int or None (official: Python's Mersenne
            Twister reseeded per cluster like the reference, without touching global state).
        mode: ``"exact"`` or ``"official"`` (dse-dsmi 1.1 numbers).
        base: logarithm base of the result.
        return_se: also return the Monte-Carlo standard error of the reference term,
            ``sqrt(sum_c (n_c/N)^2 var_c / R)`` (needs ``num_repetitions >= 2``).
        return_clusters: also return the (N,) cluster labels used (numpy).

    Returns:
        ``dsmi`` (float or 0-d tensor like ``x``), then ``se`` and ``clusters`` when requested.
        Cost: (R + 1) DSE evaluations per cluster, each O(n_c^3).
    """
    import torch

    _check_common(sigma, t, alpha, mode)
    _check_max_n(max_n)
    check_base(base)
    if clustering not in CLUSTERINGS:
        raise ValueError(f"clustering must be one of {CLUSTERINGS}, got {clustering!r}")
    if isinstance(num_repetitions, bool) or not isinstance(num_repetitions, int):
        raise ValueError(f"num_repetitions must be a positive int, got {num_repetitions!r}")
    if num_repetitions < 1 or (return_se and num_repetitions < 2):
        raise ValueError(
            f"num_repetitions must be >= 1 (>= 2 with return_se=True), got {num_repetitions}"
        )
    numpy_in = not is_tensor(x)
    xt = _prepare_x(x)
    n = xt.shape[0]
    if isinstance(n_clusters, bool) or not isinstance(n_clusters, int) or n_clusters < 1:
        raise ValueError(f"n_clusters must be a positive int, got {n_clusters!r}")

    official = mode == "official"
    off_seed = _official_seed(seed) if official else None
    rng = None if official else numpy_rng(seed)
    if clusters is not None:
        if y is not None and discrete:
            raise ValueError("pass either discrete labels y or precomputed clusters, not both")
        labels = clusters.detach().cpu().numpy() if is_tensor(clusters) else np.asarray(clusters)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.shape != (n,):
            raise ValueError(f"clusters must have shape ({n},), got {tuple(labels.shape)}")
    elif y is None:
        raise ValueError("y is required unless precomputed clusters are given")
    else:
        if official:
            random_state = 0
        elif seed is None:
            random_state = None
        else:
            random_state = (
                int(rng.integers(2**31 - 1)) if isinstance(seed, np.random.Generator) else int(seed)
            )
        labels = _partition(
            y,
            n,
            discrete=discrete,
            n_clusters=n_clusters,
            clustering=clustering,
            random_state=random_state,
            official=official,
        )
    classes, counts = np.unique(labels, return_counts=True)
    weights = counts / counts.sum()

    if official:
        xd = xt.detach()
        sig = float(sigma)
        mt = random.Random()
        terms, variances = [], []
        for c, n_c in zip(classes, counts, strict=True):
            # inner DSE calls run with the reference's defaults (random_seed=0)
            mask = torch.as_tensor(labels == c, device=xd.device)
            h_c = _official_dse_bits(xd[mask], sig, t, max_n, 0, mt)
            if off_seed is not None:
                mt.seed(off_seed)
            refs = [
                _official_dse_bits(
                    xd[torch.as_tensor(mt.sample(range(n), k=int(n_c)), device=xd.device)],
                    sig,
                    t,
                    max_n,
                    0,
                    mt,
                )
                for _ in range(num_repetitions)
            ]
            terms.append(float(np.mean(refs)) - h_c)
            variances.append(float(np.var(refs, ddof=1)) if num_repetitions > 1 else 0.0)
        mi_nats = float(np.sum(weights * np.array(terms))) * math.log(2.0)
        se_nats = math.sqrt(float(np.sum(weights**2 * np.array(variances))) / num_repetitions)
        out: list[Any] = [_scalar_out(to_base(mi_nats, base), xt, numpy_in)]
        if return_se:
            out.append(_scalar_out(to_base(se_nats, base), xt, numpy_in))
    else:
        sig = bandwidth(xt, sigma) if isinstance(sigma, str) and sigma != "knn" else sigma
        singletons = int((counts < 2).sum())
        if singletons:
            warnings.warn(
                f"{singletons} cluster(s) have a single sample; they contribute 0 to DSMI",
                UserWarning,
                stacklevel=2,
            )

        def draw(idx: np.ndarray) -> np.ndarray:
            if max_n is not None and idx.size > max_n:
                idx = idx[rng.choice(idx.size, size=max_n, replace=False)]
            return idx

        def batch_dse_nats(sub: Any) -> Any:
            sq = (sub * sub).sum(dim=-1)
            d2 = (sq[..., :, None] + sq[..., None, :] - 2.0 * (sub @ sub.mT)).clamp_min(0.0)
            off = ~torch.eye(d2.shape[-1], dtype=torch.bool, device=d2.device)
            g = torch.exp(-(d2 * off) / (2.0 * float(sig) ** 2))  # exact 0 self-distances
            m, _, _ = _normalise(g, alpha)
            return _spectrum_entropy_nats(torch.linalg.eigvalsh(m), t)

        def dse_nats(index_sets: list[np.ndarray]) -> Any:
            """DSE (nats) of equally sized subsets. Under a global bandwidth their kernels are
            built and diagonalised in batches of at most _BATCH_ENTRIES kernel entries: the same
            numbers as one subset at a time, with far fewer calls for small clusters."""
            ix = torch.as_tensor(np.stack(index_sets), device=xt.device)
            if sig == "knn":
                return torch.stack([_dse_nats(xt[i], sig, t, alpha, knn) for i in ix])
            per = max(1, _BATCH_ENTRIES // ix.shape[1] ** 2)
            return torch.cat([batch_dse_nats(xt[ix[i : i + per]]) for i in range(0, len(ix), per)])

        mi = xt.new_zeros(())
        var = xt.new_zeros(())
        for c, n_c, w in zip(classes, counts, weights, strict=True):
            if n_c < 2:
                continue
            sets = [draw(np.flatnonzero(labels == c))]
            sets += [
                draw(rng.choice(n, size=int(n_c), replace=False)) for _ in range(num_repetitions)
            ]
            values = dse_nats(sets)
            h_c, refs = values[0], values[1:]
            mi = mi + float(w) * (refs.mean() - h_c)
            if num_repetitions > 1:
                var = var + float(w) ** 2 * refs.var(unbiased=True) / num_repetitions
        out = [restore(to_base(mi, base), numpy_in)]
        if return_se:
            out.append(restore(to_base(var.sqrt(), base), numpy_in))
    if return_clusters:
        out.append(labels)
    return out[0] if len(out) == 1 else tuple(out)
