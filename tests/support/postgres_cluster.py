"""A throwaway PostgreSQL cluster on loopback, for the tests and the benchmarks (real PostgreSQL)."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from atdata.network.loopback import free_port


def _postgres_bin() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates and shutil.which("initdb"):
        candidates = [shutil.which("initdb") or ""]
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return Path(candidates[0]).parent


@contextlib.contextmanager
def postgres_cluster(**settings: str) -> Iterator[str]:
    """A throwaway PostgreSQL cluster on a free loopback port (``settings``: server settings, as
    ``-c key=value``); yields its admin URL and removes the cluster afterwards.

    PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres`` user.
    """
    bin_dir = _postgres_bin()
    as_user: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="atdata-pg-"))
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        pw = pwd.getpwnam("postgres")
        os.chown(root, pw.pw_uid, pw.pw_gid)
    data, sock = root / "data", root / "sock"
    subprocess.run([*as_user, "mkdir", str(data), str(sock)], check=True)
    subprocess.run(
        [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    port = free_port()
    server = subprocess.Popen(
        [
            *as_user,
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-h",
            "127.0.0.1",
            "-k",
            str(sock),
            "-c",
            "fsync=off",  # a test cluster: durability across OS crashes is not under test
            *(arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    try:
        import psycopg

        deadline = time.monotonic() + 60
        while True:
            try:
                psycopg.connect(url, connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if server.poll() is not None or time.monotonic() > deadline:
                    err = server.stderr.read().decode(errors="replace") if server.stderr else ""
                    raise RuntimeError(f"PostgreSQL did not start: {err[-2000:]}") from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()  # SIGTERM = smart shutdown
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        shutil.rmtree(root, ignore_errors=True)
