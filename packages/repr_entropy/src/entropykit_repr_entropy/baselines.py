"""Mutual-information baselines the paper compares DSMI with, shared by the tracker and the toy
experiments (all in bits):

- :func:`classic_shannon_mi` (CSMI): DSMI's size-matched difference with the binned entropy
  (CSE) in place of DSE, as the paper's comparison computes it;
- :func:`mine_estimate`: MINE, a Donsker-Varadhan bound of a trained critic.

KSG-family estimators and the plug-in binned MI come straight from ``entropykit_shared``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from entropykit_shared.binning import binned_entropy
from entropykit_shared.neural_mi import mine_bound, shuffle_pairs


def classic_shannon_mi(
    x: np.ndarray, y: np.ndarray, bins: int, repetitions: int, rng: np.random.Generator
) -> float:
    """CSMI in bits: DSMI's size-matched difference with the binned entropy in place of DSE."""
    classes, counts = np.unique(y, return_counts=True)
    total = 0.0
    for c, n_c in zip(classes, counts, strict=True):
        if n_c < 2:
            continue
        h_c = float(binned_entropy(x[y == c], bins, base=2.0))
        refs = [
            float(binned_entropy(x[rng.choice(len(y), size=n_c, replace=False)], bins, base=2.0))
            for _ in range(repetitions)
        ]
        total += float(n_c / len(y) * (np.mean(refs) - h_c))
    return total


def mine_estimate(
    z: torch.Tensor,
    labels: np.ndarray,
    *,
    epochs: int = 200,
    batch_size: int = 500,
    lr: float = 1e-4,
    hidden: int = 100,
    seed: int = 0,
) -> float:
    """MINE estimate (bits) of I(Z; C) for continuous Z and discrete labels C.

    A critic ``T(z, onehot(c))`` (MLP, two hidden ReLU layers of width ``hidden``) is trained
    with Adam to maximise the Donsker-Varadhan bound with MINE's moving-average gradient
    correction (:func:`entropykit_shared.neural_mi.mine_bound`), product-of-marginals pairs
    being a derangement of the labels within each mini-batch; the returned value is the DV bound
    on all N samples (labels deranged once) after training. Z is standardised per column.

    Args:
        z: (N, D) representations.
        labels: (N,) discrete labels.
        epochs, batch_size, lr, hidden: training of the critic (paper: 200, 500, 1e-4).
        seed: seeds the critic's initialisation, the batch order and the derangements (the
            global RNGs are restored afterwards).

    Returns:
        The bound in bits (a biased, upward-on-average estimate of a lower bound of I).
    """
    zf = z.detach().to(torch.float32).cpu()
    zf = (zf - zf.mean(0)) / zf.std(0).clamp_min(1e-8)
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    onehot = nn.functional.one_hot(torch.as_tensor(codes.reshape(-1)), int(codes.max()) + 1)
    c = onehot.to(torch.float32)
    n = zf.shape[0]
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        critic = nn.Sequential(
            nn.Linear(zf.shape[1] + c.shape[1], hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, 1),
        )
    opt = torch.optim.Adam(critic.parameters(), lr=lr)

    def scores(rows: torch.Tensor, partner: torch.Tensor) -> torch.Tensor:
        return critic(torch.cat([zf[rows], c[partner]], dim=1)).squeeze(-1)

    ema = None
    with torch.enable_grad():
        for _ in range(epochs):
            order = torch.randperm(n, generator=gen)
            for start in range(0, n, batch_size):
                rows = order[start : start + batch_size]
                if rows.numel() < 2:
                    continue
                bound, ema = mine_bound(
                    scores(rows, rows), scores(rows, shuffle_pairs(rows, seed=gen)), ema
                )
                opt.zero_grad()
                (-bound).backward()
                opt.step()
    with torch.no_grad():
        everything = torch.arange(n)
        bound, _ = mine_bound(
            scores(everything, everything),
            scores(everything, shuffle_pairs(everything, seed=gen)),
            base=2.0,
        )
    return float(bound)
