"""llm_uq test fixtures: every test gets its own generation cache folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    cache = tmp_path_factory.mktemp("ek-cache")
    monkeypatch.setenv("ENTROPYKIT_CACHE", str(cache))
    return cache
