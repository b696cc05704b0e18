"""metrics.jsonl logging, JSON-safe conversion and env.json capture."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from entropykit.records import MetricsLogger, capture_env, dump_json, to_jsonable


def test_to_jsonable_converts_arrays_tensors_paths_and_non_finite() -> None:
    value = {
        "np": np.float32(1.5),
        "arr": np.arange(3),
        "t": torch.tensor([1.0, 2.0]),
        "t0": torch.tensor(3),
        "path": Path("/x/y"),
        "nan": math.nan,
        "inf": -math.inf,
        "nested": [(1, 2), {"a": np.int64(4)}],
        "flag": True,
    }
    out = to_jsonable(value)
    assert out == {
        "np": 1.5,
        "arr": [0, 1, 2],
        "t": [1.0, 2.0],
        "t0": 3,
        "path": "/x/y",
        "nan": "nan",
        "inf": "-inf",
        "nested": [[1, 2], {"a": 4}],
        "flag": True,
    }
    json.dumps(out, allow_nan=False)  # strict JSON


def test_dump_json_is_strict(tmp_path: Path) -> None:
    dump_json({"loss": float("nan")}, tmp_path / "s.json")
    assert json.loads((tmp_path / "s.json").read_text(encoding="utf-8")) == {"loss": "nan"}


def test_metrics_logger_appends_records_and_acts_as_step_callback(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    logger = MetricsLogger(path)
    logger.log(step=0, loss=1.0)
    logger(1, {"loss": torch.tensor(0.5), "acc": np.float64(0.25)})
    logger.log(note="no step given")
    logger.close()
    records = MetricsLogger.read(path)
    assert [r["step"] for r in records] == [0, 1, 2]
    assert records[1]["loss"] == 0.5
    assert records[1]["acc"] == 0.25
    assert all(r["time"] >= 0 for r in records)
    assert len(path.read_text(encoding="utf-8").splitlines()) == 3


def test_metrics_logger_rejects_reserved_keys_and_closed_use(tmp_path: Path) -> None:
    logger = MetricsLogger(tmp_path / "m.jsonl")
    with pytest.raises(ValueError, match="'time' is reserved"):
        logger.log(time=3.0)
    logger.close()
    with pytest.raises(RuntimeError, match="closed"):
        logger.log(loss=1.0)


def test_capture_env_records_what_reproduces_a_run() -> None:
    env = capture_env(device="cpu", seed=7, argv=["entropykit-x", "train"])
    assert env["argv"] == ["entropykit-x", "train"]
    assert env["seed"] == 7
    assert env["device"]["name"] == "cpu"
    assert env["python"].count(".") == 2
    assert "entropykit" in env["packages"]
    assert "entropykit-shared" in env["packages"]
    assert "torch" in env["packages"]
    json.dumps(env, allow_nan=False)


json_leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
)
nested = st.recursive(
    json_leaves,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(nested)
@settings(max_examples=200, deadline=None)
def test_to_jsonable_always_gives_strict_json_that_round_trips(value: object) -> None:
    out = to_jsonable(value)
    text = json.dumps(out, allow_nan=False)  # raises on NaN/inf: must never happen
    assert json.loads(text) == out
    assert to_jsonable(out) == out  # idempotent
