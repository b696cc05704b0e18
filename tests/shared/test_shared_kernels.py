"""Kernels, distances and bandwidth rules; and the numpy/torch conventions of _backend."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.spatial.distance import cdist
from sklearn.metrics.pairwise import cosine_similarity
from sklearn.metrics.pairwise import rbf_kernel as sk_rbf

from entropykit_shared._backend import check_base, restore, to_base, to_numpy, to_torch
from entropykit_shared.kernels import (
    bandwidth,
    cosine_kernel,
    linear_kernel,
    rbf_kernel,
    squared_distances,
)

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 5))
Y = RNG.normal(size=(30, 5))


def test_squared_distances_match_scipy_and_have_zero_diagonal() -> None:
    d2 = squared_distances(X)
    np.testing.assert_allclose(d2, cdist(X, X, "sqeuclidean"), atol=1e-12)
    assert np.all(np.diag(d2) == 0.0)
    assert d2.min() >= 0.0
    np.testing.assert_allclose(squared_distances(X, Y), cdist(X, Y, "sqeuclidean"), atol=1e-12)


def test_blocked_distances_equal_unblocked() -> None:
    np.testing.assert_allclose(squared_distances(X, block_size=7), squared_distances(X), atol=1e-12)


def test_near_duplicates_never_give_negative_distances() -> None:
    base = RNG.normal(size=(1, 50)) * 1e4
    pts = np.repeat(base, 20, axis=0) + RNG.normal(size=(20, 50)) * 1e-6
    assert squared_distances(pts).min() >= 0.0


@pytest.mark.parametrize("sigma", [0.5, 2.0, 10.0])
def test_rbf_fixed_sigma_matches_sklearn(sigma: float) -> None:
    np.testing.assert_allclose(rbf_kernel(X, sigma=sigma), sk_rbf(X, gamma=1 / (2 * sigma**2)))
    np.testing.assert_allclose(
        rbf_kernel(X, Y, sigma=sigma), sk_rbf(X, Y, gamma=1 / (2 * sigma**2))
    )


def test_bandwidth_rules() -> None:
    d2 = cdist(X, X, "sqeuclidean")[~np.eye(len(X), dtype=bool)]
    assert bandwidth(X, "median") == pytest.approx(math.sqrt(np.median(d2) / 2))
    assert bandwidth(X, "median_distance") == pytest.approx(np.median(np.sqrt(d2)))
    assert bandwidth(X, "sqrt_dim") == pytest.approx(math.sqrt(5))
    assert bandwidth(X, 3.0) == 3.0
    sig = bandwidth(X, "knn", knn=3)
    expected = np.sort(cdist(X, X), axis=1)[:, 3]
    np.testing.assert_allclose(sig, expected)


def test_knn_kernel_is_symmetric_and_scale_free() -> None:
    k = rbf_kernel(X, sigma="knn", knn=5)
    np.testing.assert_allclose(k, k.T)
    np.testing.assert_allclose(np.diag(k), 1.0)
    np.testing.assert_allclose(rbf_kernel(7.5 * X, sigma="knn", knn=5), k, atol=1e-12)


def test_median_kernel_is_scale_free_but_fixed_sigma_is_not() -> None:
    np.testing.assert_allclose(rbf_kernel(3 * X, sigma="median"), rbf_kernel(X, sigma="median"))
    assert not np.allclose(rbf_kernel(3 * X, sigma=1.0), rbf_kernel(X, sigma=1.0))


def test_cosine_and_linear_kernels() -> None:
    np.testing.assert_allclose(cosine_kernel(X), cosine_similarity(X), atol=1e-12)
    np.testing.assert_allclose(cosine_kernel(X, Y), cosine_similarity(X, Y), atol=1e-12)
    assert np.all(np.diag(cosine_kernel(X)) == 1.0)
    np.testing.assert_allclose(linear_kernel(X, Y), X @ Y.T)


def test_torch_in_torch_out_on_same_dtype_and_autograd() -> None:
    xt = torch.tensor(X, requires_grad=True)
    k = rbf_kernel(xt, sigma=2.0)
    assert isinstance(k, torch.Tensor)
    assert k.dtype == torch.float64
    k.sum().backward()
    assert xt.grad is not None
    assert torch.isfinite(xt.grad).all()
    np.testing.assert_allclose(k.detach().numpy(), rbf_kernel(X, sigma=2.0))
    assert isinstance(rbf_kernel(X), np.ndarray)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: rbf_kernel(np.ones(5)), "must be 2-D"),
        (lambda: rbf_kernel(X, np.ones((3, 4))), "same number of features"),
        (lambda: rbf_kernel(np.array([[np.nan, 1.0], [0.0, 1.0]])), "NaN or infinite"),
        (lambda: rbf_kernel(X, sigma=-1.0), "sigma must be positive"),
        (lambda: rbf_kernel(X, sigma="silverman"), "unknown bandwidth rule"),
        (lambda: rbf_kernel(X, Y, sigma="knn"), "pass y=None"),
        (lambda: bandwidth(X, "knn", knn=40), r"knn must lie in \[1, n_samples - 1\]"),
        (lambda: bandwidth(np.zeros((5, 2)), "median"), "bandwidth is 0"),
        (lambda: bandwidth(np.zeros((5, 2)), "knn", knn=1), "duplicate samples"),
        (lambda: bandwidth(X[:1], "median"), "at least 2 samples"),
        (
            lambda: cosine_kernel(np.vstack([X[:3], np.zeros((1, 5))])),
            r"zero vectors at rows \[3\]",
        ),
    ],
)
def test_bad_inputs_name_the_problem(call, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        call()


def test_backend_round_trip_and_units() -> None:
    assert to_torch([1, 2]).dtype == torch.float64
    assert to_torch(torch.ones(2, dtype=torch.bfloat16)).dtype == torch.float32
    assert to_torch(torch.arange(3)).dtype == torch.float64
    assert isinstance(restore(torch.tensor(2.0, dtype=torch.float64), True), np.float64)
    assert isinstance(restore((torch.ones(2), torch.tensor(1.0)), True)[0], np.ndarray)
    assert isinstance(restore(torch.ones(2), False), torch.Tensor)
    np.testing.assert_array_equal(to_numpy(torch.ones(2, requires_grad=True)), np.ones(2))
    assert to_base(math.log(8), 2) == pytest.approx(3.0)
    assert to_base(1.5, math.e) == 1.5
    for bad in (1, 0, -2, math.inf):
        with pytest.raises(ValueError, match="base must be positive"):
            check_base(bad)
    with pytest.raises(ValueError, match="numeric array-like"):
        to_torch(["a", "b"])


def test_to_torch_keeps_scalar_and_strided_shapes() -> None:
    assert to_torch(3.0).shape == ()
    assert to_torch(np.float64(2.0)).shape == ()
    strided = np.arange(12.0).reshape(3, 4)[:, ::2]
    np.testing.assert_array_equal(to_torch(strided).numpy(), strided)


def test_tanimoto_matches_jaccard_pairs() -> None:
    from scipy.spatial.distance import jaccard

    from entropykit_shared.kernels import tanimoto_kernel

    bits = (RNG.random((12, 32)) > 0.6).astype(float)
    bits[0] = 0.0  # an empty fingerprint
    k = tanimoto_kernel(bits)
    for i in range(1, 12):
        for j in range(1, 12):
            assert k[i, j] == pytest.approx(1.0 - jaccard(bits[i], bits[j]))
    assert k[0, 0] == 1.0
    assert k[0, 1] == 0.0
    np.testing.assert_allclose(k, k.T)
    assert np.linalg.eigvalsh(k).min() > -1e-10  # PSD
    with pytest.raises(ValueError, match="only 0/1 values"):
        tanimoto_kernel(bits * 2)


def test_probability_product_kernel() -> None:
    from entropykit_shared.kernels import probability_product_kernel

    p = RNG.dirichlet(np.ones(5), size=8)
    k = probability_product_kernel(p)
    np.testing.assert_allclose(np.diag(k), 1.0)
    np.testing.assert_allclose(k[1, 2], np.sum(np.sqrt(p[1] * p[2])))
    one_hot = np.eye(5)[[0, 0, 3]]
    np.testing.assert_allclose(
        probability_product_kernel(one_hot), [[1, 1, 0], [1, 1, 0], [0, 0, 1]]
    )
    with pytest.raises(ValueError, match="must sum to 1"):
        probability_product_kernel(p * 2)
    with pytest.raises(ValueError, match="negative entries"):
        probability_product_kernel(-p)


def test_ngram_kernel() -> None:
    from entropykit_shared.kernels import ngram_kernel
    from entropykit_shared.spectral import vendi_score

    texts = ["a cat sat on the mat", "a cat sat on the mat", "Stock prices fell sharply.", ""]
    k = ngram_kernel(texts)
    np.testing.assert_allclose(np.diag(k), 1.0)
    assert k[0, 1] == pytest.approx(1.0)
    assert k[0, 2] == pytest.approx(0.0)
    assert k[0, 3] == 0.0
    k1 = ngram_kernel(["the cat", "the dog"], ns=(1,))
    assert k1[0, 1] == pytest.approx(0.5)  # one shared word of two, cosine of (1,1,0).(1,0,1)/2
    # blocks {0, 1}, {2}, {3}: eigenvalues 1/2, 1/4, 1/4, Vendi = exp(1.5 log 2)
    assert vendi_score(K=k) == pytest.approx(2**1.5, abs=1e-9)
    custom = ngram_kernel(["A-B", "a b"], ns=(1,), tokenizer=lambda s: s.split())
    assert custom[0, 1] == 0.0
    with pytest.raises(ValueError, match="list of strings"):
        ngram_kernel("one string")
