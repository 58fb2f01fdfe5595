"""Fixtures of the resolve tests: private config and cache dirs, and no leftover ``atdata.configure``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from resolve_world import World, build_world, serve_appview, serve_directory

from atdata.config import reset_configuration
from atdata_registry.devstack import DevStack


@pytest.fixture(autouse=True)
def private_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Config (trust policy) and cache go to a temp dir, never the user's real ones."""
    for var, sub in (("ATDATA_CONFIG_DIR", "config"), ("ATDATA_CACHE_DIR", "cache")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    for var in ("ATDATA_APPVIEW", "ATDATA_PLC", "ATDATA_PDS"):
        monkeypatch.delenv(var, raising=False)
    yield tmp_path
    reset_configuration()


@pytest.fixture(scope="session")
def world(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The published network of :mod:`resolve_world`, built once for the resolve tests."""
    root = tmp_path_factory.mktemp("resolve-world")
    (root / "shards").mkdir()
    db = root / "appview.db"
    with serve_directory(root / "shards") as shards_url, serve_appview(db, dev_stack) as appview:
        yield build_world(dev_stack, root / "shards", shards_url, db, appview)
