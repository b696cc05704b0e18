"""Fixtures for the repr_entropy tests: one thread per pool (see
:func:`entropykit_shared.testing.one_thread`)."""

from __future__ import annotations

from entropykit_shared.testing import one_thread

__all__ = ["one_thread"]
