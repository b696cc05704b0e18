"""Track DSE and DSMI of a network's representations during training.

:class:`RepresentationTracker` is a plain callback: call ``tracker(epoch)`` at the end of every
epoch of any training loop (your own, Lightning, Fabric). Every ``every`` epochs it captures the
representations Z of the configured layers on the same seeded subsample of a fixed data set
(:func:`entropykit_repr_entropy.capture.capture`) and measures, as the training-dynamics study of
Liao et al. does:

- ``dse/<layer>``: DSE(Z) (bits);
- ``dsmi_zy/<layer>``: DSMI(Z; Y) with the class labels Y as the (discrete) partition;
- ``dsmi_zx/<layer>``: DSMI(Z; X) with X partitioned into ``n_clusters`` spectral clusters of the
  flattened inputs, computed once at the first measurement and reused at every later one;

plus the paper's baselines on the same samples (all in bits), each against both references
(labels Y and the cached clusters of X):

- ``cse``: classic Shannon entropy, plug-in entropy of the ``bins``-per-dimension codes of Z
  (:func:`entropykit_shared.binning.binned_entropy`, 2 bins as the paper);
- ``csmi``: DSMI's size-matched difference with CSE in place of DSE, as the paper compares it
  (:func:`entropykit_repr_entropy.baselines.classic_shannon_mi`);
- ``ksg``: the k-nearest-neighbour (KSG family) estimator for a continuous Z and a discrete
  reference, Ross (2014) (:func:`entropykit_shared.knn.mixed_mutual_information`, k = 3);
- ``mine``: the MINE Donsker-Varadhan bound of a small critic trained on (standardised Z,
  one-hot reference), evaluated on all samples
  (:func:`entropykit_repr_entropy.baselines.mine_estimate`).

The data set must be yielded in the same order at every call (``shuffle=False``); the tracker
checks this when the loader yields labels.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from entropykit_repr_entropy.baselines import classic_shannon_mi, mine_estimate
from entropykit_repr_entropy.capture import capture
from entropykit_shared.binning import binned_entropy
from entropykit_shared.diffusion import (
    diffusion_spectral_entropy,
    diffusion_spectral_mutual_information,
)
from entropykit_shared.kernels import BANDWIDTH_RULES
from entropykit_shared.knn import mixed_mutual_information
from entropykit_shared.runtime import StepCallback

BASELINES: tuple[str, ...] = ("cse", "csmi", "ksg", "mine")


def _positive_int(value: Any, name: str, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def _positive_float(value: Any, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"{name} must be a positive number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")


@dataclass
class TrackerConfig:
    """What :class:`RepresentationTracker` measures and how.

    Attributes:
        every: measure at epochs 0, every, 2*every, ... (1: every epoch, as the paper).
        layers: layer names to measure (``"penultimate"`` = input of the final classifier, or
            dotted module names, see :mod:`entropykit_repr_entropy.capture`).
        max_samples: size of the fixed seeded subsample (None: all rows; the eigen-decompositions
            cost O(N^3), so keep N in the low thousands on CPU).
        sigma: Gaussian bandwidth of DSE/DSMI: a positive number (paper and dse-dsmi default
            10.0, also used by the training-dynamics study) or a rule of
            :func:`entropykit_shared.kernels.bandwidth` (``"median"``, ``"median_distance"``,
            ``"sqrt_dim"``, ``"knn"``), evaluated on each measured Z.
        t: diffusion time (paper: 1).
        alpha: anisotropy of the diffusion operator (0 = dse-dsmi's spectrum).
        n_clusters: spectral clusters of the inputs X for DSMI(Z; X) (paper: 10).
        num_repetitions: random size-matched subsets per cluster in DSMI (paper: 5).
        zx: measure DSMI(Z; X) (and the baselines against the clusters of X).
        baselines: any of ``"cse"``, ``"csmi"``, ``"ksg"``, ``"mine"`` (cheap default: CSE and
            CSMI, as in the training-dynamics study).
        bins: bins per dimension of CSE/CSMI (paper: 2).
        ksg_k: neighbour index of the KSG baseline (paper's NPEET default: 3).
        mine_epochs: passes over the subsample to train the MINE critic (paper: 200).
        mine_batch_size: MINE mini-batch size (paper: 500).
        mine_lr: Adam learning rate of the MINE critic (paper: 1e-4).
        mine_hidden: width of the critic's two hidden ReLU layers.
        batch_size: forward batch size when the data is a tensor.
        seed: seed of the subsample, the clustering, the DSMI reference subsets and MINE.
    """

    every: int = 1
    layers: tuple[str, ...] = ("penultimate",)
    max_samples: int | None = 1000
    sigma: float | str = 10.0
    t: float = 1
    alpha: float = 0.0
    n_clusters: int = 10
    num_repetitions: int = 5
    zx: bool = True
    baselines: tuple[str, ...] = ("cse", "csmi")
    bins: int = 2
    ksg_k: int = 3
    mine_epochs: int = 200
    mine_batch_size: int = 500
    mine_lr: float = 1e-4
    mine_hidden: int = 100
    batch_size: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        self.layers = (self.layers,) if isinstance(self.layers, str) else tuple(self.layers)
        self.baselines = (
            (self.baselines,) if isinstance(self.baselines, str) else tuple(self.baselines)
        )
        _positive_int(self.every, "every")
        if not self.layers or len(set(self.layers)) != len(self.layers):
            raise ValueError(f"layers must be distinct layer names, got {self.layers!r}")
        if self.max_samples is not None:
            _positive_int(self.max_samples, "max_samples", 2)
        if isinstance(self.sigma, str):
            if self.sigma not in BANDWIDTH_RULES:
                raise ValueError(
                    f"sigma must be a positive number or one of {BANDWIDTH_RULES}, got "
                    f"{self.sigma!r}"
                )
        else:
            _positive_float(self.sigma, "sigma")
        _positive_float(self.t, "t")
        if isinstance(self.alpha, bool) or not (
            isinstance(self.alpha, (int, float)) and 0.0 <= self.alpha <= 1.0
        ):
            raise ValueError(f"alpha must lie in [0, 1], got {self.alpha!r}")
        _positive_int(self.n_clusters, "n_clusters", 2)
        _positive_int(self.num_repetitions, "num_repetitions")
        unknown = [name for name in self.baselines if name not in BASELINES]
        if unknown or len(set(self.baselines)) != len(self.baselines):
            raise ValueError(
                f"baselines must be distinct names among {BASELINES}, got {self.baselines!r}"
            )
        _positive_int(self.bins, "bins", 2)
        _positive_int(self.ksg_k, "ksg_k")
        _positive_int(self.mine_epochs, "mine_epochs")
        _positive_int(self.mine_batch_size, "mine_batch_size", 2)
        _positive_float(self.mine_lr, "mine_lr")
        _positive_int(self.mine_hidden, "mine_hidden")
        _positive_int(self.batch_size, "batch_size")
        _positive_int(self.seed, "seed", 0)


class RepresentationTracker:
    """Measure DSE/DSMI (and baselines) of a model's representations every few epochs.

    Usage in any loop::

        tracker = RepresentationTracker(model, val_loader, config=TrackerConfig(every=2))
        for epoch in range(epochs):
            train_one_epoch(model)
            tracker(epoch)  # a dict of metrics at epochs 0, 2, 4, ...; None otherwise
        tracker.history, tracker.seconds

    Args:
        model: the network being trained (its training flags are restored after each capture).
        loader: the fixed evaluation data: a (N, ...) tensor or an iterable of batches ``x`` or
            ``(x, y, ...)`` in a fixed order.
        labels: (N,) integer class labels in the loader's order; overrides the labels the loader
            yields. Without labels (none given and none yielded) DSMI(Z; Y) is skipped.
        inputs_for_clusters: (N, ...) inputs to cluster for DSMI(Z; X) (e.g. images downsampled
            to 64x64 as the paper does); default: the model inputs the loader yields.
        config: a :class:`TrackerConfig` (default: the paper's settings, 1000 samples).
        device: where inputs are sent; None uses the device of the model's parameters.
        logger: optional ``logger(epoch, metrics)`` called after every measurement.

    Attributes:
        history: one flat dict per measurement: ``"epoch"``, ``"n_samples"``, ``"seconds"`` and
            ``"<metric>/<layer>"`` for metric in ``dse``, ``dsmi_zy``, ``dsmi_zx``, ``cse``,
            ``csmi_zy``, ``csmi_zx``, ``ksg_zy``, ``ksg_zx``, ``mine_zy``, ``mine_zx`` (those
            enabled and available), all entropies and informations in bits.
        seconds: total wall-clock seconds spent measuring (capture included).
        x_clusters: (n,) cluster labels of X on the subsample, None before the first measurement.
        indices: (n,) positions of the subsample in the loader's order.
    """

    def __init__(
        self,
        model: nn.Module,
        loader: Any,
        labels: Any = None,
        inputs_for_clusters: Any = None,
        config: TrackerConfig | None = None,
        *,
        device: str | torch.device | None = None,
        logger: StepCallback | None = None,
    ) -> None:
        self.model = model
        self.loader = loader
        self.config = TrackerConfig() if config is None else config
        if not isinstance(self.config, TrackerConfig):
            raise ValueError(f"config must be a TrackerConfig, got {type(config).__name__}")
        self.device = device
        self.logger = logger
        self._labels_given = None if labels is None else self._as_labels(labels, "labels")
        self._inputs_given = (
            None if inputs_for_clusters is None else torch.as_tensor(inputs_for_clusters)
        )
        if self._inputs_given is not None and self._inputs_given.ndim == 0:
            raise ValueError("inputs_for_clusters must be a (N, ...) array, got a scalar")
        self.history: list[dict[str, float]] = []
        self.seconds = 0.0
        self.x_clusters: np.ndarray | None = None
        self.indices: torch.Tensor | None = None
        self._n_total: int | None = None
        self._labels: torch.Tensor | None = None
        self._loader_labels: torch.Tensor | None = None
        self._x: torch.Tensor | None = None

    @staticmethod
    def _as_labels(values: Any, what: str) -> torch.Tensor:
        lab = torch.as_tensor(values)
        if lab.ndim != 1:
            raise ValueError(
                f"{what} must be a 1-D array of class ids, got shape {tuple(lab.shape)}"
            )
        if lab.is_floating_point() or lab.is_complex():
            raise ValueError(
                f"{what} must hold integer class ids (DSMI(Z; Y) uses them as a partition), got "
                f"dtype {lab.dtype}; convert them, e.g. labels.long()"
            )
        return lab.cpu()

    def _setup(self, cap: Any) -> None:
        """First measurement: fix the subsample, its labels and the inputs to cluster."""
        n = cap.n_total
        if self._labels_given is not None:
            if self._labels_given.shape[0] != n:
                raise ValueError(
                    f"labels has {self._labels_given.shape[0]} entries but the loader yields {n} "
                    "samples; pass one label per sample in the loader's order"
                )
            self._labels = self._labels_given[cap.indices]
        elif cap.labels is not None:
            self._labels = self._as_labels(cap.labels, "the labels the loader yields")
        if self.config.zx:
            if self._inputs_given is not None:
                if self._inputs_given.shape[0] != n:
                    raise ValueError(
                        f"inputs_for_clusters has {self._inputs_given.shape[0]} rows but the "
                        f"loader yields {n} samples; pass one row per sample in the loader's order"
                    )
                x = self._inputs_given[cap.indices]
                self._x = x.reshape(x.shape[0], -1).to(torch.float32)
            else:
                self._x = cap.inputs
        self._loader_labels = cap.labels
        self._n_total, self.indices = n, cap.indices

    def _check_same_data(self, cap: Any) -> None:
        if cap.n_total != self._n_total:
            raise ValueError(
                f"the loader yielded {cap.n_total} samples, {self._n_total} at the first "
                "measurement; the tracker needs the same data set at every call"
            )
        if self._loader_labels is not None and (
            cap.labels is None or not torch.equal(cap.labels, self._loader_labels)
        ):
            raise ValueError(
                "the loader yields its samples in a different order than at the first "
                "measurement; build it with shuffle=False"
            )

    def _measure_layer(self, name: str, z: torch.Tensor) -> dict[str, float]:
        cfg = self.config
        common = {"sigma": cfg.sigma, "t": cfg.t, "alpha": cfg.alpha, "seed": cfg.seed}
        out = {f"dse/{name}": float(diffusion_spectral_entropy(z, max_n=None, **common))}
        dsmi = {"num_repetitions": cfg.num_repetitions, "max_n": None, **common}
        refs: dict[str, np.ndarray] = {}
        if self._labels is not None:
            out[f"dsmi_zy/{name}"] = float(
                diffusion_spectral_mutual_information(z, self._labels, discrete=True, **dsmi)
            )
            refs["zy"] = self._labels.numpy()
        if cfg.zx:
            if self.x_clusters is None:
                value, self.x_clusters = diffusion_spectral_mutual_information(
                    z, self._x, n_clusters=cfg.n_clusters, return_clusters=True, **dsmi
                )
            else:
                value = diffusion_spectral_mutual_information(z, clusters=self.x_clusters, **dsmi)
            out[f"dsmi_zx/{name}"] = float(value)
            refs["zx"] = np.asarray(self.x_clusters)
        if "cse" in cfg.baselines:
            out[f"cse/{name}"] = float(binned_entropy(z, bins=cfg.bins, base=2.0))
        for tag, ref in refs.items():
            if "csmi" in cfg.baselines:
                out[f"csmi_{tag}/{name}"] = classic_shannon_mi(
                    z, ref, cfg.bins, cfg.num_repetitions, np.random.default_rng(cfg.seed)
                )
            if "ksg" in cfg.baselines:
                out[f"ksg_{tag}/{name}"] = float(
                    mixed_mutual_information(z, ref, k=cfg.ksg_k, base=2.0)
                )
            if "mine" in cfg.baselines:
                out[f"mine_{tag}/{name}"] = mine_estimate(
                    z,
                    ref,
                    epochs=cfg.mine_epochs,
                    batch_size=cfg.mine_batch_size,
                    lr=cfg.mine_lr,
                    hidden=cfg.mine_hidden,
                    seed=cfg.seed,
                )
        return out

    def measure(self, epoch: int) -> dict[str, float]:
        """Capture and measure now, whatever the cadence; append to :attr:`history`.

        Returns:
            The flat metrics dict (see the class docstring).
        """
        start = time.perf_counter()
        cfg = self.config
        first = self._n_total is None
        cap = capture(
            self.model,
            self.loader,
            list(cfg.layers),
            device=self.device,
            max_samples=cfg.max_samples,
            seed=cfg.seed,
            batch_size=cfg.batch_size,
            return_inputs=first and cfg.zx and self._inputs_given is None,
        )
        if first:
            self._setup(cap)
        else:
            self._check_same_data(cap)
        record: dict[str, float] = {"epoch": epoch, "n_samples": int(cap.indices.numel())}
        for name in cfg.layers:
            record.update(self._measure_layer(name, cap.features[name]))
        elapsed = time.perf_counter() - start
        record["seconds"] = elapsed
        self.seconds += elapsed
        self.history.append(record)
        if self.logger is not None:
            self.logger(epoch, record)
        return record

    def __call__(self, epoch: int) -> dict[str, float] | None:
        """End-of-epoch hook: measure when ``epoch % every == 0`` (epochs count from 0).

        Returns:
            The metrics dict, or None when this epoch is skipped.
        """
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise ValueError(f"epoch must be an int >= 0, got {epoch!r}")
        if epoch % self.config.every:
            return None
        return self.measure(epoch)

    def on_epoch_end(self, epoch: int) -> dict[str, float] | None:
        """Alias of ``tracker(epoch)`` for callback-style training loops."""
        return self(epoch)
