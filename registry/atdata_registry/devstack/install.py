"""Install the official PDS and PLC npm packages into a cache folder on first use.

node_modules is ~250 MB, so it lives under the user's cache dir (``ATDATA_CACHE_DIR`` overrides it),
outside any checkout, and is reused across runs. A lock file serialises concurrent first uses.

Run ``python -m atdata_registry.devstack`` to warm the cache ahead of time (CI set-up).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import platformdirs

from atdata.errors import AtdataError

log = logging.getLogger(__name__)

PACKAGES: dict[str, str] = {"@atproto/pds": "0.4.217", "@did-plc/server": "0.0.1"}
_MARKER = ".atdata-installed.json"


class DevStackError(AtdataError, RuntimeError):
    """The local dev stack could not be installed, started, stopped or used."""


def install_dir() -> Path:
    """The folder that holds the dev stack's ``node_modules`` (not necessarily installed yet)."""
    base = os.environ.get("ATDATA_CACHE_DIR") or platformdirs.user_cache_dir("atdata")
    return Path(base) / "devstack"


def is_installed(folder: Path | None = None) -> bool:
    folder = folder or install_dir()
    try:
        return bool(json.loads((folder / _MARKER).read_text()) == PACKAGES)
    except (OSError, ValueError):
        return False


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _node_headers() -> str | None:
    """The prefix under which the system's Node.js headers live (``<prefix>/include/node``).

    node-gyp otherwise downloads the headers, which fails offline; Debian's ``nodejs`` ships them
    under ``/usr/include/node``. Found from the running ``node`` so that other layouts work too.
    """
    node = shutil.which("node")
    candidates = [Path(node).resolve().parent.parent] if node else []
    candidates.append(Path("/usr"))
    for prefix in candidates:
        if (prefix / "include" / "node" / "node_version.h").is_file():
            return str(prefix)
    return None


def _build_env(folder: Path) -> dict[str, str]:
    """The environment of npm and node-gyp: nothing taken from the user's ``~/.npmrc`` is needed.

    The node headers are named explicitly, and the compilers get their own TMPDIR so that other jobs
    cleaning ``/tmp`` cannot break a build. Compiling SQLite dominates a first install; it is built
    with ``-O1`` (unless ``CFLAGS`` says otherwise) and on every core: a few minutes less on a small
    machine, for a database that holds a dev network's handful of accounts.
    """
    env = dict(os.environ)
    headers = _node_headers()
    if headers is not None:
        env["npm_config_nodedir"] = headers
    env.setdefault("CFLAGS", "-O1")
    env.setdefault("JOBS", "max")
    tmp = folder / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env["TMPDIR"] = str(tmp)
    return env


def _run(cmd: list[str], cwd: Path, what: str, env: dict[str, str] | None = None) -> None:
    log.info("dev stack: %s (%s)", what, " ".join(cmd))
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-20:])
        raise DevStackError(f"dev stack: {what} failed in {cwd} (exit {proc.returncode}):\n{tail}")


def _native_modules_to_build(node_modules: Path) -> list[Path]:
    # npm 11 here skips install scripts, so better-sqlite3 (the PDS's SQLite driver) arrives unbuilt,
    # possibly at several nesting levels.
    return [
        pkg
        for pkg in node_modules.rglob("better-sqlite3")
        if (pkg / "binding.gyp").is_file()
        and not (pkg / "build" / "Release" / "better_sqlite3.node").exists()
    ]


def ensure_installed() -> Path:
    """Install (once) and return the folder whose ``node_modules`` holds the PDS and PLC packages."""
    folder = install_dir()
    if is_installed(folder):
        return folder
    for tool in ("node", "npm", "npx"):
        if shutil.which(tool) is None:
            raise DevStackError(
                f"dev stack: `{tool}` is not on PATH; install Node.js 20+ and npm to run the local PDS"
            )
    with _locked(folder):
        if is_installed(folder):  # another process finished while we waited for the lock
            return folder
        (folder / _MARKER).unlink(missing_ok=True)
        (folder / "package.json").write_text(
            json.dumps({"name": "atdata-devstack", "private": True, "dependencies": PACKAGES}, indent=2)
        )
        env = _build_env(folder)
        _run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error"], folder, "npm install", env)
        for pkg in _native_modules_to_build(folder / "node_modules"):
            _run(["npx", "--yes", "node-gyp", "rebuild", "--release"], pkg, f"building {pkg.name}", env)
        _run(
            ["node", "-e", "require('better-sqlite3')(':memory:').close(); require('@atproto/pds');"],
            folder,
            "loading the installed packages",
        )
        (folder / _MARKER).write_text(json.dumps(PACKAGES))
        shutil.rmtree(folder / "tmp", ignore_errors=True)
    return folder
