"""Shared fixtures for the entropykit-shared tests."""

from __future__ import annotations

from entropykit_shared.testing import one_thread

__all__ = ["one_thread"]
