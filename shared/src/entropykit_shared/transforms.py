"""Differential entropy under an invertible map.

For an invertible, differentiable ``f``: ``H(f(X)) = H(X) + E[log |det J_f(X)|]`` (1-D:
``E[log |f'(X)|]``). The expectation is a Monte-Carlo mean over samples of ``X`` with the
derivative from torch autograd; ``H(X)`` is given or, for 1-D samples, estimated with
``scipy.stats.differential_entropy``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from entropykit_shared._backend import check_base, check_finite, is_tensor, to_base, to_torch

_METHODS = ("auto", "vasicek", "van es", "ebrahimi", "correa")


def _check_outputs(y: Any) -> None:
    import torch

    bad = int((~torch.isfinite(y)).sum().item())
    if bad:
        raise ValueError(
            f"f(x) is not finite at {bad} value(s): the samples leave f's domain (e.g. log of a "
            "negative number)"
        )


def _log_abs_derivative(f: Callable[[Any], Any], x: Any) -> tuple[Any, Any]:
    """(n,) values of ``log |f'(x_i)|`` (1-D) or ``log |det J_f(x_i)|`` ((n, d) samples), and
    a mask of the samples where the derivative or determinant is 0."""
    import torch

    if x.ndim == 1:
        xg = x.detach().requires_grad_(True)
        with torch.enable_grad():
            y = f(xg)
            if not is_tensor(y) or tuple(y.shape) != tuple(xg.shape):
                raise ValueError(
                    "f must map a (n,) tensor elementwise to a (n,) tensor, got output "
                    f"{getattr(y, 'shape', type(y).__name__)}"
                )
            _check_outputs(y.detach())
            (deriv,) = torch.autograd.grad(y.sum(), xg, create_graph=torch.is_grad_enabled())
        return torch.log(deriv.abs()), deriv == 0
    d = x.shape[1]

    def with_output(v: Any) -> tuple[Any, Any]:
        out = f(v)
        return out, out

    try:
        jac, y = torch.func.vmap(torch.func.jacrev(with_output, has_aux=True))(x)
    except RuntimeError as exc:
        raise ValueError(
            f"f must map one (d,) = ({d},) tensor to a (d,) tensor, written with torch "
            "operations (it is differentiated with torch.func.jacrev under vmap)"
        ) from exc
    if tuple(jac.shape) != (x.shape[0], d, d):
        raise ValueError(f"f must map R^{d} to R^{d}; its Jacobians have shape {tuple(jac.shape)}")
    _check_outputs(y.detach())
    sign, logabsdet = torch.linalg.slogdet(jac)
    return logabsdet, sign == 0


def entropy_after_map(
    f: Callable[[Any], Any],
    samples: Any,
    base_entropy: float | None = None,
    *,
    method: str = "auto",
    base: float = math.e,
    return_se: bool = False,
) -> Any:
    """Entropy of ``f(X)`` from samples of ``X``: ``H(f(X)) = H(X) + E[log |det J_f(X)|]``.

    Args:
        f: a torch callable. For (n,) samples an elementwise map (called once on the whole
            (n,) tensor, differentiated with autograd); for (n, d) samples a map R^d -> R^d
            applied to one (d,) point (Jacobians by ``torch.func.vmap(jacrev(f))``, for small d).
        samples: (n,) or (n, d) samples of ``X`` (numpy or torch; n >= 2).
        base_entropy: ``H(X)`` in the unit of ``base`` when known. None: estimated from 1-D
            samples with ``scipy.stats.differential_entropy(samples, method=method)``; (n, d)
            samples then need ``base_entropy`` (e.g. from a kNN estimator).
        method: the scipy estimator (``"auto"``, ``"vasicek"``, ``"van es"``, ``"ebrahimi"``,
            ``"correa"``).
        base: ``math.e`` (nats) or 2 (bits).
        return_se: also return the standard error of the log-derivative term,
            ``std(log |det J|) / sqrt(n)`` (the ``H(X)`` estimate's own error is not included).

    Returns:
        The entropy (float for numpy samples; 0-d tensor for torch samples, differentiable in
        the parameters of ``f`` when grad is enabled), or ``(estimate, se)``.

    Raises:
        ValueError: when ``f'`` (or ``det J``) is 0 at some samples, e.g. ReLU on negative
            inputs: the map is not invertible there and ``f(X)`` has a point mass, so its
            differential entropy is undefined.
    """
    import torch
    from scipy.stats import differential_entropy

    check_base(base)
    if method not in _METHODS:
        raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
    torch_in = is_tensor(samples)
    x = to_torch(samples, name="samples")
    if x.ndim not in (1, 2):
        raise ValueError(f"samples must be (n,) or (n, d), got shape {tuple(x.shape)}")
    n = x.shape[0]
    if n < 2:
        raise ValueError(f"samples needs at least 2 points, got {n}")
    check_finite(x, "samples")
    log_det, singular = _log_abs_derivative(f, x)
    n_singular = int(singular.sum().item())
    if n_singular:
        raise ValueError(
            f"f is not invertible at {n_singular} of {n} samples (derivative or Jacobian "
            "determinant 0, e.g. ReLU on negative inputs): f(X) has a point mass there and no "
            "differential entropy; use an invertible map (e.g. leaky ReLU) or drop those samples"
        )
    bad = int((~torch.isfinite(log_det)).sum().item())
    if bad:
        raise ValueError(
            f"log |f'| is not finite at {bad} sample(s); f must be differentiable on the samples"
        )
    if base_entropy is None:
        if x.ndim != 1:
            raise ValueError(
                "base_entropy is needed for (n, d) samples: scipy's differential_entropy is 1-D "
                "only; pass H(X), e.g. from a kNN estimator"
            )
        h_x = float(
            differential_entropy(x.detach().cpu().numpy().astype(np.float64), method=method)
        )
    else:
        h_x = float(base_entropy) * math.log(base)  # to nats
    estimate = to_base(h_x + log_det.mean(), base)
    se = to_base(log_det.detach().std(unbiased=True) / math.sqrt(n), base)
    if not torch_in:
        estimate, se = np.float64(estimate.detach()), np.float64(se)
    return (estimate, se) if return_se else estimate
