"""Fixtures of the registry tests: a private config dir, and fresh accounts on the shared dev stack."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from atdata_registry.devstack import DevStack


@pytest.fixture(autouse=True)
def config_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Session files go to a temp dir, never the user's real config."""
    path = tmp_path / "config"
    monkeypatch.setenv("ATDATA_CONFIG_DIR", str(path))
    monkeypatch.delenv("ATDATA_APP_PASSWORD", raising=False)
    return path


@dataclass(frozen=True)
class Account:
    handle: str
    password: str
    did: str
    pds: str
    plc: str


@pytest.fixture
def account(dev_stack: DevStack) -> Account:
    """A new account on the dev stack's PDS, with a handle no other test uses."""
    handle = f"u{uuid.uuid4().hex[:10]}.test"
    password = f"pw-{uuid.uuid4().hex}"
    did = dev_stack.create_account(handle, password)
    return Account(handle, password, did, dev_stack.pds, dev_stack.plc)
