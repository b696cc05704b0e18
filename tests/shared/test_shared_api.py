"""The public API: every documented name at the package root, and a light import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import entropykit_shared

# The names the package promises (README of the shared package and the math docs).
REQUIRED = [
    "entropy",
    "renyi_entropy",
    "tsallis_entropy",
    "hill_number",
    "entropy_from_logits",
    "bald",
    "binary_entropy_from_logits",
    "attention_entropy",
    "cluster_entropy",
    "von_neumann_entropy",
    "renyi_matrix_entropy",
    "vendi_score",
    "rbf_kernel",
    "cosine_kernel",
    "linear_kernel",
    "diffusion_spectral_entropy",
    "diffusion_spectral_mutual_information",
    "row_normalize",
    "stationary_distribution",
    "entropy_rate",
    "knn_entropy",
    "weighted_knn_entropy",
    "ksg_mutual_information",
    "mixed_mutual_information",
    "conditional_mutual_information",
    "binned_entropy",
    "binned_mutual_information",
    "gaussian_entropy",
    "gaussian_mutual_information",
    "infonce_bound",
    "nwj_bound",
    "mine_bound",
    "bits_from_likelihoods",
    "bits_per_pixel",
    "bd_rate",
    "bd_psnr",
    "epr_from_velocity",
    "ou_entropy_production",
    "entropy_after_map",
    "seed_everything",
    "resolve_device",
    "make_fabric",
    "FabricConfig",
]


@pytest.mark.parametrize("name", REQUIRED)
def test_name_is_importable_from_the_root(name: str) -> None:
    assert name in entropykit_shared.__all__
    assert callable(getattr(entropykit_shared, name))


def test_every_exported_name_resolves() -> None:
    for name in entropykit_shared.__all__:
        assert getattr(entropykit_shared, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = entropykit_shared.nope


def test_import_is_light() -> None:
    code = (
        "import sys, entropykit_shared; "
        "print(sorted(m for m in ('torch', 'numpy', 'scipy', 'sklearn') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_lazy_exports_load_on_first_use_and_cache() -> None:
    from entropykit_shared.lazy import lazy_exports

    namespace: dict = {}
    getattr_, dir_ = lazy_exports("entropykit_shared", {"bd_rate": "bdrate"}, namespace)
    from entropykit_shared.bdrate import bd_rate

    assert getattr_("bd_rate") is bd_rate
    assert namespace["bd_rate"] is bd_rate  # cached: later look-ups skip __getattr__
    assert "bd_rate" in dir_()
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        getattr_("nope")
