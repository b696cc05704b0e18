"""The entropykit-compression command: contract, determinism, train -> compress -> decompress
round trip, evaluate, bench, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from entropykit_compression.data import load_image, procedural_image, save_png
from entropykit_compression.zoo import default_checkpoint, load_checkpoint
from entropykit_compression_app.app import app

from entropykit_shared.rundir import check_run_dir
from entropykit_shared.testing import (
    AppContract,
    DeterminismContract,
    assert_cli_bad_input,
    invoke,
    run_results,
)

QUICK = ("--quick", "--device", "cpu", "--seed", "0")
VERBS = ("demo", "train", "evaluate", "compress", "decompress", "bench")


class TestCompressionApp(AppContract):
    app = app
    domain = "compression"
    verbs = VERBS

    def test_demo_reports_a_real_bitstream_and_the_plots(self, demo_run: Path) -> None:
        results = json.loads((demo_run / "summary.json").read_text(encoding="utf-8"))["results"]
        assert results["bpp"] > 0
        assert np.isfinite(results["psnr"])
        for name in ("rd.png", "side_by_side.png"):
            assert (demo_run / "plots" / name).is_file()


class TestCompressionDeterminism(DeterminismContract):
    app = app


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("train") / "run"
    result = invoke(app, ["train", *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    assert not check_run_dir(out)
    return out / "checkpoints" / "model.pt"


def test_train_writes_a_loadable_checkpoint(checkpoint: Path) -> None:
    _, meta = load_checkpoint(checkpoint)
    assert meta["name"] == "mlicv2"
    assert meta["hash"] == run_results(checkpoint.parent.parent)["checkpoint_hash"]


def test_compress_then_decompress_a_users_png(checkpoint: Path, tmp_path: Path) -> None:
    image = procedural_image(70, 90, seed=4, kind="dead_leaves")
    png = save_png(image, tmp_path / "in.png")
    packed, restored = tmp_path / "in.ekic", tmp_path / "out.png"
    sets = ["--set", f"checkpoint={checkpoint}"]
    result = invoke(
        app, ["compress", str(png), str(packed), *QUICK, "--out", str(tmp_path / "c"), *sets]
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    info = run_results(tmp_path / "c")
    assert info["bytes"] == packed.stat().st_size
    assert info["bpp"] == pytest.approx(packed.stat().st_size * 8 / (70 * 90))
    result = invoke(
        app, ["decompress", str(packed), str(restored), *QUICK, "--out", str(tmp_path / "d"), *sets]
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    out = load_image(restored)
    assert out.shape == (3, 70, 90)
    assert float((out - image).abs().mean()) < 0.5  # a (poor, briefly trained) reconstruction


def test_decompress_rejects_corrupted_and_foreign_files(checkpoint: Path, tmp_path: Path) -> None:
    png = save_png(procedural_image(64, 64, seed=1), tmp_path / "in.png")
    packed = tmp_path / "in.ekic"
    sets = ["--set", f"checkpoint={checkpoint}"]
    args = ["compress", str(png), str(packed), *QUICK, "--out", str(tmp_path / "c"), *sets]
    assert invoke(app, args).exit_code == 0
    data = bytearray(packed.read_bytes())
    data[len(data) // 2] ^= 0xFF
    broken = tmp_path / "broken.ekic"
    broken.write_bytes(bytes(data))
    for bad, match in ((broken, "corrupted"), (png, "not an entropykit compressed image")):
        out = tmp_path / f"d-{bad.stem}"
        assert_cli_bad_input(
            app,
            ["decompress", str(bad), str(tmp_path / "x.png"), *QUICK, "--out", str(out), *sets],
            match=match,
            exit_code=2,
        )
        assert not (tmp_path / "x.png").exists()


def test_compress_refuses_to_overwrite_and_missing_inputs(checkpoint: Path, tmp_path: Path) -> None:
    png = save_png(procedural_image(64, 64, seed=1), tmp_path / "in.png")
    taken = tmp_path / "taken.ekic"
    taken.write_bytes(b"keep")
    sets = ["--set", f"checkpoint={checkpoint}"]
    out = tmp_path / "run"
    assert_cli_bad_input(
        app, ["compress", str(png), str(taken), *QUICK, "--out", str(out), *sets], match="exists"
    )
    assert taken.read_bytes() == b"keep"
    assert_cli_bad_input(
        app,
        ["compress", str(tmp_path / "nope.png"), str(tmp_path / "n.ekic"), *QUICK, "--out",
         str(tmp_path / "r2"), *sets],
        match="nope.png",
    )  # fmt: skip
    assert_cli_bad_input(
        app,
        ["compress", str(png), str(tmp_path / "m.ekic"), *QUICK, "--out", str(tmp_path / "r3"),
         "--set", f"checkpoint={png}"],
        match="not a readable checkpoint",
    )  # fmt: skip


def test_default_checkpoint_round_trips(tmp_path: Path) -> None:
    _, meta = load_checkpoint(default_checkpoint())
    assert meta["name"] == "mlicv2"
    assert default_checkpoint().stat().st_size <= 5_000_000
    png = save_png(procedural_image(96, 80, seed=2, kind="gradient"), tmp_path / "g.png")
    packed, restored = tmp_path / "g.ekic", tmp_path / "g.png.out.png"
    assert (
        invoke(
            app, ["compress", str(png), str(packed), *QUICK, "--out", str(tmp_path / "c")]
        ).exit_code
        == 0
    )
    assert (
        invoke(
            app, ["decompress", str(packed), str(restored), *QUICK, "--out", str(tmp_path / "d")]
        ).exit_code
        == 0
    )
    assert load_image(restored).shape == (3, 96, 80)


def test_evaluate_writes_rd_table_and_plot(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    sets = ["--set", f"checkpoints=[{checkpoint}]"]
    result = invoke(app, ["evaluate", *QUICK, "--out", str(out), *sets])
    assert result.exit_code == 0, result.stdout + result.stderr
    evaluation = json.loads((out / "evaluation.json").read_text(encoding="utf-8"))
    assert set(evaluation["curves"]) == {"mlicv2 (tiny)", "jpeg", "webp"}
    learned_rows = [r for r in evaluation["rows"] if r["codec"] == "mlicv2 (tiny)"]
    assert len(learned_rows) == 6  # the six held-out photos
    assert all(r["bpp"] > 0 and np.isfinite(r["psnr"]) for r in learned_rows)
    assert (out / "plots" / "rd.png").is_file()


def test_evaluate_rejects_missing_checkpoints_and_codecs(tmp_path: Path) -> None:
    assert_cli_bad_input(
        app,
        ["evaluate", *QUICK, "--out", str(tmp_path / "a"), "--set", "checkpoints=[/no/such.pt]"],
        match="do not exist",
        exit_code=2,
    )
    assert_cli_bad_input(
        app,
        ["evaluate", *QUICK, "--out", str(tmp_path / "b"), "--set", "codecs=[jpeg2000]"],
        match="not available",
        exit_code=2,
    )


def test_bench_quick_writes_tables(tmp_path: Path) -> None:
    out = tmp_path / "bench"
    result = invoke(app, ["bench", *QUICK, "--out", str(out)])
    assert result.exit_code == 0, result.stdout + result.stderr
    tables = json.loads((out / "bench.json").read_text(encoding="utf-8"))
    assert set(tables["curves"]) >= {"mlicv2", "mean_scale", "jpeg", "mlicv2+ SGA (photos)"}
    assert [p["lmbda"] for p in tables["curves"]["mlicv2"]] == [0.0067, 0.025]
    assert {r["model"] for r in tables["rate_accuracy"]} == {"mlicv2", "mean_scale"}
    assert [r["image"] for r in tables["sga"]] == ["astronaut", "astronaut"]  # one per lambda
    assert all(np.isfinite(r["rd_after"]) and r["bpp"] > 0 for r in tables["sga"])
    assert (out / "plots" / "rd.png").is_file()
    saved = sorted(p.name for p in (out / "checkpoints").glob("*.pt"))
    assert saved == ["mean_scale_0.0067.pt", "mean_scale_0.025.pt", "mlicv2_0.0067.pt",
                     "mlicv2_0.025.pt"]  # fmt: skip
    _, meta = load_checkpoint(out / "checkpoints" / "mlicv2_0.025.pt")
    assert meta["lmbda"] == 0.025
