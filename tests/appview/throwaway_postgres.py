"""A throwaway PostgreSQL cluster on a free loopback port, for the appview tests and benchmarks.

PostgreSQL refuses to run as root, so under root the cluster belongs to the ``postgres`` user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from atdata.network.loopback import free_port


def postgres_bin() -> Path:
    """The directory of the server binaries (``initdb``, ``postgres``) of the newest installed version."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if not candidates and shutil.which("initdb"):
        candidates = [shutil.which("initdb") or ""]
    if not candidates:
        raise RuntimeError("PostgreSQL server binaries not found: apt-get install postgresql")
    return Path(candidates[0]).parent


@contextmanager
def postgres_cluster(*, durable: bool = False) -> Iterator[str]:
    """Start a fresh cluster and yield its admin URL; stop and delete it afterwards.

    ``durable=False`` turns fsync off (tests: durability across OS crashes is not under test);
    benchmarks keep the server's defaults.
    """
    bin_dir = postgres_bin()
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
    settings = [] if durable else ["-c", "fsync=off"]
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
            *settings,
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
