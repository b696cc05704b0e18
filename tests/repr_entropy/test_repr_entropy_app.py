"""The entropykit-repr-entropy command: contract, determinism, train/evaluate round trip,
predict on an embeddings file, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from entropykit_repr_entropy.data import image_folder
from entropykit_repr_entropy.train import TrainConfig
from entropykit_repr_entropy_app.app import app

from entropykit_shared.rundir import check_run_dir
from entropykit_shared.testing import AppContract, DeterminismContract, assert_cli_bad_input, invoke

QUICK = ("--quick", "--device", "cpu", "--seed", "0")


class TestReprEntropyApp(AppContract):
    app = app
    domain = "repr_entropy"

    def test_demo_tracks_every_epoch_of_both_conditions(self, demo_run: Path) -> None:
        histories = json.loads((demo_run / "histories.json").read_text(encoding="utf-8"))
        assert set(histories) == {"supervised/seed0", "overfit/seed0"}
        for history in histories.values():
            assert [row["epoch"] for row in history] == [0, 1]
            assert all(np.isfinite(row["dsmi_zy/penultimate"]) for row in history)
            assert all(row["dse/penultimate"] > 0 for row in history)
        assert (demo_run / "plots" / "per_epoch.png").is_file()


class TestReprEntropyDeterminism(DeterminismContract):
    app = app


def test_train_then_evaluate_the_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "train"
    result = invoke(app, ["train", *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert not check_run_dir(out)
    ckpt = out / "checkpoints" / "model.pt"
    assert ckpt.is_file()
    trained = json.loads((out / "summary.json").read_text(encoding="utf-8"))["results"]
    ev = tmp_path / "eval"
    result = invoke(app, ["evaluate", str(ckpt), *QUICK, "--out", str(ev)])
    assert result.exit_code == 0, result.stdout + result.stderr
    measured = json.loads((ev / "summary.json").read_text(encoding="utf-8"))["results"]
    assert set(measured) == {"penultimate"}
    assert measured["penultimate"]["dse"] > 0
    assert {"dsmi_zy", "dsmi_zx", "cse"} <= set(measured["penultimate"])
    assert trained["dse"] > 0

    # two layers of the training split: one row per layer; the conv map is wider than the
    # 64 features of the penultimate layer, so its CSE is at least as high
    ev2 = tmp_path / "eval2"
    layers = ["--set", "tracker.layers=[conv.3,penultimate]", "--set", "split=train"]
    result = invoke(app, ["evaluate", str(ckpt), *QUICK, "--out", str(ev2), *layers])
    assert result.exit_code == 0, result.stdout + result.stderr
    by_layer = json.loads((ev2 / "summary.json").read_text(encoding="utf-8"))["results"]
    assert list(by_layer) == ["conv.3", "penultimate"]
    assert all(row["dse"] > 0 and np.isfinite(row["dsmi_zy"]) for row in by_layer.values())
    assert by_layer["penultimate"] != measured["penultimate"]  # another split was measured
    assert (ev2 / "plots" / "entropies.png").is_file()

    bad = ["--set", "tracker.layers=[conv.99]"]
    assert_cli_bad_input(
        app, ["evaluate", str(ckpt), *QUICK, "--out", str(tmp_path / "e3"), *bad], match="conv.3"
    )
    assert not (tmp_path / "e3").exists()
    assert_cli_bad_input(
        app,
        ["evaluate", str(ckpt), *QUICK, "--out", str(tmp_path / "e4"), "--set", "split=test"],
        match="split must be 'val' or 'train'",
        exit_code=2,
    )


def test_predict_on_an_embeddings_file(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    z = rng.normal(scale=20.0, size=(3, 8))[labels] + rng.normal(size=(120, 8))
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "y.npy", labels)
    out = tmp_path / "pred"
    args = ["predict", str(tmp_path / "z.npy"), "--labels", str(tmp_path / "y.npy")]
    result = invoke(app, [*args, *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    res = json.loads((out / "summary.json").read_text(encoding="utf-8"))["results"]
    assert res["dsmi_zy"] > 1.0
    assert res["dse"] == pytest.approx(np.log2(3), abs=0.3)


def test_predict_bad_inputs(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert_cli_bad_input(
        app,
        ["predict", str(tmp_path / "none.npy"), *QUICK, "--out", str(out)],
        match="does not exist",
        exit_code=2,
    )
    np.save(tmp_path / "z.npy", np.ones((10, 3)))
    np.save(tmp_path / "y.npy", np.zeros(7, dtype=np.int64))
    args = ["predict", str(tmp_path / "z.npy"), "--labels", str(tmp_path / "y.npy")]
    assert_cli_bad_input(
        app, [*args, *QUICK, "--out", str(out)], match="one label per row", exit_code=2
    )


def test_evaluate_rejects_a_foreign_file(tmp_path: Path) -> None:
    bad = tmp_path / "model.pt"
    import torch

    torch.save({"weights": 1}, bad)
    out = tmp_path / "out"
    assert_cli_bad_input(
        app,
        ["evaluate", str(bad), *QUICK, "--out", str(out)],
        match="not a checkpoint",
        exit_code=2,
    )


def test_bench_quick_writes_the_tables(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = invoke(app, ["bench", *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    tables = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert set(tables["histories"]) == {"supervised/seed0", "overfit/seed0"}
    dims = [row["dim"] for row in tables["intrinsic_dimension"]]
    assert dims == [4, 32]
    low, high = tables["intrinsic_dimension"]
    assert high["dse"] > low["dse"]  # DSE follows the intrinsic dimension
    assert {"dsmi", "csmi", "ksg"} <= set(tables["dimension_sweep"][0])
    assert [row["conv_init_std"] for row in tables["initialisation"]] == [0.01, 0.1]
    assert all(0.0 <= row["val_acc"] <= 1.0 for row in tables["initialisation"])
    # the paper's sigma = 10 measured on the same runs, next to the median rule
    for history in tables["histories"].values():
        assert all(np.isfinite(row["sigma=10:dsmi_zy/penultimate"]) for row in history)
        assert all(row["sigma=10:dse/penultimate"] >= 0 for row in history)
    assert all("sigma=10:initial_dse" in row for row in tables["initialisation"])
    assert (out / "plots" / "per_epoch_fixed_sigma.png").is_file()
    final = json.loads((out / "summary.json").read_text(encoding="utf-8"))["results"]["final"]
    assert {"dse", "sigma=10:dse", "val_acc"} <= set(final["overfit/seed0"])


def _image_folder(root: Path) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(("circle", "square")):
        (root / name).mkdir(parents=True)
        for i in range(15):
            img = (rng.random((12, 12)) * 60 + 150 * k).astype(np.uint8)
            Image.fromarray(img).save(root / name / f"{i}.png")
    return root


# ten validation images in five clusters of X: single-image clusters are expected and warned
@pytest.mark.filterwarnings("ignore:.*single sample:UserWarning")
def test_train_and_evaluate_on_an_image_folder(tmp_path: Path) -> None:
    folder = _image_folder(tmp_path / "images")
    out = tmp_path / "train"
    sets = ["--set", f"data_dir={folder}", "--set", "grayscale=true"]
    result = invoke(app, ["train", *QUICK, "--out", str(out), *sets])
    assert result.exit_code == 0, result.stdout + result.stderr
    ev = tmp_path / "eval"
    ckpt = out / "checkpoints" / "model.pt"
    result = invoke(app, ["evaluate", str(ckpt), *QUICK, "--out", str(ev)])
    assert result.exit_code == 0, result.stdout + result.stderr
    measured = json.loads((ev / "summary.json").read_text(encoding="utf-8"))["results"]
    assert measured["penultimate"]["dse"] > 0


# ten validation images in five clusters of X: single-image clusters are expected and warned
@pytest.mark.filterwarnings("ignore:.*single sample:UserWarning")
def test_evaluate_a_digits_model_on_another_image_folder(tmp_path: Path) -> None:
    out = tmp_path / "train"
    assert invoke(app, ["train", *QUICK, "--out", str(out)]).exit_code == 0
    ckpt = out / "checkpoints" / "model.pt"
    folder = _image_folder(tmp_path / "images")  # 12 x 12 images, resized to the model's 16 x 16
    ev = tmp_path / "eval"
    sets = ["--set", f"data_dir={folder}"]
    result = invoke(app, ["evaluate", str(ckpt), *QUICK, "--out", str(ev), *sets])
    assert result.exit_code == 0, result.stdout + result.stderr
    measured = json.loads((ev / "summary.json").read_text(encoding="utf-8"))["results"]
    assert {"dse", "dsmi_zy", "dsmi_zx", "cse"} <= set(measured["penultimate"])
    cfg = TrainConfig.quick(epochs=1)
    n_val = len(image_folder(folder, 16, val_fraction=cfg.val_fraction, seed=cfg.split_seed).y_val)
    report = (ev / "report.md").read_text(encoding="utf-8")
    assert f"val split, {n_val} images" in report


def test_train_rejects_a_missing_data_dir(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["train", *QUICK, "--out", str(out), "--set", f"data_dir={tmp_path / 'nope'}"]
    assert_cli_bad_input(app, args, match="is not a folder", exit_code=2)
    assert not out.exists()
