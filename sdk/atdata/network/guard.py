"""Where a process acting for someone else may reach: the location guard of the MCP server.

A coding agent's tools read locations from the agent (whose context holds strangers' words) and from
records that strangers published. Such a location must never make the tool act on the agent's
machine. A :class:`Guard` therefore refuses, each with the rule it broke:

- ``scheme``: anything but ``http://`` and ``https://`` (``ftp:``, ``gopher:``, ``s3:``, ...);
- ``local files``: local paths and ``file://`` URLs, except under a directory the operator allowed
  (``atdata mcp --allow-local DIR``), after symlinks and ``..`` are resolved;
- ``loopback``, ``private``, ``link-local`` and ``not globally routable`` addresses, except for a
  host the operator allowed (``atdata mcp --allow-host HOST``) or a service the operator configured
  (the appview, PLC and PDS URLs).

Addresses are checked where the connection is made (:class:`GuardedTransport`): the host name is
resolved once, every address it resolves to is checked, and the connection goes to the checked
address (TLS still verifies the name), so a DNS answer that changes between check and connect
(rebinding) cannot slip through; each redirect is a new request, checked again.

While a guard is active (:func:`guarding`, a context variable), the SDK's HTTP clients made in that
context (XRPC, identity) send through its transport, so records fetched for a tool obey it too.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from atdata.errors import LocationRefusedError

_DEFAULT_PORTS = {"http": 80, "https": 443}
_active: ContextVar[Guard | None] = ContextVar("atdata_location_guard", default=None)

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def address_rule(ip: Address) -> str | None:
    """The rule that forbids reaching ``ip`` on someone else's word, or None for a public address."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_unspecified:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_private:
        return "private"
    if not ip.is_global or ip.is_multicast:
        return "not globally routable"
    return None


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return scheme, host, port or _DEFAULT_PORTS[scheme]


@dataclass(frozen=True)
class Guard:
    """The locations a tool may reach (see the module docstring)."""

    local_dirs: tuple[str, ...] = ()
    """Real paths of the directories under which local files may be read."""
    hosts: frozenset[str] = frozenset()
    """Host names or addresses (lower case) reachable whatever they resolve to."""
    origins: frozenset[tuple[str, str, int]] = field(default_factory=frozenset)
    """``(scheme, host, port)`` of the services the operator configured."""

    @classmethod
    def of(
        cls,
        *,
        allow_local: Iterable[str | os.PathLike[str]] = (),
        allow_hosts: Iterable[str] = (),
        services: Iterable[str | None] = (),
    ) -> Guard:
        origins = {o for o in (_origin(s) for s in services if s) if o is not None}
        hosts = {h.strip().lower().strip("[]") for h in allow_hosts if h.strip()}
        dirs = tuple(os.path.realpath(os.path.expanduser(d)) for d in allow_local)
        return cls(dirs, frozenset(hosts), frozenset(origins))

    # --- local files ---------------------------------------------------------------------------

    def local_path(self, location: str) -> str:
        """The real path of a local location (path or file:// URL), if it lies in an allowed directory."""
        from atdata.shards.urls import local_path

        try:
            real = os.path.realpath(local_path(location))
        except (ValueError, OSError):
            real = ""
        for d in self.local_dirs:
            if real and os.path.commonpath([real, d]) == d:
                return real
        allowed = ", ".join(self.local_dirs) if self.local_dirs else "none"
        raise LocationRefusedError(
            f"refused to read the local file {location!r} (rule: local files; the MCP server reads "
            f"local files only under directories its operator allowed with --allow-local DIR; "
            f"allowed: {allowed})",
            rule="local files",
        )

    # --- network addresses ---------------------------------------------------------------------

    def check_scheme(self, url: str) -> None:
        scheme = url.split(":", 1)[0].lower() if ":" in url else ""
        if scheme not in _DEFAULT_PORTS:
            raise LocationRefusedError(
                f"refused to open {_shown(url)} (rule: scheme; only http:// and https:// locations are "
                "fetched)",
                rule="scheme",
            )

    def host_allowed(self, scheme: str, host: str, port: int) -> bool:
        host = host.lower().strip("[]")
        return host in self.hosts or (scheme, host, port) in self.origins

    def addresses(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, each checked; LocationRefusedError naming the rule."""
        host = host.strip("[]")
        try:
            found = [str(ipaddress.ip_address(host))]  # an address literal: nothing to resolve
        except ValueError:
            try:
                infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            except (socket.gaierror, UnicodeError) as e:
                raise httpx.ConnectError(f"cannot resolve {host!r}: {e}") from None
            found = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for text in found:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
            rule = address_rule(ip)
            if rule is not None and text.lower() not in self.hosts:
                shown = host if host == text else f"{host} ({text})"
                raise LocationRefusedError(
                    f"refused to connect to {shown} (rule: {rule} addresses are not reached on a "
                    "record's or an agent's word; the operator may allow a host with "
                    "atdata mcp --allow-host HOST)",
                    rule=rule,
                )
        if not found:
            raise httpx.ConnectError(f"{host!r} resolves to no address")
        return found

    def transport(self) -> GuardedTransport:
        return GuardedTransport(self)


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport that sends only where its guard allows, to the address it checked."""

    def __init__(self, guard: Guard, inner: httpx.BaseTransport | None = None) -> None:
        self.guard = guard
        self._inner = inner or httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        self.guard.check_scheme(str(url))
        host = url.host
        port = url.port or _DEFAULT_PORTS[url.scheme]
        if not self.guard.host_allowed(url.scheme, host, port):
            checked = self.guard.addresses(host, port)[0]
            if checked != host:
                # Connect to the address just checked; the Host header and TLS (SNI and certificate
                # check) keep the name.
                request.url = url.copy_with(host=checked)
                if url.scheme == "https":
                    request.extensions = {**request.extensions, "sni_hostname": host}
        return self._inner.handle_request(request)

    def close(self) -> None:
        self._inner.close()


def _shown(url: str) -> str:
    from atdata.shards.urls import display

    shown = display(url)
    return shown if len(shown) <= 200 else shown[:197] + "..."


# --- the guard of the current context ----------------------------------------------------------


def active() -> Guard | None:
    """The guard of the current context (None outside :func:`guarding`)."""
    return _active.get()


def active_transport() -> httpx.BaseTransport | None:
    """A transport for a new HTTP client: guarded while a guard is active, else None (httpx's own)."""
    guard = _active.get()
    return guard.transport() if guard is not None else None


@contextmanager
def guarding(guard: Guard) -> Iterator[Guard]:
    """Make ``guard`` the active guard for the code run inside (in this thread or task)."""
    token = _active.set(guard)
    try:
        yield guard
    finally:
        _active.reset(token)
