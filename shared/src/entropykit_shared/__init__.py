"""entropykit-shared: the package every entropykit domain imports.

The entropy and information math (one module per family: ``discrete``, ``logits``, ``attention``,
``clusters``, ``spectral``, ``kernels``, ``linalg``, ``diffusion``, ``randomwalk``, ``knn``,
``binning``, ``gaussian``, ``neural_mi``, ``rate``, ``bdrate``, ``epr``, ``surrogates``,
``transforms``), the runtime basics (:mod:`entropykit_shared.runtime`: seeding, devices, Fabric),
the run-directory schema (:mod:`entropykit_shared.rundir`) and test contracts
(:mod:`entropykit_shared.testing`, imported on demand: it needs pytest).

Every public name is importable from the package root; modules load on first use, so
``import entropykit_shared`` imports neither torch nor numpy.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from entropykit_shared.lazy import lazy_exports

try:
    __version__ = version("entropykit-shared")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

#: public name -> the module that defines it
_EXPORTS: dict[str, str] = {
    "entropy": "discrete",
    "renyi_entropy": "discrete",
    "hill_number": "discrete",
    "tsallis_entropy": "discrete",
    "miller_madow_entropy": "discrete",
    "kl_divergence": "discrete",
    "js_divergence": "discrete",
    "BaldDecomposition": "logits",
    "entropy_from_logits": "logits",
    "token_entropies": "logits",
    "bald": "logits",
    "binary_entropy_from_logits": "logits",
    "attention_entropy": "attention",
    "attention_entropy_from_scores": "attention",
    "entropy_regularizer": "attention",
    "cluster_entropy": "clusters",
    "semantic_entropy": "clusters",
    "NotPSDWarning": "spectral",
    "von_neumann_entropy": "spectral",
    "renyi_matrix_entropy": "spectral",
    "matrix_renyi_mutual_information": "spectral",
    "effective_rank": "spectral",
    "vendi_score": "spectral",
    "quality_weighted_vendi_score": "spectral",
    "intdiv": "spectral",
    "squared_distances": "kernels",
    "bandwidth": "kernels",
    "rbf_kernel": "kernels",
    "cosine_kernel": "kernels",
    "linear_kernel": "kernels",
    "tanimoto_kernel": "kernels",
    "probability_product_kernel": "kernels",
    "ngram_kernel": "kernels",
    "dual_gram_eigenvalues": "linalg",
    "random_fourier_features": "linalg",
    "nystrom_features": "linalg",
    "slq_trace": "linalg",
    "topk_spectral_entropy": "linalg",
    "diffusion_operator": "diffusion",
    "diffusion_spectral_entropy": "diffusion",
    "diffusion_spectral_mutual_information": "diffusion",
    "row_normalize": "randomwalk",
    "stationary_distribution": "randomwalk",
    "stationary_distribution_from_similarity": "randomwalk",
    "entropy_rate": "randomwalk",
    "bayes_inversion": "randomwalk",
    "weighted_knn_weights": "knn",
    "knn_entropy": "knn",
    "weighted_knn_entropy": "knn",
    "ksg_mutual_information": "knn",
    "conditional_mutual_information": "knn",
    "mixed_mutual_information": "knn",
    "bin_indices": "binning",
    "binned_entropy": "binning",
    "binned_mutual_information": "binning",
    "gaussian_entropy": "gaussian",
    "gaussian_mutual_information": "gaussian",
    "gaussian_kl": "gaussian",
    "correlated_gaussian_pairs": "gaussian",
    "pairwise_distance_mi_bounds": "gaussian",
    "infonce_bound": "neural_mi",
    "nwj_bound": "neural_mi",
    "mine_bound": "neural_mi",
    "shuffle_pairs": "neural_mi",
    "bits_from_likelihoods": "rate",
    "bits_per_pixel": "rate",
    "discretized_gaussian_likelihood": "rate",
    "BD_METHODS": "bdrate",
    "bd_psnr": "bdrate",
    "bd_rate": "bdrate",
    "epr_from_velocity": "epr",
    "ou_stationary_covariance": "epr",
    "ou_entropy_production": "epr",
    "divergence": "epr",
    "nn_log_mean_distance": "surrogates",
    "kl_entropy_surrogate": "surrogates",
    "entropy_after_map": "transforms",
    "DEVICE_CHOICES": "runtime",
    "FabricConfig": "runtime",
    "StepCallback": "runtime",
    "fabric_from_config": "runtime",
    "finish_fabric": "runtime",
    "make_fabric": "runtime",
    "resolve_device": "runtime",
    "seed_everything": "runtime",
}

__all__ = [
    "BD_METHODS",
    "DEVICE_CHOICES",
    "BaldDecomposition",
    "FabricConfig",
    "NotPSDWarning",
    "StepCallback",
    "__version__",
    "attention_entropy",
    "attention_entropy_from_scores",
    "bald",
    "bandwidth",
    "bayes_inversion",
    "bd_psnr",
    "bd_rate",
    "bin_indices",
    "binary_entropy_from_logits",
    "binned_entropy",
    "binned_mutual_information",
    "bits_from_likelihoods",
    "bits_per_pixel",
    "cluster_entropy",
    "conditional_mutual_information",
    "correlated_gaussian_pairs",
    "cosine_kernel",
    "diffusion_operator",
    "diffusion_spectral_entropy",
    "diffusion_spectral_mutual_information",
    "discretized_gaussian_likelihood",
    "divergence",
    "dual_gram_eigenvalues",
    "effective_rank",
    "entropy",
    "entropy_after_map",
    "entropy_from_logits",
    "entropy_rate",
    "entropy_regularizer",
    "epr_from_velocity",
    "fabric_from_config",
    "finish_fabric",
    "gaussian_entropy",
    "gaussian_kl",
    "gaussian_mutual_information",
    "hill_number",
    "infonce_bound",
    "intdiv",
    "js_divergence",
    "kl_divergence",
    "kl_entropy_surrogate",
    "knn_entropy",
    "ksg_mutual_information",
    "linear_kernel",
    "make_fabric",
    "matrix_renyi_mutual_information",
    "miller_madow_entropy",
    "mine_bound",
    "mixed_mutual_information",
    "ngram_kernel",
    "nn_log_mean_distance",
    "nwj_bound",
    "nystrom_features",
    "ou_entropy_production",
    "ou_stationary_covariance",
    "pairwise_distance_mi_bounds",
    "probability_product_kernel",
    "quality_weighted_vendi_score",
    "random_fourier_features",
    "rbf_kernel",
    "renyi_entropy",
    "renyi_matrix_entropy",
    "resolve_device",
    "row_normalize",
    "seed_everything",
    "semantic_entropy",
    "shuffle_pairs",
    "slq_trace",
    "squared_distances",
    "stationary_distribution",
    "stationary_distribution_from_similarity",
    "tanimoto_kernel",
    "token_entropies",
    "topk_spectral_entropy",
    "tsallis_entropy",
    "vendi_score",
    "von_neumann_entropy",
    "weighted_knn_entropy",
    "weighted_knn_weights",
]

if TYPE_CHECKING:
    from entropykit_shared.attention import (
        attention_entropy,
        attention_entropy_from_scores,
        entropy_regularizer,
    )
    from entropykit_shared.bdrate import (
        BD_METHODS,
        bd_psnr,
        bd_rate,
    )
    from entropykit_shared.binning import (
        bin_indices,
        binned_entropy,
        binned_mutual_information,
    )
    from entropykit_shared.clusters import (
        cluster_entropy,
        semantic_entropy,
    )
    from entropykit_shared.diffusion import (
        diffusion_operator,
        diffusion_spectral_entropy,
        diffusion_spectral_mutual_information,
    )
    from entropykit_shared.discrete import (
        entropy,
        hill_number,
        js_divergence,
        kl_divergence,
        miller_madow_entropy,
        renyi_entropy,
        tsallis_entropy,
    )
    from entropykit_shared.epr import (
        divergence,
        epr_from_velocity,
        ou_entropy_production,
        ou_stationary_covariance,
    )
    from entropykit_shared.gaussian import (
        correlated_gaussian_pairs,
        gaussian_entropy,
        gaussian_kl,
        gaussian_mutual_information,
        pairwise_distance_mi_bounds,
    )
    from entropykit_shared.kernels import (
        bandwidth,
        cosine_kernel,
        linear_kernel,
        ngram_kernel,
        probability_product_kernel,
        rbf_kernel,
        squared_distances,
        tanimoto_kernel,
    )
    from entropykit_shared.knn import (
        conditional_mutual_information,
        knn_entropy,
        ksg_mutual_information,
        mixed_mutual_information,
        weighted_knn_entropy,
        weighted_knn_weights,
    )
    from entropykit_shared.linalg import (
        dual_gram_eigenvalues,
        nystrom_features,
        random_fourier_features,
        slq_trace,
        topk_spectral_entropy,
    )
    from entropykit_shared.logits import (
        BaldDecomposition,
        bald,
        binary_entropy_from_logits,
        entropy_from_logits,
        token_entropies,
    )
    from entropykit_shared.neural_mi import (
        infonce_bound,
        mine_bound,
        nwj_bound,
        shuffle_pairs,
    )
    from entropykit_shared.randomwalk import (
        bayes_inversion,
        entropy_rate,
        row_normalize,
        stationary_distribution,
        stationary_distribution_from_similarity,
    )
    from entropykit_shared.rate import (
        bits_from_likelihoods,
        bits_per_pixel,
        discretized_gaussian_likelihood,
    )
    from entropykit_shared.runtime import (
        DEVICE_CHOICES,
        FabricConfig,
        StepCallback,
        fabric_from_config,
        finish_fabric,
        make_fabric,
        resolve_device,
        seed_everything,
    )
    from entropykit_shared.spectral import (
        NotPSDWarning,
        effective_rank,
        intdiv,
        matrix_renyi_mutual_information,
        quality_weighted_vendi_score,
        renyi_matrix_entropy,
        vendi_score,
        von_neumann_entropy,
    )
    from entropykit_shared.surrogates import (
        kl_entropy_surrogate,
        nn_log_mean_distance,
    )
    from entropykit_shared.transforms import (
        entropy_after_map,
    )


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
