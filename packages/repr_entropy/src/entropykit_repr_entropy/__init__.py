"""entropykit-repr-entropy: diffusion spectral entropy (DSE) and mutual information (DSMI) of
neural representations during training (Liao et al., 2023).

Track any training loop::

    from entropykit_repr_entropy import RepresentationTracker, TrackerConfig
    tracker = RepresentationTracker(model, val_images, labels=val_labels,
                                    inputs_for_clusters=val_images.flatten(1))
    for epoch in range(epochs):
        ...  # train
        print(tracker(epoch))  # {"dse/penultimate": ..., "dsmi_zy/penultimate": ..., ...}

Names are imported on first use.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from entropykit_shared.lazy import lazy_exports

try:
    __version__ = version("entropykit-repr-entropy")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

_EXPORTS: dict[str, str] = {
    "capture": "capture",
    "Captured": "capture",
    "FeatureCapture": "capture",
    "layer_names": "capture",
    "penultimate_layer": "capture",
    "RepresentationTracker": "tracker",
    "TrackerConfig": "tracker",
    "classic_shannon_mi": "baselines",
    "mine_estimate": "baselines",
    "intrinsic_dimension_data": "toys",
    "blobs_with_corruption": "toys",
    "run_intrinsic_dimension": "toys",
    "run_label_corruption": "toys",
    "run_dimension_sweep": "toys",
    "MIEstimators": "toys",
    "load_digits_split": "data",
    "image_folder": "data",
    "permuted_labels": "data",
    "ImageSplit": "data",
    "build_model": "models",
    "SmallCNN": "models",
    "small_vit": "models",
    "TrainConfig": "train",
    "TrainResult": "train",
    "train": "train",
    "nt_xent": "train",
    "StudyConfig": "study",
    "track_training": "study",
    "run_study": "study",
    "run_init_study": "study",
    "describe_embeddings": "embeddings",
    "load_array": "embeddings",
    "rank_models": "embeddings",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
