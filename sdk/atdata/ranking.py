"""The one ranking of published records that answer the same name, shared by the SDK, the appview
and the MCP server, so that every one of them picks the same record for the same candidates.

1. authors in the trust list first, in the order the list gives them;
2. then the highest version (semver precedence, :mod:`atdata.schema.semver`; a version that is not
   semver, which no valid record has, ranks below every valid one);
3. then the author's DID, then the at-uri, in byte order.

The ranking is pure: callers narrow the candidates first (by name, author, version) and decide what
an ambiguous answer means for them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeVar

from atdata.schema import semver


class Rankable(Protocol):
    @property
    def author(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def uri(self) -> str: ...


T = TypeVar("T")
Fields = Callable[[T], tuple[str, str, str]]
"""``(author DID, version, at-uri)`` of a candidate."""


def _fields(c: Rankable) -> tuple[str, str, str]:
    return c.author, c.version, c.uri


_BELOW_ALL = semver.Version(-1, 0, 0)


def _version(text: str) -> semver.Version:
    return semver.parse(text) if semver.is_semver(text) else _BELOW_ALL


def rank(candidates: Iterable[T], trusted: Sequence[str], fields: Fields[T] | None = None) -> list[T]:
    """``candidates`` best first (see the module docstring).

    ``fields`` gives a candidate's ``(author DID, version, at-uri)``; by default its ``author``,
    ``version`` and ``uri`` attributes.
    """
    # Without ``fields`` the candidates must be Rankable (the documented contract), which T cannot say.
    get: Callable[[T], tuple[str, str, str]] = fields or _fields  # type: ignore[assignment]
    order = {did: i for i, did in enumerate(trusted)}
    keyed = [(get(c), c) for c in candidates]
    # Stable sorts from the last rule to the first: the version must sort descending, by precedence.
    keyed.sort(key=lambda k: (k[0][0], k[0][2]))
    keyed.sort(key=lambda k: _version(k[0][1]), reverse=True)
    keyed.sort(key=lambda k: order.get(k[0][0], len(order)))
    return [c for _, c in keyed]
