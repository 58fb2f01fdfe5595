"""Fixtures shared across test areas."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from atdata_registry.devstack import DevStack, start


@pytest.fixture(scope="session")
def dev_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevStack]:
    """The official PDS and PLC directory on loopback, started once per test session.

    The first run installs the npm packages into the user's cache dir (a few minutes); later runs reuse them.
    Each test creates its own accounts (handles must end in ``.test``), so tests stay independent.
    """
    stack = start(tmp_path_factory.mktemp("devstack"))
    try:
        yield stack
    finally:
        stack.stop()
