"""Identity: handle -> DID -> DID document -> PDS endpoint and current ``#atproto`` signing key.

One resolver for the whole project: the registry signs in and publishes with it, the appview checks
commit signatures with it, the SDK finds the PDS to read an author's records from.

The defaults are the public network's (DNS and ``https://<handle>/.well-known/atproto-did`` for
handles, ``https://plc.directory`` for did:plc, ``https://<host>/.well-known/did.json`` for did:web);
every endpoint can be pointed at a local network: ``plc_url`` for the PLC directory, ``pds_url`` for
a PDS asked ``com.atproto.identity.resolveHandle`` (the only way ``.test`` handles resolve), and
did:web on a loopback host is fetched over plain http.

DID documents and handles are cached per resolver for ``ttl`` seconds; ``resolve_did(did, fresh=True)``
refetches (a commit signed with an unknown key may mean the key was rotated), ``forget`` drops one entry.

A DID document is at most ``MAX_DOCUMENT_BYTES`` and must arrive whole within the timeout: a host
that sends more, or trickles bytes to hold a fetch open, is refused naming it. With
``separate_process=True`` (the appview's ingest) the fetches and handle lookups run in a child
process (:mod:`atdata.network.identity_process`), so they cost this process's GIL almost nothing;
caching, generations and every check of a result stay here. That child asks with ``direct_http``:
kept-alive ``http.client`` connections (:mod:`atdata.network.keepalive`) instead of httpx's client,
about a third of the CPU per request, with the same size cap, deadline and messages (a compressed
document is refused on either path); a redirect, an error answer or a compressed
``resolveHandle`` answer is asked again through httpx, whose redirect policy, decoding and XRPC
error handling then apply unchanged.
"""

from __future__ import annotations

import functools
import http.client
import json
import re
import threading
import time
import urllib.request
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

import httpx

from atdata.errors import AtdataError, IdentityError, NetworkError
from atdata.lexicon.formats import is_did, is_handle
from atdata.network.guard import active as guard_active
from atdata.network.guard import active_transport
from atdata.network.keepalive import ERRORS as DIRECT_ERRORS
from atdata.network.keepalive import KeepAlive
from atdata.network.tls import ssl_context
from atdata.network.xrpc import XrpcClient, XrpcError

if TYPE_CHECKING:
    from atdata.network.identity_process import IdentityProcess

DEFAULT_PLC_URL = "https://plc.directory"
DEFAULT_TIMEOUT = 5.0
DEFAULT_TTL = 3600.0

_WEB_HOST_RE = re.compile(r"^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:]+\])(:[0-9]{1,5})?$")
_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]"}
_PREFETCH_THREADS = 16
# Real DID documents are about a kilobyte (a PLC operation is capped near 8 KB); a host sending more
# is refused rather than read into memory.
MAX_DOCUMENT_BYTES = 128 * 1024


@dataclass(frozen=True)
class Identity:
    """A resolved account: its DID, the handle its DID document claims, its PDS and signing key."""

    did: str
    handle: str | None
    pds: str
    signing_key: str  # did:key form of the #atproto verification method
    document: dict[str, Any] = field(repr=False, compare=False)


def _guard_allows(handle: str) -> bool:
    """Whether https://<handle>/.well-known/atproto-did may be fetched under the active location guard
    (that client is atproto's own, so the guard checks the addresses here)."""
    guard = guard_active()
    if guard is None or guard.host_allowed("https", handle, 443):
        return True
    try:
        guard.addresses(handle, 443)
    except httpx.ConnectError:
        return False
    return True


def normalize_handle(handle: str) -> str:
    """Strip a leading ``@``, lower-case, and check the syntax (IdentityError if it is not a handle)."""
    h = handle.strip().removeprefix("@").lower()
    if not is_handle(h):
        raise IdentityError(
            f"{handle!r} is not a valid handle: expected a domain name such as alice.bsky.social"
        )
    return h


def did_web_url(did: str) -> str:
    """Where a did:web document lives: https, or http for a loopback host (local networks and tests)."""
    rest = did.removeprefix("did:web:")
    if not rest or ":" in rest:
        raise IdentityError(f"{did!r}: only did:web with a bare host (optionally %3A port) is supported")
    host = unquote(rest)
    if not _WEB_HOST_RE.match(host):
        raise IdentityError(f"{did!r}: {host!r} is not a host name with an optional port")
    hostname = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
    scheme = "http" if hostname in _LOOPBACK_HOSTS else "https"
    return f"{scheme}://{host}/.well-known/did.json"


class IdentityResolver:
    """Resolves handles and DIDs (thread-safe); see the module docstring for endpoints and caching."""

    def __init__(
        self,
        plc_url: str | None = None,
        *,
        pds_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        use_dns: bool = True,
        ttl: float = DEFAULT_TTL,
        separate_process: bool = False,
        direct_http: bool = False,
    ) -> None:
        """``separate_process``: fetch documents and resolve handles in a child process shared by
        every such resolver of this process (ignored while a location guard is active: the child
        would not obey it). ``direct_http``: plain successful answers over ``http.client`` (see
        the module docstring; ignored under a location guard or with proxies set in the
        environment, which only httpx's client honours)."""
        self.plc_url = (plc_url or DEFAULT_PLC_URL).rstrip("/")
        self.pds_url = pds_url.rstrip("/") if pds_url else None
        self.timeout = timeout
        self.use_dns = use_dns
        self.ttl = ttl
        self._handles: Any = None  # atproto's DNS and well-known resolver, made when first needed
        # Under an active location guard (the MCP server's tools), did:web goes only where it allows.
        self._http = httpx.Client(
            timeout=timeout, follow_redirects=True, transport=active_transport(), verify=ssl_context()
        )
        self._cache: dict[str, tuple[float, Identity]] = {}
        self._handle_cache: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        # ``forget`` bumps a DID's generation: a document fetched before it is returned to whoever
        # asked but never cached, so nothing fetched before an #identity is trusted after it.
        self._generation: dict[str, int] = {}
        # Fetches started by ``prefetch`` and not finished yet, with the generation they began in.
        self._inflight: dict[str, tuple[int, Future[Any]]] = {}
        # One client for every resolveHandle sent to the PDS: a client per call costs more CPU than
        # the call (an appview checks a handle on every #identity) and reconnects each time.
        self._pds: XrpcClient | None = None
        self._child: IdentityProcess | None = None
        self._direct: KeepAlive | None = None
        if direct_http and guard_active() is None and not urllib.request.getproxies():
            # Idle connections kept as httpx keeps them (20 in all, 5 s).
            self._direct = KeepAlive(timeout, ssl_context())
        if separate_process and guard_active() is None:
            from atdata.network.identity_process import shared

            self._child = shared()  # started now: the first batch must not wait for its imports

    @property
    def config(self) -> tuple[str, str | None, float, bool]:
        """What a child process needs to resolve as this resolver does."""
        return (self.plc_url, self.pds_url, self.timeout, self.use_dns)

    def _deadline(self) -> float:
        # A fetch ends within about two timeouts (connect, then a whole answer); the rest is slack
        # for a busy machine.
        return 2 * self.timeout + 1.0

    def _from_child(self, kind: str, arg: str, where: str) -> Any:
        assert self._child is not None
        (future,) = self._child.submit(kind, self.config, [arg])
        try:
            return future.result(timeout=self._deadline())
        except TimeoutError:
            future.cancel()
            raise NetworkError(
                f"{where}: no answer within {self._deadline():.0f}s (the identity process is stuck "
                "or the host is too slow)"
            ) from None

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            pds, self._pds = self._pds, None
        if pool is not None:
            # Fetches under way finish (each bounded by the timeout) before their client is closed.
            pool.shutdown(wait=True, cancel_futures=True)
        if pds is not None:
            pds.close()
        if self._direct is not None:
            self._direct.close()
        self._http.close()

    def _handle_resolver(self) -> Any:
        # Imported and made here: atproto's resolver pulls in dnspython (a fifth of `import atdata`)
        # and makes its own HTTP client, and local networks and DIDs never need it.
        with self._lock:
            if self._handles is None:
                from atproto_identity.handle.resolver import HandleResolver

                self._handles = HandleResolver(timeout=self.timeout)
            return self._handles

    def _plc_hint(self) -> str:
        # A DID of a local network asked of the public directory: say which setting points elsewhere.
        if self.plc_url != DEFAULT_PLC_URL:
            return ""
        from atdata.config import how_to_set

        return (
            "; that is the public PLC directory: for another network, set the PLC directory "
            f"({how_to_set('plc')})"
        )

    def __enter__(self) -> IdentityResolver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- handle -> DID ---

    def resolve_handle(self, handle: str, *, fresh: bool = False) -> str:
        """The DID a handle points at (IdentityError if it is malformed or points nowhere); an answer
        is kept for the resolver's ttl, as DID documents are."""
        h = normalize_handle(handle)
        with self._lock:
            hit = self._handle_cache.get(h)
        if hit is not None and not fresh and time.monotonic() - hit[0] < self.ttl:
            return hit[1]
        did = (
            self._from_child("handle", h, f"resolving the handle {h!r}")
            if self._child is not None
            else self.lookup_handle(h)
        )
        with self._lock:
            self._handle_cache[h] = (time.monotonic(), did)
        return did

    def lookup_handle(self, h: str) -> str:
        """Ask the network (PDS, DNS, HTTPS) which DID the normalized handle ``h`` points at, in this
        process and uncached (what ``resolve_handle`` does on a cache miss)."""
        did = self._via_pds(h) if self.pds_url else None
        if did is None and self.use_dns:
            did = self._handle_resolver().resolve_dns(h)
        if did is None and _guard_allows(h):
            did = self._handle_resolver().resolve_http(h)
        if did is None:
            where = [f"{self.pds_url} (resolveHandle)"] if self.pds_url else []
            where += ["DNS _atproto TXT"] if self.use_dns else []
            where += [f"https://{h}/.well-known/atproto-did"]
            raise IdentityError(f"handle {h!r} did not resolve to a DID (tried {', '.join(where)})")
        if not is_did(did):
            raise IdentityError(f"handle {h!r} resolved to {did!r:.300}, which is not a DID")
        return did

    def verified_handle(self, identity: Identity) -> str | None:
        """The handle ``identity``'s DID document claims, if it passes the two-way check (a valid
        handle that itself resolves to that DID); None otherwise. Never raises: an author whose
        handle cannot be confirmed simply has none."""
        handle = identity.handle
        if not handle or not is_handle(handle):
            return None
        try:
            return handle if self.resolve_handle(handle) == identity.did else None
        except Exception:  # DNS, HTTP and PDS answers are remote input: unconfirmed means none
            return None

    def verified_handles(self, identities: Sequence[Identity]) -> list[str | None]:
        """:meth:`verified_handle` of each; with an identity process, the handles not cached are
        asked of it together (one hand-over for the lot, not one round trip each)."""
        if self._child is not None:
            claimed = dict.fromkeys(i.handle for i in identities if i.handle and is_handle(i.handle))
            now = time.monotonic()
            with self._lock:
                todo = [
                    h
                    for h in claimed
                    if (hit := self._handle_cache.get(h)) is None or now - hit[0] >= self.ttl
                ]
            failed: set[str] = set()
            if todo:
                answers = zip(todo, self._child.submit("handle", self.config, todo), strict=True)
                deadline = time.monotonic() + self._deadline()
                for handle, future in answers:
                    try:
                        did = future.result(timeout=max(0.0, deadline - time.monotonic()))
                    except Exception:  # unconfirmed means none, and is not asked again below
                        future.cancel()
                        failed.add(handle)
                        continue
                    with self._lock:
                        self._handle_cache[handle] = (time.monotonic(), did)
            return [None if i.handle in failed else self.verified_handle(i) for i in identities]
        return [self.verified_handle(i) for i in identities]

    def _via_pds(self, handle: str) -> str | None:
        assert self.pds_url is not None
        if self._direct is not None:
            direct = self._via_pds_direct(handle)
            if direct is not None:
                return direct[0]
        with self._lock:
            if self._pds is None:
                self._pds = XrpcClient(self.pds_url, timeout=self.timeout)
            pds = self._pds
        try:
            answer = pds.query("com.atproto.identity.resolveHandle", {"handle": handle})
        except XrpcError:
            return None  # the PDS does not know it; other methods may
        return _did_in(answer)

    def _via_pds_direct(self, handle: str) -> tuple[str | None] | None:
        """resolveHandle over :class:`KeepAlive`: ``(did or None,)`` from a successful answer; None
        for any other status or a compressed answer, asked again through :class:`XrpcClient`, whose
        error handling then applies."""
        assert self._direct is not None and self.pds_url is not None
        where = f"{self.pds_url}/xrpc/com.atproto.identity.resolveHandle"
        deadline = time.monotonic() + self.timeout
        try:
            with self._direct.get(f"{where}?{urlencode({'handle': handle})}", _IDENTITY) as resp:
                if not 200 <= resp.status < 300 or resp.getheader("content-encoding"):
                    return None  # an error or a compressed answer: the XRPC client's to read
                kind = resp.getheader("content-type") or ""
                body = _read_capped(
                    resp.getheader("content-length") or "",
                    _chunks(resp),
                    deadline,
                    f"the resolveHandle answer of {where}",
                    self.timeout,
                )
        except AtdataError:
            raise
        except DIRECT_ERRORS as e:
            raise NetworkError(f"cannot reach {where}: {type(e).__name__}: {e}") from None
        if not body or not kind.startswith("application/json"):
            return (None,)
        try:
            answer = json.loads(body)
        except ValueError:
            raise IdentityError(f"{where} answered resolveHandle with malformed JSON") from None
        return (_did_in(answer),)

    # --- DID -> document ---

    def document_url(self, did: str) -> str:
        """Where the DID document of ``did`` is fetched from (IdentityError for unusable DIDs)."""
        if not is_did(did):
            raise IdentityError(f"{did!r} is not a valid DID")
        method = did.split(":")[1]
        if method == "plc":
            return f"{self.plc_url}/{did}"
        if method == "web":
            return did_web_url(did)
        raise IdentityError(f"{did!r}: unsupported DID method {method!r} (atproto uses did:plc and did:web)")

    def resolve_did(self, did: str, *, fresh: bool = False) -> Identity:
        """The checked DID document's essentials, cached; ``fresh=True`` refetches it.

        IdentityError: unknown, malformed, or not an atproto account; NetworkError: unreachable.
        """
        if not fresh:
            hit = self._cached(did)
            if hit is not None:
                return hit
            running = self._running(did)
            if running is not None:
                return running
        with self._lock:
            generation = self._generation.get(did, 0)
        identity = self._fetch(did)
        self._store(did, identity, generation)
        return identity

    def _cached(self, did: str) -> Identity | None:
        with self._lock:
            hit = self._cache.get(did)
        return hit[1] if hit is not None and time.monotonic() - hit[0] < self.ttl else None

    def _running(self, did: str) -> Identity | None:
        """The result of a prefetch of ``did`` begun since the last ``forget``, waited for; None if
        there is none or it failed (the caller then fetches itself, so a failure is retried once).
        NetworkError if it is still under way after the deadline: the host is too slow, and asking
        it again would only double the wait."""
        with self._lock:
            running = self._inflight.get(did)
            current = running is not None and running[0] == self._generation.get(did, 0)
        if running is None or not current:
            return None
        try:
            result: Identity | None = running[1].result(timeout=self._deadline())
            return result
        except TimeoutError:
            raise NetworkError(
                f"cannot fetch the DID document of {did} from {self.document_url(did)}: no answer "
                f"within {self._deadline():.0f}s"
            ) from None
        except (CancelledError, AtdataError):  # closing, or the fetch failed
            return None

    def _store(self, did: str, identity: Identity, generation: int) -> None:
        with self._lock:
            if self._generation.get(did, 0) == generation:
                self._cache[did] = (time.monotonic(), identity)

    def _executor(self) -> ThreadPoolExecutor:
        # Called with the lock held; kept for the resolver's life: a pool per call costs threads.
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=_PREFETCH_THREADS, thread_name_prefix="did")
        return self._pool

    def resolve(self, handle_or_did: str, *, fresh: bool = False) -> Identity:
        """Resolve either form; a handle must be confirmed by its DID document (bidirectional check)."""
        if handle_or_did.startswith("did:"):
            return self.resolve_did(handle_or_did, fresh=fresh)
        handle = normalize_handle(handle_or_did)
        identity = self.resolve_did(self.resolve_handle(handle, fresh=fresh), fresh=fresh)
        if identity.handle != handle:
            raise IdentityError(
                f"handle {handle!r} points at {identity.did}, but that DID document claims "
                f"{identity.handle!r}: the handle is not verified"
            )
        return identity

    def prefetch(self, dids: Iterable[str]) -> None:
        """Start fetching the uncached DIDs among ``dids`` concurrently and return at once: a
        ``resolve`` of one of them meanwhile waits for that fetch rather than sending another, so
        the caller's other work overlaps the round trips (failures are left for ``resolve``)."""
        now = time.monotonic()
        todo: list[tuple[str, int]] = []
        with self._lock:
            for did in dict.fromkeys(dids):  # in the caller's order: the first needed, first asked
                hit = self._cache.get(did)
                if hit is not None and now - hit[0] < self.ttl:
                    continue
                generation = self._generation.get(did, 0)
                running = self._inflight.get(did)
                if running is not None and running[0] == generation:
                    continue
                if self._child is None:
                    self._inflight[did] = (
                        generation,
                        self._executor().submit(self._prefetched, did, generation),
                    )
                elif is_did(did):  # a malformed one is left for ``resolve`` to refuse
                    todo.append((did, generation))
        if self._child is not None and todo:
            self._prefetch_in_child(todo)

    def fetching(self, did: str) -> bool:
        """Whether a prefetch of ``did``'s current document is still under way (a ``resolve`` of it
        now would wait for it)."""
        with self._lock:
            running = self._inflight.get(did)
            return (
                running is not None and running[0] == self._generation.get(did, 0) and not running[1].done()
            )

    def _prefetch_in_child(self, todo: list[tuple[str, int]]) -> None:
        # Sent and called back outside the lock: an answer may arrive (and its callback, which
        # takes the lock, run) before the last request is written.
        assert self._child is not None
        futures = self._child.submit("document", self.config, [did for did, _ in todo])
        sent = [(did, generation, future) for (did, generation), future in zip(todo, futures, strict=True)]
        with self._lock:
            for did, generation, future in sent:
                if self._generation.get(did, 0) == generation:
                    self._inflight[did] = (generation, future)
        for did, generation, future in sent:
            future.add_done_callback(functools.partial(self._child_prefetched, did, generation))

    def _prefetched(self, did: str, generation: int) -> Identity | None:
        result = self._try_fetch(did)
        if result is not None:
            self._store(did, result, generation)  # cached only if no forget came meanwhile
        with self._lock:
            running = self._inflight.get(did)
            if running is not None and running[0] == generation:
                del self._inflight[did]
        return result

    def _child_prefetched(self, did: str, generation: int, future: Future[Any]) -> None:
        result = None if future.cancelled() or future.exception() is not None else future.result()
        if isinstance(result, Identity):
            self._store(did, result, generation)
        with self._lock:
            running = self._inflight.get(did)
            if running is not None and running[1] is future:
                del self._inflight[did]

    def forget(self, did: str) -> None:
        with self._lock:
            self._generation[did] = self._generation.get(did, 0) + 1
            self._cache.pop(did, None)
            self._inflight.pop(did, None)  # a fetch begun before this is never waited for again
            for handle in [h for h, (_, d) in self._handle_cache.items() if d == did]:
                del self._handle_cache[handle]

    def _try_fetch(self, did: str) -> Identity | None:
        try:
            return self._fetch(did)
        except AtdataError:
            return None

    def _fetch(self, did: str) -> Identity:
        url = self.document_url(did)
        if self._child is not None:
            identity: Identity = self._from_child(
                "document", did, f"cannot fetch the DID document of {did} from {url}"
            )
            return identity
        return self.fetch_document(did)

    def fetch_document(self, did: str) -> Identity:
        """Fetch and check ``did``'s document in this process, uncached (what ``resolve_did`` does on
        a cache miss): at most ``MAX_DOCUMENT_BYTES``, whole within about the resolver's timeout."""
        url = self.document_url(did)
        deadline = time.monotonic() + self.timeout
        try:
            body = self._document_direct(did, url, deadline) if self._direct is not None else None
            if body is None:
                with self._http.stream("GET", url, headers={"Accept-Encoding": "identity"}) as resp:
                    body = self._document_body(
                        did,
                        url,
                        resp.status_code,
                        resp.headers.get("content-length", ""),
                        resp.headers.get("content-encoding", ""),
                        resp.iter_bytes(),
                        deadline,
                    )
        except AtdataError:
            raise  # the document's own faults, and a location guard's refusal (an OSError too)
        except (httpx.HTTPError, *DIRECT_ERRORS) as e:
            raise NetworkError(
                f"cannot fetch the DID document of {did} from {url}: {_describe(e)}{self._plc_hint()}"
            ) from None
        try:
            raw = json.loads(body)
        except ValueError:
            raise IdentityError(f"the DID document of {did} from {url} is not JSON") from None
        return identity_from_document(did, raw, url)

    def _document_direct(self, did: str, url: str, deadline: float) -> bytes | None:
        """The document's bytes over :class:`KeepAlive`; None for a redirect, which httpx then
        follows under its own policy (the same ``deadline`` bounds both)."""
        assert self._direct is not None
        with self._direct.get(url, _IDENTITY) as resp:
            if 300 <= resp.status < 400:
                return None
            return self._document_body(
                did,
                url,
                resp.status,
                resp.getheader("content-length") or "",
                resp.getheader("content-encoding") or "",
                _chunks(resp),
                deadline,
            )

    def _document_body(
        self,
        did: str,
        url: str,
        status: int,
        declared: str,
        encoding: str,
        chunks: Iterable[bytes],
        deadline: float,
    ) -> bytes:
        if status in (404, 410):
            raise IdentityError(
                f"unknown DID {did}: {url} has no document for it (HTTP {status}){self._plc_hint()}"
            )
        if status != 200:
            raise NetworkError(
                f"cannot fetch the DID document of {did} from {url}: HTTP {status}{self._plc_hint()}"
            )
        if encoding.strip().lower() not in ("", "identity"):
            # Asked for identity: a compressed body would pass the size cap and grow past it unpacked.
            raise IdentityError(
                f"the DID document of {did} from {url} came compressed ({encoding[:50]}) though asked "
                "for uncompressed: refused"
            )
        return _read_capped(declared, chunks, deadline, f"the DID document of {did} from {url}", self.timeout)


_IDENTITY = {"Accept-Encoding": "identity"}


def _did_in(answer: Any) -> str | None:
    """The ``did`` string of a resolveHandle answer (whichever way it was asked), else None."""
    did = answer.get("did") if isinstance(answer, dict) else None
    return did if isinstance(did, str) else None


def _chunks(response: http.client.HTTPResponse) -> Iterator[bytes]:
    """The body as it arrives, one read at a time (so that a deadline is checked between reads)."""
    while chunk := response.read1(65536):
        yield chunk


def _describe(error: BaseException) -> str:
    """An HTTP error's message, or its kind when it has none (``RemoteDisconnected()``)."""
    return str(error) or type(error).__name__


def _read_capped(declared: str, chunks: Iterable[bytes], deadline: float, what: str, timeout: float) -> bytes:
    """The body (``chunks``, of a ``declared`` Content-Length), refused (naming ``what``) past
    ``MAX_DOCUMENT_BYTES`` or ``deadline``."""
    if declared.isdigit() and int(declared) > MAX_DOCUMENT_BYTES:
        raise IdentityError(f"{what} is {declared} bytes, more than the limit of {MAX_DOCUMENT_BYTES}")
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            raise IdentityError(f"{what} is more than the limit of {MAX_DOCUMENT_BYTES} bytes")
        if time.monotonic() > deadline:
            raise NetworkError(f"{what} did not arrive whole within {timeout:g}s: refused as too slow")
    return bytes(body)


def identity_from_document(did: str, raw: Any, where: str) -> Identity:
    """Check a DID document fetched from ``where`` and keep what atproto needs of it."""
    try:
        from atproto_core.did_doc import DidDocument  # pydantic models: a sixth of `import atdata`

        doc = DidDocument.from_dict(raw)
        pds = doc.get_pds_endpoint()
        key = doc.get_did_key()
        handle = doc.get_handle()
    except Exception as e:  # remote input: any parse failure means "unusable", said where
        raise IdentityError(f"the DID document of {did} from {where} is malformed: {e}") from None
    if doc.id != did:
        raise IdentityError(f"the DID document from {where} is for {doc.id!r}, not {did!r}")
    if pds is None:
        raise IdentityError(f"the DID document of {did} names no #atproto_pds service endpoint")
    if key is None:
        raise IdentityError(f"the DID document of {did} has no #atproto signing key")
    return Identity(
        did=did,
        handle=handle.lower() if handle else None,
        pds=pds.rstrip("/"),
        signing_key=key,
        document=dict(raw),
    )
