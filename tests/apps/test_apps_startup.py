"""Start-up stays light: `entropykit --help` and `entropykit list` import no torch and no app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

PROBE = """
import sys
from entropykit.cli import build_app
try:
    build_app()(args=sys.argv[1:], prog_name="entropykit")
except SystemExit as exc:
    code = exc.code
heavy = sorted(
    m for m in sys.modules
    if m.split(".")[0] in {"torch", "lightning_fabric", "matplotlib", "omegaconf", "numpy",
                           "ek_tiny_app", "tqdm"}
)
print("EXIT", code)
print("HEAVY", heavy)
"""


@pytest.mark.parametrize("args", [["--help"], ["list"], []])
def test_help_and_list_import_nothing_heavy(args: list[str], tiny_installed: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert "tiny" in proc.stdout, "the installed app should be listed"
    assert lines[-1] == "HEAVY []", lines[-1]
    assert lines[-2] in ("EXIT 0", "EXIT 2")  # bare `entropykit` prints help
