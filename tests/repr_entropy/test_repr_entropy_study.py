"""The training study: tracking during training, extra trackers on the same run, the
initialisation study."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from entropykit_repr_entropy.study import run_init_study, track_training
from entropykit_repr_entropy.tracker import TrackerConfig
from entropykit_repr_entropy.train import TrainConfig

from entropykit_shared.testing import assert_bad_input

TRACKER = TrackerConfig(
    max_samples=80, sigma="median", baselines=("cse",), num_repetitions=2, n_clusters=4
)


@pytest.fixture(scope="module")
def runs() -> tuple:
    cfg = TrainConfig.quick(epochs=2, max_train=200, max_val=80)
    alone = track_training(cfg, TRACKER)
    fixed = replace(TRACKER, sigma=10.0, baselines=())
    both = track_training(cfg, TRACKER, extra_trackers={"sigma=10": fixed})
    return alone, both


def test_extra_tracker_measures_the_same_run_without_changing_it(runs: tuple) -> None:
    alone, both = runs
    assert len(alone.history) == len(both.history) == 3  # epoch 0 (before training), 1, 2
    for a, b in zip(alone.history, both.history, strict=True):
        for key in ("dse/penultimate", "dsmi_zy/penultimate", "dsmi_zx/penultimate", "val_acc"):
            assert a[key] == b[key]  # training and the main measurement are untouched
        extra = {k for k in b if k.startswith("sigma=10:")}
        assert extra == {
            "sigma=10:dse/penultimate",
            "sigma=10:dsmi_zy/penultimate",
            "sigma=10:dsmi_zx/penultimate",
        }
        # another bandwidth gives another value (the median rule adapts to the feature scale)
        assert b["sigma=10:dse/penultimate"] != b["dse/penultimate"]
        assert np.isfinite(b["sigma=10:dsmi_zy/penultimate"])
    # the reported cost describes the main tracker alone
    assert 0 < both.seconds_in_callback < both.seconds_total


def test_extra_trackers_must_be_tracker_configs() -> None:
    cfg = TrainConfig.quick(epochs=1)
    assert_bad_input(
        track_training, cfg, TRACKER, extra_trackers={"x": {"sigma": 10}}, match="TrackerConfig"
    )


def test_init_study_rows_carry_the_extra_bandwidth() -> None:
    cfg = TrainConfig.quick(epochs=1, max_train=150, max_val=60)
    rows = run_init_study(
        cfg,
        TRACKER,
        conv_init_stds=(0.01, 0.1),
        extra_trackers={"sigma=10": replace(TRACKER, sigma=10.0)},
    )
    assert [r["conv_init_std"] for r in rows] == [0.01, 0.1]
    for row in rows:
        assert set(row) == {
            "conv_init_std",
            "seed",
            "initial_dse",
            "final_dse",
            "sigma=10:initial_dse",
            "sigma=10:final_dse",
            "val_acc",
        }
        assert row["initial_dse"] > 0
    assert_bad_input(run_init_study, cfg, TRACKER, conv_init_stds=(0.0,), match="positive")
