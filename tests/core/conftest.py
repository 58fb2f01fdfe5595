"""Fixtures for the core tests: shards written with atdata.ShardWriter into a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from core_types import WriteShards, frame

import atdata


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test's remote shards are cached in its own folder, never the user's cache."""
    monkeypatch.setenv("ATDATA_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def write_shards(tmp_path: Path) -> WriteShards:
    """``write_shards(samples, maxcount=, name=)`` -> brace pattern naming the shards written."""

    def write(samples: list[Any], *, maxcount: int = 1000, name: str = "data") -> str:
        with atdata.ShardWriter(str(tmp_path / f"{name}-%04d.tar"), maxcount=maxcount) as sink:
            for s in samples:
                sink.write(s)
        return str(tmp_path / f"{name}-{{0000..{len(sink.shards) - 1:04d}}}.tar")

    return write


@pytest.fixture
def frames(write_shards: WriteShards) -> str:
    """Ten Frames in four shards (3, 3, 3, 1); the pattern that names them."""
    return write_shards([frame(i) for i in range(10)], maxcount=3)
