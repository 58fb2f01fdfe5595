"""Start, find, use and stop the local dev stack: the official PDS and PLC directory on loopback.

One node process (``stack.js``) hosts both, detached from the caller, logging to a file in the state
folder (``platformdirs.user_state_dir("atdata")/devstack``, or ``ATDATA_STATE_DIR``). A state file there
lets ``atdata dev up`` in one shell and ``atdata dev account`` / ``dev down`` in another find it.
The PLC database is in memory, so every start begins from an empty network with a fresh PDS data folder.
"""

from __future__ import annotations

import fcntl
import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import platformdirs

from atdata.errors import AtdataError
from atdata.network.loopback import free_ports
from atdata.network.xrpc import XrpcClient
from atdata_registry.devstack.install import DevStackError, ensure_installed

_SCRIPT = Path(__file__).with_name("stack.js")
_READY = "ATDATA_DEVSTACK_READY "
STATE_FILE = "stack.json"
LOG_FILE = "stack.log"


def default_state_dir() -> Path:
    base = os.environ.get("ATDATA_STATE_DIR") or platformdirs.user_state_dir("atdata")
    return Path(base) / "devstack"


@dataclass
class DevStack:
    """A running dev stack: its URLs, its process, and the secrets it was started with."""

    pds: str
    plc: str
    pid: int
    state_dir: str
    data_dir: str
    admin_password: str
    jwt_secret: str

    def __repr__(self) -> str:  # keep the secrets out of reprs and logs
        return f"DevStack(pds={self.pds!r}, plc={self.plc!r}, pid={self.pid})"

    @property
    def firehose(self) -> str:
        """Base URI of the PDS's subscribeRepos, as ``FirehoseSubscribeReposClient(base_uri=...)`` wants."""
        return self.pds.replace("http://", "ws://", 1) + "/xrpc"

    @property
    def log_file(self) -> Path:
        return Path(self.state_dir) / LOG_FILE

    def is_alive(self) -> bool:
        return _is_stack_process(self.pid)

    def create_account(self, handle: str, password: str, email: str | None = None) -> str:
        """Create an account (handle ending in ``.test``) on this PDS and return its new DID."""
        return create_account(handle, password, email, stack=self)

    def stop(self, timeout: float = 10.0) -> None:
        stop(Path(self.state_dir), timeout=timeout)

    def pds_answers(self) -> bool:
        try:
            with XrpcClient(self.pds, timeout=2.0) as pds:
                pds.query("com.atproto.server.describeServer")
        except AtdataError:
            return False
        return True

    def pause_pds(self, timeout: float = 30.0) -> None:
        """Take the PDS down (the PLC keeps running, data is kept): an outage, for tests and demos."""
        self._signal_and_wait(signal.SIGUSR1, answering=False, timeout=timeout)

    def resume_pds(self, timeout: float = 30.0) -> None:
        """Bring a paused PDS back on the same URL with the same accounts and records."""
        self._signal_and_wait(signal.SIGUSR2, answering=True, timeout=timeout)

    def _signal_and_wait(self, sig: signal.Signals, *, answering: bool, timeout: float) -> None:
        if not self.is_alive():
            raise DevStackError(f"the dev stack (pid {self.pid}) is not running")
        os.kill(self.pid, sig)
        deadline = time.monotonic() + timeout
        while self.pds_answers() != answering:
            if time.monotonic() > deadline:
                state = "answer" if answering else "stop"
                raise DevStackError(f"the PDS at {self.pds} did not {state} within {timeout:.0f} s")
            time.sleep(0.05)


def _is_stack_process(pid: int) -> bool:
    # The pid alone could have been reused by an unrelated process since the state file was written.
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z" and _SCRIPT.name.encode() in cmdline


def _write_state(stack: DevStack) -> None:
    path = Path(stack.state_dir) / STATE_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(asdict(stack), f, indent=2)


def running(state_dir: Path | None = None) -> DevStack | None:
    """The stack started from ``state_dir`` if its process is still alive, else ``None``."""
    path = (state_dir or default_state_dir()) / STATE_FILE
    try:
        stack = DevStack(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None
    return stack if stack.is_alive() else None


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _wait_ready(pid: int, log_file: Path, timeout: float) -> dict[str, str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in log_file.read_text(errors="replace").splitlines():
            if line.startswith(_READY):
                return dict(json.loads(line[len(_READY) :]))
        if not _is_stack_process(pid):
            raise DevStackError(
                f"the dev stack exited before it was ready; log {log_file}:\n{_log_tail(log_file)}"
            )
        time.sleep(0.1)
    raise DevStackError(
        f"the dev stack was not ready after {timeout:.0f} s; log {log_file}:\n{_log_tail(log_file)}"
    )


def _launch(state: Path, env: dict[str, str], log_file: Path) -> int:
    """Start stack.js detached: in a new session and not our child (the shell that starts it exits at
    once), so it outlives the caller and is not among the caller's processes. Returns its pid."""
    shell = subprocess.run(
        ["sh", "-c", 'node "$0" >"$1" 2>&1 </dev/null & echo $!', str(_SCRIPT), str(log_file)],
        cwd=state,
        env=env,
        capture_output=True,
        text=True,
        start_new_session=True,
        check=False,
    )
    try:
        return int(shell.stdout.strip())
    except ValueError:
        raise DevStackError(f"could not start node: {shell.stderr.strip() or 'no pid'}") from None


def start(state_dir: Path | None = None, *, timeout: float = 90.0) -> DevStack:
    """Start the stack (installing the npm packages on first use) and return once the PDS answers.

    If a stack started from the same ``state_dir`` is already running, that one is returned.
    """
    state = state_dir or default_state_dir()
    existing = running(state)
    if existing is not None:
        return existing
    modules = ensure_installed()
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "start.lock", "w") as lock:
        # Two `dev up`s at once: the second waits, then finds the first one's stack.
        fcntl.flock(lock, fcntl.LOCK_EX)
        existing = running(state)
        if existing is not None:
            return existing
        stop(state)  # clears what a stack that died without `dev down` left behind
        for attempt in range(3):
            try:
                return _start(state, modules, timeout)
            except DevStackError as e:
                if "EADDRINUSE" not in str(e) or attempt == 2:
                    raise
        raise AssertionError("unreachable")


def _start(state: Path, modules: Path, timeout: float) -> DevStack:
    data_dir = Path(tempfile.mkdtemp(prefix="pds-", dir=state))
    log_file = state / LOG_FILE
    admin_password = secrets.token_hex(16)
    jwt_secret = secrets.token_hex(32)
    plc_port, pds_port = free_ports(2)
    env = {
        **os.environ,
        "ATDATA_DEVSTACK_MODULES": str(modules),
        "ATDATA_PLC_PORT": str(plc_port),
        "ATDATA_PDS_PORT": str(pds_port),
        "ATDATA_PDS_DATA_DIR": str(data_dir),
        "ATDATA_PDS_JWT_SECRET": jwt_secret,
        "ATDATA_PDS_ADMIN_PASSWORD": admin_password,
        "ATDATA_PDS_PLC_ROTATION_KEY": secrets.token_hex(32),
    }
    pid = _launch(state, env, log_file)
    try:
        urls = _wait_ready(pid, log_file, timeout)
        with XrpcClient(urls["pds"], timeout=5.0) as pds:
            pds.query("com.atproto.server.describeServer")
    except BaseException:
        _terminate(pid, 5.0)
        shutil.rmtree(data_dir, ignore_errors=True)
        raise
    stack = DevStack(
        pds=urls["pds"],
        plc=urls["plc"],
        pid=pid,
        state_dir=str(state),
        data_dir=str(data_dir),
        admin_password=admin_password,
        jwt_secret=jwt_secret,
    )
    _write_state(stack)
    return stack


def _terminate(pid: int, timeout: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            # The whole group: node and anything it started (the group is the launching shell's).
            os.killpg(os.getpgid(pid), sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not _is_stack_process(pid):
                return
            time.sleep(0.05)


def stop(state_dir: Path | None = None, *, timeout: float = 10.0) -> bool:
    """Stop the stack started from ``state_dir`` (SIGTERM, then SIGKILL) and remove its data.

    Returns whether a running stack was found.
    """
    state = state_dir or default_state_dir()
    path = state / STATE_FILE
    try:
        recorded = DevStack(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return False
    alive = recorded.is_alive()
    if alive:
        _terminate(recorded.pid, timeout)
    shutil.rmtree(recorded.data_dir, ignore_errors=True)
    path.unlink(missing_ok=True)
    return alive


def create_account(
    handle: str, password: str, email: str | None = None, *, stack: DevStack | None = None
) -> str:
    """Create an account on the dev stack's PDS (the running one by default); returns its DID."""
    stack = stack or running()
    if stack is None:
        raise DevStackError("no dev stack is running: start one with `atdata dev up`")
    email = email or f"{handle.split('.')[0]}@example.test"
    with XrpcClient(stack.pds) as pds:
        try:
            answer = pds.procedure(
                "com.atproto.server.createAccount", {"handle": handle, "email": email, "password": password}
            )
        except AtdataError as e:
            raise DevStackError(f"creating the account {handle!r} on {stack.pds} failed: {e}") from None
    did = answer.get("did") if isinstance(answer, dict) else None
    if not isinstance(did, str):
        raise DevStackError(f"{stack.pds} answered createAccount for {handle!r} without a DID")
    return did
