"""Shard URLs: brace patterns, schemes, sidecar locations, and URLs safe to print.

Three kinds of URL name a shard: a local path or ``file://`` URL, ``http(s)://``, and the object
stores that ``fsspec`` reaches (``s3://``, ``gs://``, ``az://``, ``hf://``, ... listed in
:data:`OBJECT_STORES`). Only remote object stores are accepted from fsspec's many protocols: the
others (``memory``, ``ssh``, ``zip``, chained URLs, ...) would let a dataset record reach into the
reader's own machine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from urllib.parse import unquote, urlsplit, urlunsplit

from atdata.errors import DatasetError

_RANGE = re.compile(r"^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$")
_MAX_EXPANSION = 1_000_000


def expand(pattern: str | Sequence[str]) -> list[str]:
    """Every URL a brace pattern stands for, in order.

    ``{a,b}`` lists alternatives, ``{000..009}`` (optionally ``..step``) a zero-padded range;
    braces nest, and several patterns may be joined with ``::`` or passed as a list.
    """
    if not isinstance(pattern, str):
        out: list[str] = []
        for p in pattern:
            out.extend(expand(p))
        return out
    out = []
    for part in _split_patterns(pattern):
        part = part.strip()
        if part:
            out.extend(_expand_one(part, pattern))
    if not out:
        raise DatasetError(f"the shard pattern {pattern!r} names no shards")
    return out


def _split_patterns(pattern: str) -> list[str]:
    """``pattern`` split at each ``::`` outside square brackets: ``http://[::1]:8080/a.tar`` is one
    URL (an IPv6 host), not three patterns."""
    parts, depth, last, i = [], 0, 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "[":
            depth += 1
        elif c == "]":
            depth = max(0, depth - 1)
        elif c == ":" and depth == 0 and pattern.startswith("::", i):
            parts.append(pattern[last:i])
            i += 2
            last = i
            continue
        i += 1
    parts.append(pattern[last:])
    return parts


def _matching_brace(s: str, start: int, whole: str) -> int:
    depth = 0
    for i in range(start, len(s)):
        if s[i] == "{":
            depth += 1
        elif s[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    raise DatasetError(f"unbalanced '{{' at position {start} in shard pattern {whole!r}")


def _split_top(body: str) -> list[str]:
    parts, depth, last = [], 0, 0
    for i, c in enumerate(body):
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(body[last:i])
            last = i + 1
    parts.append(body[last:])
    return parts


def _range(body: str, whole: str) -> list[str] | None:
    m = _RANGE.match(body)
    if not m:
        return None
    a, b = int(m.group(1)), int(m.group(2))
    step = abs(int(m.group(3))) if m.group(3) else 1
    if step == 0:
        raise DatasetError(f"range step 0 in shard pattern {whole!r}")
    width = 0
    if any(len(t.lstrip("-")) > 1 and t.lstrip("-").startswith("0") for t in (m.group(1), m.group(2))):
        width = max(len(m.group(1)), len(m.group(2)))
    values = range(a, b + 1, step) if a <= b else range(a, b - 1, -step)
    if len(values) > _MAX_EXPANSION:
        raise DatasetError(f"shard pattern {whole!r} expands to more than {_MAX_EXPANSION} URLs")
    return [str(v).zfill(width) for v in values]


def _expand_one(s: str, whole: str) -> list[str]:
    start = s.find("{")
    if start < 0:
        if "}" in s:
            raise DatasetError(f"unbalanced '}}' in shard pattern {whole!r}")
        return [s]
    end = _matching_brace(s, start, whole)
    body = s[start + 1 : end]
    head, tails = s[:start], _expand_one(s[end + 1 :], whole)
    options = _range(body, whole)
    if options is None:
        alternatives = _split_top(body)
        if len(alternatives) == 1:  # "{x}" without a comma or range is literal text, as in bash
            options = ["{" + a + "}" for a in _expand_one(body, whole)]
        else:
            options = [x for alt in alternatives for x in _expand_one(alt, whole)]
    result = [head + o + t for o in options for t in tails]
    if len(result) > _MAX_EXPANSION:
        raise DatasetError(f"shard pattern {whole!r} expands to more than {_MAX_EXPANSION} URLs")
    return result


OBJECT_STORES: dict[str, str] = {
    "s3": "s3",
    "s3a": "s3",
    "gs": "gcs",
    "gcs": "gcs",
    "az": "azure",
    "abfs": "azure",
    "abfss": "azure",
    "hf": "hf",
}
"""Object-store URL schemes read through fsspec, and the ``atdata[extra]`` that installs each driver."""

_DRIVERS = {"s3": "s3fs", "gcs": "gcsfs", "azure": "adlfs", "hf": "huggingface_hub"}


def scheme(url: str) -> str:
    """``"file"`` (local paths, file://), ``"http"`` (http(s)://) or ``"fsspec"`` (:data:`OBJECT_STORES`)."""
    lower = url[:8].lower()
    if lower.startswith(("http://", "https://")):
        return "http"
    if lower.startswith("file://") or "://" not in url:
        return "file"
    proto = url.split("://", 1)[0].lower()
    if proto in OBJECT_STORES:
        return "fsspec"
    raise DatasetError(
        f"unsupported shard URL {display(url)}: use a local path, file://, http(s):// or an object "
        f"store ({', '.join(p + '://' for p in OBJECT_STORES)})"
    )


def driver_hint(url: str) -> str:
    """What to install to read an object-store URL, for the error when its fsspec driver is missing."""
    extra = OBJECT_STORES.get(url.split("://", 1)[0].lower(), "")
    return f"pip install 'atdata[{extra}]' (installs {_DRIVERS.get(extra, 'its fsspec driver')})"


def local_path(url: str) -> str:
    if url[:7].lower() == "file://":
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise DatasetError(f"file:// URL {url!r} names a remote host {parts.netloc!r}")
        return unquote(parts.path)
    return os.path.expanduser(url)


def sidecar_url(url: str) -> str:
    """Where the sidecar of a shard lives: the shard's path plus ``.json`` (query string kept)."""
    if scheme(url) == "file":
        return local_path(url) + ".json"
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path + ".json"))


def display(url: str) -> str:
    """The URL without credentials or query string, for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparsable URL>"
    if not parts.scheme or parts.scheme == "file":
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "..." if parts.query else "", ""))
