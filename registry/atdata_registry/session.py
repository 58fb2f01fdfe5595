"""Sessions on an author's PDS: sign in with handle + app password, refresh, persist, sign out.

Calls ``com.atproto.server.createSession`` / ``refreshSession`` / ``deleteSession`` directly (the
high-level ``atproto.Client.login`` also asks for a Bluesky profile, which a bare PDS cannot answer).
The session file (tokens, never the password) is written with mode 0600 under
``platformdirs.user_config_dir("atdata")``, or ``ATDATA_CONFIG_DIR`` when set.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from atdata.config import config_dir, settings, write_private
from atdata.errors import AuthError
from atdata.network.identity import IdentityResolver, normalize_handle
from atdata.network.xrpc import ExpiredTokenError, XrpcAuthError, XrpcClient, XrpcError

log = logging.getLogger(__name__)

SESSION_FILE = "session.json"
# Refresh a little before the access token's own expiry so a call never starts with a dying token.
_EXPIRY_MARGIN_S = 30


def session_path() -> Path:
    return config_dir() / SESSION_FILE


@dataclass
class Credentials:
    """What a signed-in session holds: the account and its tokens (no password)."""

    did: str
    handle: str
    pds: str
    access_jwt: str
    refresh_jwt: str
    plc: str | None = None  # the PLC directory given at login, for resolving other accounts' DIDs

    def __repr__(self) -> str:  # tokens are secrets too
        return f"Credentials(did={self.did!r}, handle={self.handle!r}, pds={self.pds!r})"


def token_expiry(jwt: str) -> float | None:
    """The ``exp`` claim of a JWT (seconds since the epoch), read without verifying the signature."""
    try:
        payload = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        exp = claims.get("exp")
        return float(exp) if isinstance(exp, int | float) else None
    except (IndexError, ValueError):
        return None


class Session:
    """A signed-in session: authenticated XRPC calls that refresh the access token when it expires.

    ``path`` is the session file kept in step with refreshed tokens (``None``: in memory only).
    """

    def __init__(self, credentials: Credentials, *, path: Path | None = None, timeout: float = 10.0) -> None:
        self.credentials = credentials
        self.path = path
        self._xrpc = XrpcClient(credentials.pds, timeout=timeout)

    def __repr__(self) -> str:
        return f"Session({self.credentials.handle} {self.credentials.did} at {self.credentials.pds})"

    @property
    def did(self) -> str:
        return self.credentials.did

    @property
    def handle(self) -> str:
        return self.credentials.handle

    @property
    def pds(self) -> str:
        return self.credentials.pds

    def close(self) -> None:
        self._xrpc.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def save(self) -> None:
        if self.path is not None:
            write_private(self.path, json.dumps(asdict(self.credentials), indent=2))

    def refresh(self) -> None:
        """Trade the refresh token for new tokens (AuthError if the session can no longer be refreshed)."""
        try:
            answer = self._xrpc.procedure(
                "com.atproto.server.refreshSession", token=self.credentials.refresh_jwt
            )
        except XrpcAuthError as e:
            raise AuthError(
                f"the session of {self.handle} on {self.pds} has ended ({e.error}); run `atdata login` again"
            ) from None
        tokens = _session_answer(answer, "refreshSession", self.pds, ("accessJwt", "refreshJwt"))
        self.credentials.access_jwt = tokens["accessJwt"]
        self.credentials.refresh_jwt = tokens["refreshJwt"]
        self.credentials.handle = tokens.get("handle") or self.credentials.handle
        log.info("refreshed the session of %s", self.handle)
        self.save()

    def _fresh_token(self) -> str:
        exp = token_expiry(self.credentials.access_jwt)
        if exp is not None and exp - _EXPIRY_MARGIN_S <= time.time():
            self.refresh()
        return self.credentials.access_jwt

    def query(self, nsid: str, params: dict[str, Any] | None = None) -> Any:
        return self._call(lambda token: self._xrpc.query(nsid, params, token=token))

    def procedure(self, nsid: str, body: dict[str, Any] | None = None) -> Any:
        return self._call(lambda token: self._xrpc.procedure(nsid, body, token=token))

    def upload_blob(self, data: bytes, mime_type: str) -> Any:
        """``com.atproto.repo.uploadBlob``: the PDS's answer, ``{"blob": <blob reference>}``."""
        return self._call(
            lambda token: self._xrpc.upload("com.atproto.repo.uploadBlob", data, mime_type, token=token)
        )

    def _call(self, send: Any) -> Any:
        try:
            return send(self._fresh_token())
        except ExpiredTokenError:
            # The clock or the server disagreed with the token's exp claim: refresh once and retry.
            self.refresh()
            return send(self.credentials.access_jwt)


def create_session(
    handle: str,
    password: str,
    *,
    pds: str | None = None,
    plc: str | None = None,
    path: Path | None = None,
    timeout: float = 10.0,
) -> Session:
    """Sign in on the account's PDS (found from the handle unless ``pds`` is given); nothing is saved."""
    h = normalize_handle(handle)
    configured = settings()
    plc = plc or configured.plc
    if pds is None:
        with IdentityResolver(plc_url=plc, pds_url=configured.pds, timeout=timeout) as resolver:
            pds = resolver.resolve(h).pds
    with XrpcClient(pds, timeout=timeout) as xrpc:
        try:
            answer = xrpc.procedure(
                "com.atproto.server.createSession", {"identifier": h, "password": password}
            )
        except XrpcAuthError as e:
            raise AuthError(
                f"signing in as {h} on {pds} failed: {e.error}: wrong handle or app password"
            ) from None
        except XrpcError as e:
            raise AuthError(f"signing in as {h} on {pds} failed: {e.status} {e.error}: {e.message}") from None
    fields = _session_answer(answer, "createSession", pds, ("did", "accessJwt", "refreshJwt"))
    credentials = Credentials(
        did=fields["did"],
        handle=fields.get("handle") or h,
        pds=pds.rstrip("/"),
        access_jwt=fields["accessJwt"],
        refresh_jwt=fields["refreshJwt"],
        plc=plc,
    )
    return Session(credentials, path=path, timeout=timeout)


def _session_answer(answer: object, method: str, pds: str, required: tuple[str, ...]) -> dict[str, str]:
    """The string fields of a session answer; AuthError naming what is missing (remote input)."""
    body = answer if isinstance(answer, dict) else {}
    missing = [k for k in required if not isinstance(body.get(k), str) or not body[k]]
    if missing:
        raise AuthError(
            f"the PDS at {pds} answered {method} without {', '.join(missing)}: it is not a working "
            "ATProto PDS, or not the account's; check the handle's PDS (--pds URL)"
        )
    return {k: v for k, v in body.items() if isinstance(v, str)}


def login(
    handle: str, password: str, *, pds: str | None = None, plc: str | None = None, timeout: float = 10.0
) -> Session:
    """Sign in and save the session file (0600) so later commands reuse it."""
    session = create_session(handle, password, pds=pds, plc=plc, path=session_path(), timeout=timeout)
    session.save()
    return session


def current_session(*, timeout: float = 10.0) -> Session:
    """The saved session (AuthError if nobody is signed in)."""
    path = session_path()
    try:
        data = json.loads(path.read_text())
        credentials = Credentials(
            **{k: data[k] for k in ("did", "handle", "pds", "access_jwt", "refresh_jwt")}, plc=data.get("plc")
        )
    except FileNotFoundError:
        raise AuthError("not signed in: run `atdata login HANDLE` first") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise AuthError(
            f"the session file {path} is unreadable ({type(e).__name__}); run `atdata login` again"
        ) from None
    return Session(credentials, path=path, timeout=timeout)


def logout(*, timeout: float = 10.0) -> Credentials | None:
    """Delete the session on the PDS (best effort) and the session file; returns who was signed out."""
    path = session_path()
    try:
        session = current_session(timeout=timeout)
    except AuthError:
        path.unlink(missing_ok=True)  # an unreadable file is removed too
        return None
    try:
        session._xrpc.procedure("com.atproto.server.deleteSession", token=session.credentials.refresh_jwt)
    except (AuthError, OSError) as e:
        # Signing out locally must work even when the PDS is gone or the token already expired.
        log.info("the PDS did not delete the session (%s); removing the local file anyway", type(e).__name__)
    finally:
        session.close()
        path.unlink(missing_ok=True)
    return session.credentials
