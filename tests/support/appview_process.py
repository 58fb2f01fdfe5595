"""``atdata appview serve`` as a separate process on loopback: how the demo and the tests run one."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from atdata.errors import AtdataError
from atdata.lexicon.nsid import DESCRIBE_SERVICE
from atdata.network.loopback import free_port


class AppviewProcessError(AtdataError):
    """The appview process did not come up; the message ends with its log."""


@dataclass
class AppviewProcess:
    url: str
    process: subprocess.Popen[bytes]
    log_file: Path
    role: str = "all"

    def log(self, last: int = 4000) -> str:
        return self.log_file.read_text(errors="replace")[-last:]

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/xrpc/{DESCRIBE_SERVICE}", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def ready(self) -> bool:
        """Answers queries; an ingester (no HTTP) has started following its firehoses."""
        if self.role == "ingest":
            return "following the firehose" in self.log(last=1_000_000)
        return self.answers()

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.process.poll() is not None:
                raise AppviewProcessError(f"the appview exited with {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AppviewProcessError(f"the appview did not answer within {timeout:.0f} s:\n{self.log()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (what crash-safety tests need)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 15.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()


def start(
    db: str,
    *,
    log_file: Path,
    pds: Sequence[str] = (),
    relays: Sequence[str] = (),
    plc: str | None = None,
    handle_resolver: str | None = None,
    port: int | None = None,
    extra: Sequence[str] = (),
    wait: bool = True,
    role: str = "all",
) -> AppviewProcess:
    """Start ``atdata appview serve --db DB --role ROLE`` on 127.0.0.1 (a free port unless given),
    appending its output to ``log_file``; with ``wait``, return once it answers describeService (an
    ingester: once it follows its firehoses)."""
    url = f"http://127.0.0.1:{port or free_port()}"
    cmd = [sys.executable, "-m", "atdata.cli.main", "appview", "serve", "--db", db]
    cmd += ["--port", url.rsplit(":", 1)[1], "--role", role]
    for host in pds:
        cmd += ["--pds", host]
    for relay in relays:
        cmd += ["--relay", relay]
    if plc is not None:
        cmd += ["--plc", plc]
    if handle_resolver is not None:
        cmd += ["--handle-resolver", handle_resolver]
    cmd += list(extra)
    with open(log_file, "ab") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    appview = AppviewProcess(url, process, log_file, role)
    if wait:
        try:
            appview.wait_ready()
        except BaseException:
            appview.stop()
            raise
    return appview


@contextlib.contextmanager
def running(db: str, **kwargs: Any) -> Iterator[AppviewProcess]:
    """:func:`start` for the duration of a ``with`` block; stopped (SIGTERM, then SIGKILL) after."""
    appview = start(db, **kwargs)
    try:
        yield appview
    finally:
        appview.stop()
