"""Fixtures for the sandbox tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sandbox_harness import LoopbackListener, World


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    """Files, a loopback listener and shared module state a lens must not touch."""
    listener = LoopbackListener()
    try:
        yield World(tmp_path, listener)
    finally:
        listener.close()
