"""A thin XRPC client over httpx: queries (GET) and procedures (POST) with errors that say where.

Request bodies are never quoted in errors or logs: they may hold passwords. A service's error text
is remote input that may echo the request (some servers quote what they were sent), so every string
of the request body is cut out of it before it becomes part of an error (:func:`redact`).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx

from atdata.errors import AuthError, NetworkError
from atdata.network.guard import active_transport
from atdata.network.tls import ssl_context

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 10.0


class XrpcError(NetworkError):
    """A service answered an XRPC call with an error (``status``, ``error`` name, ``message``)."""

    def __init__(self, url: str, status: int, error: str, message: str) -> None:
        self.url = url
        self.status = status
        self.error = error
        self.message = message
        super().__init__(
            f"{url} answered {status} {error}: {message}" if message else f"{url} answered {status} {error}"
        )


class XrpcAuthError(AuthError):
    """The service refused the credentials of an XRPC call (HTTP 401, or an expired/invalid token)."""

    def __init__(self, url: str, error: str, message: str) -> None:
        self.url = url
        self.error = error
        super().__init__(
            f"{url} refused the credentials ({error}): {message}"
            if message
            else f"{url} refused the credentials ({error})"
        )


class ExpiredTokenError(XrpcAuthError):
    """The access token has expired; refreshing the session fixes it."""


_AUTH_ERRORS = {"AuthenticationRequired", "InvalidToken", "AuthMissing", "AccountTakedown"}


_REDACTED = "[redacted]"


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, (list, tuple)):
        return [s for v in value for s in _strings(v)]
    return []


def redact(text: str, sent: Any) -> str:
    """``text`` with every string of the request body ``sent`` (and its JSON spelling) cut out."""
    if sent is None:
        return text
    # Longest first, so that a value containing another is cut whole; very short strings (field
    # names such as "id") would only mangle the message and are no secret.
    for value in sorted({v for v in _strings(sent) if len(v) >= 4}, key=len, reverse=True):
        for spelling in {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}:
            text = text.replace(spelling, _REDACTED)
    return text


def _error_of(response: httpx.Response, sent: Any) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        text = "" if sent is not None else response.text[:200]  # unstructured text may echo a body
        return response.reason_phrase or "Error", text
    if not isinstance(body, dict):
        return response.reason_phrase or "Error", ""
    error = redact(str(body.get("error") or response.reason_phrase or "Error"), sent)[:200]
    return error, redact(str(body.get("message") or ""), sent)[:1000]


class XrpcClient:
    """Calls ``<base_url>/xrpc/<nsid>`` on one service.

    ``token`` (a bearer JWT) is sent when given. Transport failures raise :class:`NetworkError` naming the
    endpoint; 401s and token errors raise :class:`XrpcAuthError` (an ``AuthError``), with
    :class:`ExpiredTokenError` for an expired access token; other errors raise :class:`XrpcError`.
    """

    def __init__(
        self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT, transport: httpx.BaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        # Under an active location guard (the MCP server's tools), calls go only where it allows.
        self._http = httpx.Client(
            timeout=timeout, transport=transport or active_transport(), verify=ssl_context()
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> XrpcClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def url(self, nsid: str) -> str:
        return f"{self.base_url}/xrpc/{nsid}"

    def query(self, nsid: str, params: dict[str, Any] | None = None, *, token: str | None = None) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        return self._send("GET", nsid, token=token, params=clean)

    def procedure(self, nsid: str, body: dict[str, Any] | None = None, *, token: str | None = None) -> Any:
        return self._send("POST", nsid, token=token, json=body if body is not None else None)

    def upload(self, nsid: str, data: bytes, content_type: str, *, token: str | None = None) -> Any:
        """A procedure whose input is raw bytes (``com.atproto.repo.uploadBlob``)."""
        return self._send("POST", nsid, token=token, content=data, headers={"Content-Type": content_type})

    def _send(self, method: str, nsid: str, *, token: str | None, **kwargs: Any) -> Any:
        url = self.url(nsid)
        headers = {**kwargs.pop("headers", {}), **({"Authorization": f"Bearer {token}"} if token else {})}
        try:
            response = self._http.request(method, url, headers=headers, **kwargs)
        except httpx.TransportError as e:
            raise NetworkError(f"cannot reach {url}: {type(e).__name__}: {e}") from e
        if response.is_success:
            if not response.content:
                return {}
            if response.headers.get("content-type", "").startswith("application/json"):
                return response.json()
            return response.content
        error, message = _error_of(response, kwargs.get("json"))
        log.debug("%s %s -> %s %s", method, url, response.status_code, error)
        if error == "ExpiredToken":
            raise ExpiredTokenError(url, error, message)
        if response.status_code == 401 or error in _AUTH_ERRORS:
            raise XrpcAuthError(url, error, message)
        raise XrpcError(url, response.status_code, error, message)
