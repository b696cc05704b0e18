"""Writing run records: JSON-safe values, ``metrics.jsonl`` and ``env.json``."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO

# Third-party libraries whose versions matter for reproducing a run (read from package metadata,
# so nothing is imported to learn them).
_TRACKED = ("numpy", "scipy", "torch", "torchvision", "lightning-fabric", "scikit-learn", "timm")


def to_jsonable(value: Any) -> Any:
    """Convert results to JSON-safe values.

    numpy/torch scalars and arrays become numbers and lists, paths become strings, and non-finite
    floats become the strings ``"nan"``, ``"inf"``, ``"-inf"`` (strict JSON has no NaN).
    """
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "detach"):  # torch tensor
        value = value.detach().cpu().numpy()
    if hasattr(value, "tolist"):  # numpy array or scalar
        return to_jsonable(value.tolist())
    if hasattr(value, "value") and hasattr(value, "name"):  # enum
        return to_jsonable(value.value)
    return str(value)


def dump_json(value: Any, path: Path) -> None:
    """Write ``value`` as indented, strict JSON."""
    text = json.dumps(to_jsonable(value), indent=2, allow_nan=False)
    path.write_text(text + "\n", encoding="utf-8")


class MetricsLogger:
    """Appends one JSON object per call to ``metrics.jsonl``.

    Use ``logger.log(step=3, loss=0.5)``, or pass the logger itself where a library expects a
    :data:`entropykit_shared.StepCallback`: ``train(cfg, logger=run.metrics)`` calls
    ``logger(step, {"loss": 0.5})``. Each record holds ``step``, ``time`` (seconds since the logger
    was created) and the metrics.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: TextIO | None = self.path.open("a", encoding="utf-8")
        self._start = time.perf_counter()
        self.count = 0

    def log(self, step: int | None = None, **metrics: Any) -> None:
        """Record ``metrics`` at ``step`` (the number of records so far when omitted)."""
        if self._file is None:
            raise RuntimeError(f"metrics logger for {self.path} is closed")
        for reserved in ("step", "time"):
            if reserved in metrics:
                raise ValueError(f"'{reserved}' is reserved in metrics records; rename the metric")
        record = {
            "step": self.count if step is None else int(step),
            "time": round(time.perf_counter() - self._start, 4),
            **metrics,
        }
        self._file.write(json.dumps(to_jsonable(record), allow_nan=False) + "\n")
        self._file.flush()
        self.count += 1

    def __call__(self, step: int, metrics: Mapping[str, Any]) -> None:
        self.log(step=step, **dict(metrics))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    @staticmethod
    def read(path: str | Path) -> list[dict[str, Any]]:
        """All records of a ``metrics.jsonl`` file."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return [json.loads(line) for line in lines if line.strip()]


def package_versions() -> dict[str, str]:
    """Versions of every installed entropykit distribution and of the tracked libraries."""
    versions: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and (name.lower().startswith("entropykit") or name.lower() in _TRACKED):
            versions[name] = dist.version
    return dict(sorted(versions.items()))


def capture_env(*, device: str, seed: int, argv: list[str] | None = None) -> dict[str, Any]:
    """What ``env.json`` records: command line, interpreter, platform, packages, device."""
    device_info: dict[str, Any] = {"name": device}
    if device.startswith("cuda") and "torch" in sys.modules:
        torch = sys.modules["torch"]
        device_info.update(
            cuda_version=torch.version.cuda,
            count=torch.cuda.device_count(),
            names=[torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())],
        )
    if "torch" in sys.modules:
        device_info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return {
        "argv": list(sys.argv if argv is None else argv),
        "cwd": os.getcwd(),
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "seed": seed,
        "device": device_info,
        "packages": package_versions(),
    }
