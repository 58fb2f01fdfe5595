"""Semantic versions (semver.org 2.0.0) for schema and lens records: the one ordering of versions.

Build metadata (``+...``) is not allowed: it does not order versions, and ``+`` may not appear in a
record key (``<name>:<version>``). Precedence is semver's: a release above its pre-releases,
numeric identifiers compared as numbers (``rc.10`` above ``rc.9``) and below alphanumeric ones,
alphanumeric ones in ASCII order, a longer list above its prefix. :func:`sort_text` spells the same
order as a string of digits, for databases to sort on (digits sort alike under every collation).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NUM = r"0|[1-9]\d*"
_PRE_ID = r"0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*"
_SEMVER = re.compile(rf"({_NUM})\.({_NUM})\.({_NUM})(?:-((?:{_PRE_ID})(?:\.(?:{_PRE_ID}))*))?")


@dataclass(frozen=True, order=False)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()

    def __str__(self) -> str:
        core = f"{self.major}.{self.minor}.{self.patch}"
        return core + ("-" + ".".join(self.prerelease) if self.prerelease else "")

    def _key(self) -> tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]:
        # A release sorts after its prereleases; numeric identifiers sort before alphanumeric ones.
        pre = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def __lt__(self, other: Version) -> bool:
        return self._key() < other._key()

    def __le__(self, other: Version) -> bool:
        return self._key() <= other._key()

    def bump(self, part: str) -> Version:
        """The next release: ``part`` is ``major``, ``minor`` or ``patch``."""
        if part == "major":
            return Version(self.major + 1, 0, 0)
        if part == "minor":
            return Version(self.major, self.minor + 1, 0)
        if part == "patch":
            return Version(self.major, self.minor, self.patch + (0 if self.prerelease else 1))
        raise ValueError(f"unknown version part {part!r}")


def sort_text(version: str) -> str:
    """A string of digits whose byte (and any collation's) order is the semver precedence of ``version``.

    Numbers are written as their digit count (3 digits) then their digits; a pre-release identifier
    as ``1`` + number when numeric, else ``2`` + each character's code + 100 (3 digits) + ``0``; the
    core is followed by ``0`` + identifiers for a pre-release and ``1`` for a release.
    ``ValueError`` when ``version`` is not a semantic version.
    """
    v = parse(version)
    out = [_number(v.major), _number(v.minor), _number(v.patch)]
    if not v.prerelease:
        out.append("1")
    else:
        out.append("0")
        for ident in v.prerelease:
            if ident.isdigit():
                out.append("1" + _number(int(ident)))
            else:
                out.append("2" + "".join(str(ord(c) + 100) for c in ident) + "0")
    return "".join(out)


def _number(n: int) -> str:
    digits = str(n)
    if len(digits) > 999:
        raise ValueError(f"version number with {len(digits)} digits is too long to order")
    return f"{len(digits):03d}{digits}"


def version_problem(version: object) -> str | None:
    """Why ``version`` cannot be a record's version (None when it can)."""
    if is_semver(version):
        return None
    return (
        f"{version!r} is not a semantic version MAJOR.MINOR.PATCH[-PRERELEASE] without build "
        "metadata, e.g. 1.0.0 or 2.1.0-rc.1"
    )


def is_semver(text: object) -> bool:
    return isinstance(text, str) and _SEMVER.fullmatch(text) is not None


def parse(text: str) -> Version:
    """Parse ``1.2.3`` or ``1.2.3-rc.1``; ``ValueError`` naming the rule otherwise."""
    m = _SEMVER.fullmatch(text)
    if m is None:
        raise ValueError(
            f"{text!r} is not a semantic version MAJOR.MINOR.PATCH[-PRERELEASE] "
            "(no leading zeros, no build metadata), e.g. 1.0.0 or 2.1.0-rc.1"
        )
    pre = tuple(m.group(4).split(".")) if m.group(4) else ()
    return Version(int(m.group(1)), int(m.group(2)), int(m.group(3)), pre)
