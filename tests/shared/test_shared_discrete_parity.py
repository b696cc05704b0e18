"""Parity of the discrete entropies with the reference peers: npeet-plus 0.2.0 (``entropyd``,
``midd``; plug-in estimators in bits by default) and torch's ``Categorical.entropy``.

Known conventions of the references (not bugs): npeet-plus defaults to bits (``base=2``) while
entropykit defaults to nats; ``entropyd`` on 2-D samples counts unique rows (a joint entropy).
No numerical bug was found in these peers for the plug-in discrete entropy.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from entropykit_shared.clusters import semantic_entropy
from entropykit_shared.discrete import entropy, miller_madow_entropy
from entropykit_shared.logits import entropy_from_logits

_npeet = pytest.importorskip(
    "npeet_plus", reason="reference package missing: run uv sync (dev group)"
)
entropyd, midd = _npeet.entropyd, _npeet.midd


def _labels(n: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.choice(k, size=n, p=rng.dirichlet(np.ones(k)))


@pytest.mark.parametrize(("n", "k", "seed"), [(50, 3, 0), (500, 10, 1), (2000, 40, 2)])
def test_entropyd_parity_in_bits_and_nats(n, k, seed):
    x = _labels(n, k, seed)
    ref_bits = entropyd(x)  # npeet default: bits
    assert semantic_entropy(x, base=2) == pytest.approx(ref_bits, rel=1e-13)
    assert entropy(np.bincount(x), base=2) == pytest.approx(ref_bits, rel=1e-13)
    assert semantic_entropy(x) == pytest.approx(entropyd(x, base=math.e), rel=1e-13)
    # Miller-Madow differs from npeet's plug-in by exactly (m - 1) / (2 N) nats
    m = np.unique(x).size
    mm = miller_madow_entropy(np.bincount(x))
    assert mm - entropyd(x, base=math.e) == pytest.approx((m - 1) / (2 * n), rel=1e-10)


def test_joint_entropy_and_midd_parity():
    x, y = _labels(1000, 4, 3), _labels(1000, 5, 4)
    y = (y + x) % 5  # dependent
    joint = np.zeros((4, 5))
    np.add.at(joint, (x, y), 1.0)
    h_xy = entropy(joint.ravel(), base=2)
    assert h_xy == pytest.approx(entropyd(np.c_[x, y]), rel=1e-13)
    mi = entropy(joint.sum(1), base=2) + entropy(joint.sum(0), base=2) - h_xy
    assert mi == pytest.approx(midd(x, y), rel=1e-10, abs=1e-13)
    assert mi > 0.05


def test_categorical_entropy_parity():
    z = torch.tensor(np.random.default_rng(5).normal(scale=4.0, size=(64, 33)))
    ref = torch.distributions.Categorical(logits=z).entropy()
    torch.testing.assert_close(entropy_from_logits(z), ref, rtol=1e-12, atol=1e-13)
    ref_probs = torch.distributions.Categorical(probs=torch.softmax(z, -1)).entropy()
    torch.testing.assert_close(entropy(torch.softmax(z, -1)), ref_probs, rtol=1e-12, atol=1e-13)
