"""Sessions against the real local PDS: sign in, refresh, persist privately, sign out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import stat
import time
from typing import Any

import pytest

from atdata.cli.main import main
from atdata.errors import AuthError
from atdata.network.xrpc import ExpiredTokenError, XrpcClient
from atdata_registry.session import (
    create_session,
    current_session,
    login,
    logout,
    session_path,
    token_expiry,
)

pytestmark = pytest.mark.integration


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _expired_copy(access_jwt: str, jwt_secret: str) -> str:
    """The same access token, validly signed by the PDS's secret, but expired an hour ago."""
    header, payload, _ = access_jwt.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    now = int(time.time())
    claims.update(iat=now - 7200, exp=now - 3600)
    signing_input = f"{header}.{_b64(json.dumps(claims).encode())}"
    signature = hmac.new(jwt_secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def test_login_returns_a_session_the_pds_accepts(account: Any) -> None:
    session = login(account.handle, account.password, pds=account.pds)
    assert session.did == account.did
    assert session.query("com.atproto.server.getSession")["handle"] == account.handle


def test_saved_session_is_found_by_later_commands(account: Any) -> None:
    login(account.handle, account.password, pds=account.pds)
    assert current_session().did == account.did


def test_session_file_is_readable_by_its_owner_only(account: Any) -> None:
    login(account.handle, account.password, pds=account.pds)
    assert stat.S_IMODE(session_path().stat().st_mode) == 0o600


def test_session_file_never_holds_the_password(account: Any) -> None:
    login(account.handle, account.password, pds=account.pds)
    assert account.password not in session_path().read_text()


def test_wrong_password_is_an_auth_error_that_does_not_repeat_it(
    account: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "not-the-right-password-123"
    with pytest.raises(AuthError) as info:
        login(account.handle, wrong, pds=account.pds)
    assert account.handle in str(info.value)
    assert wrong not in str(info.value)
    assert wrong not in caplog.text
    assert not session_path().exists()


def test_pds_reports_an_expired_access_token_as_expired(account: Any, dev_stack: Any) -> None:
    session = create_session(account.handle, account.password, pds=account.pds)
    expired = _expired_copy(session.credentials.access_jwt, dev_stack.jwt_secret)
    with XrpcClient(account.pds) as xrpc, pytest.raises(ExpiredTokenError):
        xrpc.query("com.atproto.server.getSession", token=expired)


def test_expired_access_token_is_refreshed_and_saved(account: Any, dev_stack: Any) -> None:
    session = login(account.handle, account.password, pds=account.pds)
    session.credentials.access_jwt = _expired_copy(session.credentials.access_jwt, dev_stack.jwt_secret)
    session.save()

    reloaded = current_session()
    assert reloaded.query("com.atproto.server.getSession")["did"] == account.did
    fresh = current_session().credentials.access_jwt
    assert (token_expiry(fresh) or 0) > time.time()


def test_ended_session_cannot_be_refreshed_and_says_to_log_in(account: Any) -> None:
    session = login(account.handle, account.password, pds=account.pds)
    stale = current_session()
    logout()
    with pytest.raises(AuthError, match="atdata login"):
        stale.refresh()
    session.close()


def test_logout_removes_the_session_file(account: Any) -> None:
    login(account.handle, account.password, pds=account.pds)
    who = logout()
    assert who is not None and who.did == account.did
    assert not session_path().exists()


def test_commands_without_a_session_ask_to_log_in() -> None:
    with pytest.raises(AuthError, match="atdata login"):
        current_session()


def test_cli_login_takes_the_password_from_the_environment(
    account: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ATDATA_APP_PASSWORD", account.password)
    assert main(["login", account.handle, "--pds", account.pds]) == 0
    assert account.did in capsys.readouterr().out
    assert main(["whoami"]) == 0
    assert account.handle in capsys.readouterr().out


def test_cli_whoami_fails_after_logout(account: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["login", account.handle, "--password", account.password, "--pds", account.pds]) == 0
    assert main(["logout"]) == 0
    assert main(["whoami"]) == 1
    assert "not signed in" in capsys.readouterr().err


def test_cli_wrong_password_exits_non_zero_without_echoing_it(
    account: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = "wrong-password-456"
    assert main(["login", account.handle, "--password", wrong, "--pds", account.pds]) == 1
    captured = capsys.readouterr()
    assert wrong not in captured.out + captured.err


def test_cli_login_with_an_invalid_handle_exits_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["login", "not a handle", "--password", "whatever-1"]) == 1
    assert "not a valid handle" in capsys.readouterr().err
