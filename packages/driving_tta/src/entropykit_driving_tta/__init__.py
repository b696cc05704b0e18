"""entropykit-driving-tta: Centaur, cluster-entropy test-time training for a trajectory-scoring
(Hydra-MDP style) planner, with NAVSIM's PDM score computed in highway-env (Sima et al., 2025).

The pipeline::

    from entropykit_driving_tta import collect, build_vocabulary, build_frames, train, Planner
    logs = collect("highway", range(40)).logs            # IDM/MOBIL expert, 10 Hz
    vocab = build_vocabulary(logs, k=256)                 # k-means++ + perturbed manoeuvres
    frames = build_frames(logs, vocab)                    # features + teacher PDM sub-scores
    model = train(frames, vocab).model                    # Hydra-lite
    planner = Planner(model, vocab, TTTConfig(method="centaur"))

Names are imported on first use.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from entropykit_shared.lazy import lazy_exports

try:
    __version__ = version("entropykit-driving-tta")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0"

_EXPORTS: dict[str, str] = {
    "SCENARIOS": "sim",
    "Scenario": "sim",
    "EpisodeLog": "sim",
    "make_env": "sim",
    "collect": "collect",
    "CollectResult": "collect",
    "save_logs": "collect",
    "load_logs": "collect",
    "Vocabulary": "vocab",
    "VocabularyMismatchError": "vocab",
    "build_vocabulary": "vocab",
    "LaneSet": "geometry",
    "ScoringConfig": "scoring",
    "Scene": "scoring",
    "scene_from_log": "scoring",
    "score_states": "scoring",
    "score_vocabulary": "scoring",
    "track": "control",
    "FrameSet": "features",
    "build_frames": "features",
    "frame_features": "features",
    "HydraLite": "model",
    "ModelConfig": "model",
    "planning_score": "model",
    "TrainConfig": "train",
    "train": "train",
    "save_checkpoint": "train",
    "load_checkpoint": "train",
    "Planner": "centaur",
    "TTTConfig": "centaur",
    "open_loop": "evaluate",
    "open_loop_table": "evaluate",
    "uncertainty_auroc": "evaluate",
    "run_episode": "closed_loop",
    "closed_loop_table": "closed_loop",
    "SAFETY": "closed_loop",
    "plot_scene": "render",
    "render_episode": "render",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())
