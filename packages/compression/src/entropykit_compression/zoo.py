"""Model registry and checkpoints.

Names a user picks a model by (``build_model(name, size)``):

- ``mlicv2``, ``mlicpp``: :class:`entropykit_compression.model.MLIC` (the paper's method and its
  predecessor); component ablations go through ``overrides`` (``{"hgcp": False}``);
- ``factorized``, ``hyperprior``, ``mean_scale``: compressai's ``FactorizedPrior`` (Ballé 2017),
  ``ScaleHyperprior`` (Ballé 2018) and ``MeanScaleHyperprior`` (Minnen 2018), the learned
  baselines the paper's family is measured against, built untrained at the same width.

Sizes: ``paper`` (N = 192, M = 320, 10 slices), ``small`` (N = 64, M = 128, 4 slices; the
CPU-scale model), ``compact`` (N = 32, M = 64, 2 slices; the shipped default checkpoint) and
``tiny`` (N = 16, M = 32, 2 slices; tests). The baselines use the same N and M.

A checkpoint is a ``torch.save`` dict: ``{"format": "entropykit-compression/1", "name", "size",
"overrides", "config", "lmbda", "steps", "state_dict"}`` without the entropy coder's CDF tables
(they follow from the weights); :func:`load_checkpoint` rebuilds the model, loads the weights
and runs ``update(force=True)`` to rebuild the tables.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from entropykit_compression.model import MLIC, MLICConfig

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    from compressai.models import FactorizedPrior, MeanScaleHyperprior, ScaleHyperprior

CHECKPOINT_FORMAT = "entropykit-compression/1"
# The entropy coder's CDF tables: derived from the weights, so not stored (update() rebuilds them).
_CDF_BUFFERS = ("._quantized_cdf", "._offset", "._cdf_length", ".scale_table")
SIZES: dict[str, dict[str, int]] = {
    "paper": {"N": 192, "M": 320, "slices": 10},
    "small": {"N": 64, "M": 128, "slices": 4},
    "compact": {"N": 32, "M": 64, "slices": 2},
    "tiny": {"N": 16, "M": 32, "slices": 2},
}
#: The checkpoint shipped with the package (written by the ``train`` command; see the docs).
DEFAULT_CHECKPOINT = "mlicv2_compact.pt"
_BASELINES: dict[str, Callable[..., nn.Module]] = {
    "factorized": FactorizedPrior,
    "hyperprior": ScaleHyperprior,
    "mean_scale": MeanScaleHyperprior,
}
MODELS: tuple[str, ...] = ("mlicv2", "mlicpp", *_BASELINES)


def build_model(name: str, size: str = "small", overrides: dict[str, Any] | None = None) -> Any:
    """An untrained model by name (see the module docstring)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {MODELS}")
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {tuple(SIZES)}")
    dims = SIZES[size]
    overrides = dict(overrides or {})
    if name in _BASELINES:
        if overrides:
            raise ValueError(f"{name} takes no component overrides, got {sorted(overrides)}")
        return _BASELINES[name](N=dims["N"], M=dims["M"])
    return MLIC(MLICConfig(variant=name, **dims, **overrides))


def model_config(model: Any) -> dict[str, Any]:
    """What a checkpoint records about the architecture."""
    if isinstance(model, MLIC):
        return model.config.resolved()
    return {"class": type(model).__name__}


def save_checkpoint(
    path: str | Path,
    model: Any,
    *,
    name: str,
    size: str,
    overrides: dict[str, Any] | None = None,
    lmbda: float | None = None,
    steps: int | None = None,
    half: bool = False,
) -> str:
    """Write a checkpoint; returns its content hash (the first 16 hex digits of SHA-256), which
    compressed files record so that a file is only ever decoded by the model that wrote it.
    ``half`` stores floating-point weights in float16 (half the size; loaded back as float32)."""
    payload = {
        "format": CHECKPOINT_FORMAT,
        "name": name,
        "size": size,
        "overrides": dict(overrides or {}),
        "config": model_config(model),
        "lmbda": lmbda,
        "steps": steps,
        "state_dict": {
            k: v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu()
            for k, v in model.state_dict().items()
            if not k.endswith(_CDF_BUFFERS)  # rebuilt by update() on loading
        },
    }
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    data = buffer.getvalue()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_bytes(data)
    return hashlib.sha256(data).hexdigest()[:16]


def load_checkpoint(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(model in eval mode with CDF tables built, checkpoint metadata incl. ``"hash"``)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"checkpoint {path} does not exist; pass a .pt file `train` wrote")
    data = path.read_bytes()
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for foreign files
        raise ValueError(f"{path} is not a readable checkpoint: {exc}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not an entropykit-compression checkpoint")
    model = build_model(payload["name"], payload["size"], payload["overrides"])
    state = {k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()}
    result = nn.Module.load_state_dict(model, state, strict=False)
    missing = [k for k in result.missing_keys if not k.endswith(_CDF_BUFFERS)]
    if missing or result.unexpected_keys:
        raise ValueError(
            f"{path} does not match a {payload['name']} ({payload['size']}) model: missing "
            f"{missing[:5]}, unexpected {result.unexpected_keys[:5]}"
        )
    model.eval()
    model.update(force=True)
    meta = {k: v for k, v in payload.items() if k != "state_dict"}
    meta["hash"] = hashlib.sha256(data).hexdigest()[:16]
    return model, meta


def default_checkpoint() -> Path:
    """Path of the checkpoint shipped inside the package (:data:`DEFAULT_CHECKPOINT`)."""
    path = Path(__file__).parent / "weights" / DEFAULT_CHECKPOINT
    if not path.is_file():
        raise ValueError(
            f"the shipped checkpoint {path} is missing (a stripped installation); pass your own "
            "with --set checkpoint=PATH (from `entropykit-compression train`)"
        )
    return path
