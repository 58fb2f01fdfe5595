"""Secrets stay out of error text and argv: a PDS that echoes the request body does not put the
password into the error; `atdata login` takes the password from a prompt, $ATDATA_APP_PASSWORD or
--password-file (stdin with -), and warns about --password; a malformed createSession answer is a
one-line error, never a traceback.

Real services: the dev stack's official PDS for signing in; hostile PDSes are loopback HTTP servers
answering as an attacker (or a careless server) would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from support.loopback_http import serving

from atdata.errors import AuthError, NetworkError
from atdata.network.xrpc import XrpcClient
from atdata_registry.devstack import DevStack
from atdata_registry.session import create_session

PASSWORD = "hunter2-very-secret-app-password"

Answer = Callable[[bytes], tuple[int, str, bytes]]
"""request body -> (status, content type, response body)."""


@contextmanager
def hostile_pds(answer: Answer) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            status, kind, out = answer(body)
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with serving(server) as port:
        yield f"http://127.0.0.1:{port}"


def _echo_json(body: bytes) -> tuple[int, str, bytes]:
    message = f"Input/password: invalid input {body.decode()} ({json.loads(body)['password']})"
    return 400, "application/json", json.dumps({"error": f"Bad {body.decode()}", "message": message}).encode()


def _echo_text(body: bytes) -> tuple[int, str, bytes]:
    return 500, "text/plain", b"internal error while handling " + body


def _empty(body: bytes) -> tuple[int, str, bytes]:
    return 200, "application/json", b"{}"


def _atdata(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "atdata.cli.main", *args],
        env={**os.environ, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("answer", [_echo_json, _echo_text], ids=["json-echo", "text-echo"])
def test_an_xrpc_error_that_echoes_the_request_body_does_not_carry_the_password(answer: Answer) -> None:
    with hostile_pds(answer) as pds, XrpcClient(pds) as client, pytest.raises(NetworkError) as caught:
        client.procedure("com.atproto.server.createSession", {"identifier": "a.test", "password": PASSWORD})
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value.__dict__)
    assert "createSession" in str(caught.value)


def test_signing_in_on_a_pds_that_echoes_the_body_names_the_failure_without_the_password() -> None:
    with hostile_pds(_echo_json) as pds, pytest.raises(AuthError) as caught:
        create_session("alice.test", PASSWORD, pds=pds)
    assert PASSWORD not in str(caught.value) and "[redacted]" in str(caught.value)


@pytest.mark.parametrize("answer", [_echo_json, _echo_text, _empty], ids=["json-echo", "text-echo", "empty"])
def test_atdata_login_against_a_hostile_pds_prints_one_line_without_the_password(
    answer: Answer, tmp_path: Path
) -> None:
    with hostile_pds(answer) as pds:
        done = _atdata(
            "login", "alice.test", "--pds", pds, "--password-file", "-", stdin=PASSWORD + "\n",
            ATDATA_CONFIG_DIR=str(tmp_path),
        )  # fmt: skip
    assert done.returncode == 1
    assert PASSWORD not in done.stdout + done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "session.json").exists()


def test_a_create_session_answer_of_empty_json_is_an_error_naming_what_is_missing() -> None:
    with hostile_pds(_empty) as pds, pytest.raises(AuthError, match="createSession without did, accessJwt"):
        create_session("alice.test", PASSWORD, pds=pds)


@pytest.fixture
def account(dev_stack: DevStack) -> tuple[str, str]:
    handle, password = f"sec{uuid.uuid4().hex[:8]}.test", f"pw-{uuid.uuid4().hex}"
    dev_stack.create_account(handle, password)
    return handle, password


def _login_env(tmp_path: Path, dev_stack: DevStack) -> dict[str, str]:
    return {"ATDATA_CONFIG_DIR": str(tmp_path), "ATDATA_PLC": dev_stack.plc, "ATDATA_PDS": dev_stack.pds}


@pytest.mark.integration
def test_login_reads_the_password_from_a_file(
    account: tuple[str, str], dev_stack: DevStack, tmp_path: Path
) -> None:
    handle, password = account
    secret = tmp_path / "password"
    secret.write_text(password + "\n")
    done = _atdata("login", handle, "--password-file", str(secret), **_login_env(tmp_path, dev_stack))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "session.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.integration
def test_login_reads_the_password_from_stdin(
    account: tuple[str, str], dev_stack: DevStack, tmp_path: Path
) -> None:
    handle, password = account
    env = _login_env(tmp_path, dev_stack)
    done = _atdata("login", handle, "--password-file", "-", stdin=password + "\n", **env)
    assert done.returncode == 0, done.stderr
    assert password not in done.stdout + done.stderr


@pytest.mark.integration
def test_login_reads_the_password_from_the_environment(
    account: tuple[str, str], dev_stack: DevStack, tmp_path: Path
) -> None:
    handle, password = account
    done = _atdata("login", handle, ATDATA_APP_PASSWORD=password, **_login_env(tmp_path, dev_stack))
    assert done.returncode == 0, done.stderr


@pytest.mark.integration
def test_a_password_on_the_command_line_is_warned_about(
    account: tuple[str, str], dev_stack: DevStack, tmp_path: Path
) -> None:
    handle, password = account
    done = _atdata("login", handle, "--password", password, **_login_env(tmp_path, dev_stack))
    assert done.returncode == 0, done.stderr
    assert "/proc/PID/cmdline" in done.stderr and password not in done.stderr


def test_without_a_terminal_or_a_source_login_says_where_a_password_can_come_from(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ATDATA_APP_PASSWORD"}
    done = subprocess.run(
        [sys.executable, "-m", "atdata.cli.main", "login", "alice.test", "--pds", "http://127.0.0.1:9"],
        env={**env, "ATDATA_CONFIG_DIR": str(tmp_path)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "ATDATA_APP_PASSWORD" in done.stderr and "--password-file" in done.stderr
    assert "Traceback" not in done.stderr
