"""Fixtures shared across test areas."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from atdata.network.loopback import free_port
from atdata_registry.devstack import DevStack, start


@pytest.fixture(scope="session", autouse=True)
def no_dev_network_of_the_user(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A local network the developer started with `atdata dev up` is not the tests' business: the
    state dir (where it is recorded) is a fresh one for the session."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ATDATA_STATE_DIR", str(tmp_path_factory.mktemp("state")))
        yield


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


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3-compatible server (moto's, in its own process) on a loopback port; its endpoint URL.

    Readers and writers find it the standard way: tests set ``AWS_ENDPOINT_URL`` and test credentials
    in the environment (:func:`s3_env`).
    """
    import subprocess
    import sys
    import time

    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/moto-api/", timeout=1)
                break
            except httpx.HTTPError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the moto S3 server did not start") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture
def s3_env(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The environment pointing S3 clients at :func:`s3_server` with test credentials; its endpoint."""
    for key, value in {
        "AWS_ENDPOINT_URL": s3_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()  # a filesystem made before reads its endpoint then
    return s3_server
