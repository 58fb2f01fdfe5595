"""Lexicon string formats (did, handle, nsid, at-uri, cid, datetime, ...) as pure predicates.

Written from the ATProto specifications (atproto.com/specs); each predicate answers whether a
string is well-formed, without network access. ``FORMATS`` maps a format name to
``(predicate, what the string must be)``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

import libipld

_DID = re.compile(r"did:[a-z]+:[a-zA-Z0-9._:%-]*[a-zA-Z0-9._-]")
_HANDLE_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
_HANDLE = re.compile(rf"(?:{_HANDLE_LABEL}\.)+[a-zA-Z](?:[a-zA-Z0-9-]{{0,61}}[a-zA-Z0-9])?")
_NSID = re.compile(
    r"[a-zA-Z](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)+"
    r"\.[a-zA-Z](?:[a-zA-Z0-9]{0,62})"
)
_RECORD_KEY = re.compile(r"[A-Za-z0-9._:~-]{1,512}")
_TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
_URI = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*:[^\s]+")
_LANGUAGE = re.compile(r"(?:i|[a-z]{2,3})(?:-[a-zA-Z0-9]{1,8})*")


def is_did(s: str) -> bool:
    return len(s) <= 2048 and _DID.fullmatch(s) is not None


def is_handle(s: str) -> bool:
    return len(s) <= 253 and _HANDLE.fullmatch(s) is not None


def is_nsid(s: str) -> bool:
    return len(s) <= 317 and _NSID.fullmatch(s) is not None


def is_record_key(s: str) -> bool:
    return s not in (".", "..") and _RECORD_KEY.fullmatch(s) is not None


def is_tid(s: str) -> bool:
    return _TID.fullmatch(s) is not None


def is_at_identifier(s: str) -> bool:
    return is_did(s) if s.startswith("did:") else is_handle(s)


def is_at_uri(s: str) -> bool:
    """``at://<did or handle>[/<collection nsid>[/<record key>]]``, no query or fragment."""
    if len(s) > 8192 or not s.startswith("at://"):
        return False
    parts = s[len("at://") :].split("/")
    if len(parts) > 3 or not is_at_identifier(parts[0]):
        return False
    if len(parts) >= 2 and not is_nsid(parts[1]):
        return False
    return len(parts) < 3 or is_record_key(parts[2])


def is_cid(s: str) -> bool:
    if not 8 <= len(s) <= 256:
        return False
    try:
        libipld.decode_cid(s)
    except Exception:  # libipld raises plain ValueError/TypeError variants for every malformed input
        return False
    return True


def is_datetime(s: str) -> bool:
    """RFC 3339 with a required time zone and an upper-case ``T`` (the lexicon ``datetime`` format)."""
    if len(s) > 64 or _DATETIME.fullmatch(s) is None or s.endswith("-00:00"):
        return False
    try:
        datetime.fromisoformat(s.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def datetime_text(when: datetime | None = None, *, timespec: str = "milliseconds") -> str:
    """``when`` (default: now) as a lexicon ``datetime`` in UTC with a ``Z``, as ATProto writes them.

    Records use milliseconds (the reference PDS's precision); the appview's own bookkeeping uses
    ``timespec="microseconds"`` so that its times sort in the order things happened.
    """
    when = datetime.now(UTC) if when is None else when
    return when.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def is_uri(s: str) -> bool:
    return len(s) <= 8192 and _URI.fullmatch(s) is not None


def is_language(s: str) -> bool:
    return len(s) <= 128 and _LANGUAGE.fullmatch(s) is not None


FORMATS: dict[str, tuple[Callable[[str], bool], str]] = {
    "did": (is_did, "a DID (did:method:identifier)"),
    "handle": (is_handle, "a handle (a domain name such as alice.bsky.social)"),
    "nsid": (is_nsid, "an NSID (reversed domain plus name, e.g. dev.atdata.schema)"),
    "record-key": (is_record_key, "a record key (1-512 of A-Za-z0-9 . - _ : ~, not '.' or '..')"),
    "tid": (is_tid, "a TID (13 base32-sortable characters)"),
    "at-identifier": (is_at_identifier, "a DID or a handle"),
    "at-uri": (is_at_uri, "an at:// URI (at://<did or handle>/<collection>/<record key>)"),
    "cid": (is_cid, "a CID string"),
    "datetime": (is_datetime, "an RFC 3339 datetime with time zone, e.g. 2026-01-02T03:04:05Z"),
    "uri": (is_uri, "a URI with a scheme"),
    "language": (is_language, "a BCP 47 language tag"),
}
