"""Semantic versions (semver.org 2.0.0) for schema and lens records.

Build metadata (``+...``) is not allowed: it does not order versions, and ``+`` may not appear in a
record key (``<name>:<version>``).
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
