"""Capture intermediate representations of a network with forward hooks.

A *layer* is the dotted name of a submodule (``model.named_modules()``, e.g. ``"layer4"`` or
``"blocks.3.mlp"``); its captured representation is the module's output, flattened per sample to
a row of an (N, D) matrix (a conv map (C, H, W) becomes C*H*W columns, a token sequence (L, C)
becomes L*C columns). The special name ``"penultimate"`` is the *input* of the final classifier,
the representation the DSE/DSMI training-dynamics study measures:

- models with timm's ``get_classifier()`` (every timm model): the module it returns (the first
  one for distilled models that return ``(head, head_dist)``); its input is exactly
  ``model.forward_head(model.forward_features(x), pre_logits=True)`` in eval mode;
- any other ``nn.Module`` (``nn.Sequential``, torchvision models, your own): the last
  ``nn.Linear`` in registration order (``model.modules()``), which for ``nn.Sequential`` and
  ordinary modules is the last one executed.

The penultimate features are read with a forward *pre*-hook on that classifier, so they are the
vector it receives, after any pooling, normalisation, flattening or (eval-mode) dropout.
Pass explicit layer names when the classifier is not the last ``nn.Linear`` (e.g. a SimCLR
projection head follows the backbone).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import BatchSampler, DataLoader, SequentialSampler

from entropykit_shared.runtime import resolve_device

PENULTIMATE = "penultimate"


def layer_names(model: nn.Module) -> list[str]:
    """Dotted names of every submodule of ``model`` that can be captured (the root excluded),
    in registration order. ``"penultimate"`` is accepted in addition (see the module docstring).
    """
    return [name for name, _ in model.named_modules() if name]


def _classifier_candidates(model: nn.Module) -> list[nn.Module]:
    found: list[nn.Module] = []
    getter = getattr(model, "get_classifier", None)
    if callable(getter):
        head = getter()
        if isinstance(head, (tuple, list)) and head:
            head = head[0]
        if isinstance(head, nn.Module):
            found.append(head)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if linears:
        found.append(linears[-1])
    return found


def penultimate_layer(model: nn.Module) -> str:
    """Name of the final classifier module whose *input* is the penultimate representation.

    Rule: timm's ``model.get_classifier()`` when the model has it, otherwise the last
    ``nn.Linear`` in ``model.modules()`` order (see the module docstring).

    Raises:
        ValueError: the model has neither, or the classifier is the model itself.
    """
    names = {id(module): name for name, module in model.named_modules() if name}
    for head in _classifier_candidates(model):
        if id(head) in names:
            return names[id(head)]
    raise ValueError(
        "cannot find the final classifier of this model (no get_classifier() and no nn.Linear "
        "submodule), so 'penultimate' is undefined; pass layer names explicitly, one of: "
        f"{layer_names(model)}"
    )


def _resolve_layers(
    model: nn.Module, layers: str | Sequence[str] | None
) -> dict[str, tuple[nn.Module, bool]]:
    """{requested name: (module, read its input instead of its output)}."""
    requested = [PENULTIMATE] if layers is None else [layers] if isinstance(layers, str) else layers
    requested = list(requested)
    if not requested or not all(isinstance(name, str) for name in requested):
        raise ValueError(f"layers must be a non-empty list of layer names, got {layers!r}")
    if len(set(requested)) != len(requested):
        raise ValueError(f"layers contains duplicates: {requested}")
    modules = dict(model.named_modules())
    targets: dict[str, tuple[nn.Module, bool]] = {}
    for name in requested:
        if name == PENULTIMATE:
            targets[name] = (modules[penultimate_layer(model)], True)
        elif name and name in modules:
            targets[name] = (modules[name], False)
        else:
            raise ValueError(
                f"model has no layer {name!r}; available: {[PENULTIMATE, *layer_names(model)]}"
            )
    return targets


class FeatureCapture:
    """Context manager that records the flattened, detached representations of ``layers``
    during every forward pass of ``model``.

    Usage::

        with FeatureCapture(model, ["penultimate", "layer3"]) as cap:
            logits = model(x)
            feats = cap.pop()  # {"penultimate": (B, D1), "layer3": (B, D2)}

    The hooks are removed on exit. Each layer must run exactly once per forward pass; call
    :meth:`pop` after every forward. Tensors stay on the model's device in their own dtype.

    Args:
        model: the network.
        layers: a layer name, a list of them, or None for ``["penultimate"]``.
    """

    def __init__(self, model: nn.Module, layers: str | Sequence[str] | None = None) -> None:
        self.model = model
        self.targets = _resolve_layers(model, layers)
        self._handles: list[Any] = []
        self._store: dict[str, torch.Tensor] = {}

    def _record(self, name: str, value: Any) -> None:
        if not isinstance(value, torch.Tensor) or value.ndim == 0:
            raise ValueError(
                f"layer {name!r} produced {type(value).__name__}, not a batched tensor; capture "
                "a submodule whose output is a (B, ...) tensor"
            )
        if name in self._store:
            raise ValueError(
                f"layer {name!r} ran more than once in one forward pass (or pop() was not "
                "called after the previous forward); capture a module that runs once"
            )
        self._store[name] = value.detach().reshape(value.shape[0], -1)

    def __enter__(self) -> FeatureCapture:
        for name, (module, read_input) in self.targets.items():
            if read_input:

                def pre_hook(_m: nn.Module, args: tuple[Any, ...], name: str = name) -> None:
                    self._record(name, args[0] if args else None)

                self._handles.append(module.register_forward_pre_hook(pre_hook))
            else:

                def hook(_m: nn.Module, _args: Any, out: Any, name: str = name) -> None:
                    self._record(name, out)

                self._handles.append(module.register_forward_hook(hook))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        self._store.clear()

    def pop(self) -> dict[str, torch.Tensor]:
        """The (B, D) representations of the last forward pass, then forget them.

        Raises:
            ValueError: a layer did not run during that forward pass.
        """
        missing = [name for name in self.targets if name not in self._store]
        if missing:
            self._store.clear()
            raise ValueError(
                f"layers {missing} did not run during the forward pass; pick modules on the "
                "forward path of this model"
            )
        out, self._store = self._store, {}
        return out


@dataclass(frozen=True)
class Captured:
    """Representations of a (sub)sample of a data set.

    Attributes:
        features: {layer name: (N, D_layer) float32 CPU tensor}.
        labels: (N,) labels (CPU, their own dtype) when the data yields them, else None.
        indices: (N,) int64 positions of the kept rows in the data's order (sorted).
        n_total: number of rows the data yielded.
        inputs: (N, D_x) float32 CPU flattened inputs when requested, else None.
    """

    features: dict[str, torch.Tensor]
    labels: torch.Tensor | None
    indices: torch.Tensor
    n_total: int
    inputs: torch.Tensor | None = None


def subset_indices(n: int, max_samples: int | None, seed: int) -> np.ndarray:
    """Sorted positions of ``min(n, max_samples)`` rows drawn without replacement by
    ``numpy.random.default_rng(seed)`` (all rows when ``max_samples`` is None or >= n)."""
    if max_samples is None or max_samples >= n:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_samples, replace=False))


def _known_length(data: Any) -> int | None:
    """Number of rows the data will yield, when it is certain before iterating (a tensor, or a
    DataLoader over a sized dataset with sequential order and no dropped batch)."""
    if isinstance(data, torch.Tensor):
        return int(data.shape[0])
    if (
        isinstance(data, DataLoader)
        and isinstance(data.sampler, SequentialSampler)
        and type(data.batch_sampler) is BatchSampler
        and not data.drop_last
        and hasattr(data.dataset, "__len__")
    ):
        return len(data.dataset)  # type: ignore[arg-type]
    return None


def _batches(data: Any, batch_size: int) -> Iterator[tuple[torch.Tensor, Any]]:
    if isinstance(data, torch.Tensor):
        if data.ndim == 0:
            raise ValueError("data must be a (N, ...) tensor, got a 0-d tensor")
        for start in range(0, data.shape[0], batch_size):
            yield data[start : start + batch_size], None
        return
    if not isinstance(data, Iterable):
        raise ValueError(
            f"data must be a tensor or an iterable of batches (a DataLoader), got "
            f"{type(data).__name__}"
        )
    for batch in data:
        if isinstance(batch, torch.Tensor):
            yield batch, None
        elif isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], torch.Tensor):
            yield batch[0], batch[1] if len(batch) > 1 else None
        else:
            raise ValueError(
                "each batch must be an input tensor x or a tuple (x, y, ...) whose first item "
                f"is the input tensor, got {type(batch).__name__}"
            )


def _model_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    params = next(iter(model.parameters()), None)
    here = params.device if params is not None else torch.device("cpu")
    if device is None:
        return here
    want = resolve_device(device) if isinstance(device, str) else torch.device(device)
    if params is not None and want.type != here.type:
        raise ValueError(
            f"the model's parameters are on {here} but device={str(device)!r}; move the model "
            "there first or pass device=None to use the model's device"
        )
    return want


def _check_finite(name: str, value: torch.Tensor) -> None:
    bad = ~torch.isfinite(value)
    if bool(bad.any()):
        rows = int(bad.any(dim=1).sum())
        raise ValueError(
            f"layer {name!r} produced {int(bad.sum())} non-finite values (NaN/inf) in {rows} of "
            f"{value.shape[0]} samples; check the inputs and the model (diverged training?) "
            "before measuring entropies"
        )


def capture(
    model: nn.Module,
    data: Any,
    layers: str | Sequence[str] | None = None,
    *,
    device: str | torch.device | None = None,
    max_samples: int | None = None,
    seed: int = 0,
    batch_size: int = 256,
    return_inputs: bool = False,
) -> Captured:
    """Run ``model`` over ``data`` in eval mode under ``torch.no_grad()`` and collect the
    flattened representations of ``layers`` (see the module docstring for names).

    Subsampling: the kept rows are :func:`subset_indices` ``(N, max_samples, seed)`` (the same
    rows for every layer, the labels and the inputs; the global RNGs are not touched). When N is
    known before iterating (a tensor, or a DataLoader with sequential order over a sized data
    set) only the kept rows are forwarded (rows are independent in eval mode); otherwise every
    row is forwarded and the subset is taken at the end. The training flag of every submodule
    is restored afterwards.

    Args:
        model: the network (already on its device).
        data: a (N, ...) input tensor, or an iterable of batches (a DataLoader) yielding ``x``
            or ``(x, y, ...)`` with ``x`` a (B, ...) tensor and ``y`` B labels. Use a fixed
            order (``shuffle=False``) when comparing captures across epochs.
        layers: a layer name, a list of them, or None for ``["penultimate"]``.
        device: where inputs are sent; None uses the device of the model's parameters.
        max_samples: keep at most this many rows (>= 2; None keeps all).
        seed: seed of the row subset.
        batch_size: batch size used when ``data`` is a tensor.
        return_inputs: also return the kept inputs flattened to (N, D_x) float32.

    Returns:
        A :class:`Captured` with the (N, D) float32 CPU features of every layer.

    Raises:
        ValueError: unknown layer (the message lists the available names), malformed batches,
            labels whose length differs from their batch, empty data, or NaN/inf features
            (naming the layer).
    """
    if max_samples is not None and (
        isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 2
    ):
        raise ValueError(f"max_samples must be an int >= 2 or None, got {max_samples!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    dev = _model_device(model, device)
    n_known = _known_length(data)
    keep = None if n_known is None else subset_indices(n_known, max_samples, seed)

    feats: dict[str, list[torch.Tensor]] = {}
    labels: list[torch.Tensor] = []
    inputs: list[torch.Tensor] = []
    has_labels: bool | None = None
    offset = 0
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        with FeatureCapture(model, layers) as cap, torch.no_grad():
            feats = {name: [] for name in cap.targets}
            for x, y in _batches(data, batch_size):
                b = int(x.shape[0])
                if has_labels is None:
                    has_labels = y is not None
                elif has_labels != (y is not None):
                    raise ValueError("some batches carry labels and others do not")
                if keep is None:
                    rows = None
                else:
                    lo, hi = np.searchsorted(keep, [offset, offset + b])
                    rows = torch.as_tensor(keep[lo:hi] - offset)
                offset += b
                if rows is not None and rows.numel() == 0:
                    continue
                x_kept = x if rows is None else x[rows]
                if y is not None:
                    y = torch.as_tensor(y)
                    if y.ndim == 0 or y.shape[0] != b:
                        raise ValueError(
                            f"a batch has {b} inputs but labels of shape {tuple(y.shape)}; "
                            "yield one label per input"
                        )
                    labels.append((y if rows is None else y[rows.to(y.device)]).cpu())
                model(x_kept.to(dev))
                for name, value in cap.pop().items():
                    feats[name].append(value.float().cpu())
                if return_inputs:
                    inputs.append(x_kept.detach().reshape(x_kept.shape[0], -1).float().cpu())
    finally:
        for module, mode in modes:
            module.training = mode

    if offset == 0:
        raise ValueError("data yielded no samples")
    if n_known is not None and offset != n_known:
        raise ValueError(f"data yielded {offset} rows but its length is {n_known}")
    out = {name: torch.cat(parts) for name, parts in feats.items()}
    lab = torch.cat(labels) if labels else None
    inp = torch.cat(inputs) if inputs else None
    if keep is None:
        keep = subset_indices(offset, max_samples, seed)
        sel = torch.as_tensor(keep)
        out = {name: value[sel] for name, value in out.items()}
        lab = None if lab is None else lab[sel]
        inp = None if inp is None else inp[sel]
    for name, value in out.items():
        _check_finite(name, value)
    return Captured(
        features=out,
        labels=lab,
        indices=torch.as_tensor(keep, dtype=torch.int64),
        n_total=offset,
        inputs=inp,
    )
