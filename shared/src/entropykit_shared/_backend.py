"""Array plumbing shared by the math modules: numpy in -> numpy out, torch in -> torch out.

Conventions every public math function follows:

- Inputs may be numpy arrays, Python sequences or torch tensors. A function computes in torch
  (batched, autograd) or in numpy/scipy (trees, ARPACK) and hands back the caller's kind:
  :func:`restore` turns a torch result into numpy when the caller passed numpy.
- Scalars come back as ``numpy.float64`` (a ``float``) for numpy callers and 0-d tensors for torch.
- Units: nats internally; :func:`to_base` converts for a ``base=`` argument (``math.e`` or 2).
- Validation raises ``ValueError`` naming the argument and the fix (:func:`check_finite`...).
- torch is imported lazily so that importing ``entropykit_shared`` stays cheap.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def is_tensor(x: Any) -> bool:
    """True for a torch tensor (checked without importing torch)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


def to_torch(x: Any, *, dtype: Any = None, name: str = "x") -> Any:
    """A torch tensor of ``x``. numpy and lists become float64 (or ``dtype``); tensors keep their
    device; half-precision tensors are upcast to float32 (entropies underflow in fp16/bf16)."""
    import torch

    if is_tensor(x):
        t = x
        if t.dtype in (torch.float16, torch.bfloat16):
            t = t.float()
        if dtype is not None:
            t = t.to(dtype)
        elif not t.is_floating_point():
            t = t.to(torch.float64)
        return t
    try:
        arr = np.asarray(x, dtype=np.float64 if dtype is None else None)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric array-like, got {type(x).__name__}") from exc
    t = torch.as_tensor(arr)  # keeps 0-d shapes (np.ascontiguousarray would make them 1-d)
    return t.to(dtype) if dtype is not None else t.to(torch.float64)


def to_numpy(x: Any, *, dtype: Any = np.float64, name: str = "x") -> np.ndarray:
    """A numpy array of ``x`` (tensors are detached and moved to the CPU)."""
    if is_tensor(x):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be numeric array-like, got {type(x).__name__}") from exc


def restore(result: Any, numpy_in: bool) -> Any:
    """Give a torch result back in the caller's kind: numpy (scalars as ``np.float64``) when the
    caller passed numpy, else unchanged. Tuples and lists are handled element-wise."""
    if isinstance(result, tuple):
        return tuple(restore(r, numpy_in) for r in result)
    if isinstance(result, list):
        return [restore(r, numpy_in) for r in result]
    if not numpy_in or not is_tensor(result):
        return result
    arr = result.detach().cpu().numpy()
    return arr[()] if arr.ndim == 0 else arr


def check_finite(x: Any, name: str = "x") -> None:
    """Raise ``ValueError`` when ``x`` holds NaN or inf."""
    # all() first: one cheap pass; the count is only computed for the error message
    if is_tensor(x):
        import torch

        if not x.is_floating_point() or bool(torch.isfinite(x).all()):
            return
        bad = int((~torch.isfinite(x)).sum().item())
    else:
        arr = np.asarray(x)
        if arr.dtype.kind not in "fc" or bool(np.isfinite(arr).all()):
            return
        bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); remove or impute them")


def check_2d(x: Any, name: str = "x", *, min_rows: int = 2) -> None:
    """Raise ``ValueError`` unless ``x`` is a 2-D (samples, features) array with enough rows."""
    shape = tuple(x.shape)
    if len(shape) != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features), got shape {shape}; "
            "reshape 1-D data with x[:, None]"
        )
    if shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} samples, got {shape[0]}")


def check_base(base: float) -> float:
    """Validate a logarithm base (> 0 and != 1) and return it as float."""
    b = float(base)
    if not b > 0 or b == 1.0 or not math.isfinite(b):
        raise ValueError(f"base must be positive, finite and not 1 (use math.e or 2), got {base}")
    return b


def to_base(nats: Any, base: float) -> Any:
    """Convert an entropy in nats to ``base`` (``math.e``: unchanged, 2: bits)."""
    b = check_base(base)
    return nats if b == math.e else nats / math.log(b)


def numpy_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A numpy Generator for ``seed``: a Generator is used as is, an int or None seeds a new one.
    The global ``np.random`` state is never used."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer)):
        raise ValueError(
            f"seed must be an int, None or a numpy.random.Generator, got {type(seed).__name__}"
        )
    return np.random.default_rng(seed)
