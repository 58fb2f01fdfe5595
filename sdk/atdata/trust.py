"""Trust policy: whose lenses run in-process, whose run only in the process sandbox, and which are refused.

A lens is *trusted* when its author's DID is in the policy, or when an author in the policy has
attested its CID. Trusted lenses run ``inline``; untrusted ones run in the ``process`` sandbox, or are
refused when the policy is strict. The policy lives in the config file under ``"trust"`` and can be
overridden per call by passing a :class:`TrustPolicy`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from atdata.config import read_config_file, write_config_file
from atdata.errors import AtdataError, TrustError
from atdata.lenses.graph import LensFilter

Isolation = Literal["inline", "process"]


@dataclass(frozen=True)
class TrustedAuthor:
    did: str
    handle: str | None = None

    def label(self) -> str:
        return f"{self.handle} ({self.did})" if self.handle else self.did


@dataclass(frozen=True)
class TrustPolicy:
    """Which authors' lenses are trusted, which attested lens CIDs count, and what to do with the rest."""

    authors: tuple[TrustedAuthor, ...] = ()
    attested_cids: frozenset[str] = field(default_factory=frozenset)
    strict: bool = False
    max_hops: int = 4

    @property
    def dids(self) -> frozenset[str]:
        return frozenset(a.did for a in self.authors)

    def trusts(self, author_did: str, lens_cid: str | None = None) -> bool:
        return author_did in self.dids or (lens_cid is not None and lens_cid in self.attested_cids)

    def isolation_for(self, author_did: str, lens_cid: str | None = None, *, what: str = "lens") -> Isolation:
        """``inline`` for trusted lenses, ``process`` for others; strict policies refuse others.

        Inline is used exactly when the author's DID is in the policy or the lens's CID is attested
        by a trusted author; inline does not bound memory or time inside one C call (see
        :mod:`atdata.sandbox.inline`), so it is reserved for code whose authors you trust.
        Everyone else's code, code and declarative lenses alike, runs in a worker process.
        """
        if self.trusts(author_did, lens_cid):
            return "inline"
        if self.strict:
            raise TrustError(
                f"{what} by {author_did} is not trusted and the trust policy is strict; "
                f"run `atdata trust add {author_did}` or pass a policy that trusts it"
            )
        return "process"

    def lens_filter(self, *, trusted_only: bool) -> LensFilter:
        """The lens graph's edge filter for this policy.

        ``trusted_only`` keeps only trusted lenses (strict policies, or a first search that prefers
        them); otherwise every lens counts and trust only decides isolation. ``max_hops`` carries over.
        """
        if not trusted_only:
            return LensFilter(max_hops=self.max_hops)
        return LensFilter(authors=self.dids, attested=self.attested_cids, max_hops=self.max_hops)

    def with_author(self, did: str, handle: str | None = None) -> TrustPolicy:
        others = tuple(a for a in self.authors if a.did != did)
        return replace(self, authors=(*others, TrustedAuthor(did, handle)))

    def without(self, did_or_handle: str) -> TrustPolicy:
        kept = tuple(a for a in self.authors if did_or_handle not in (a.did, a.handle))
        if len(kept) == len(self.authors):
            raise AtdataError(f"{did_or_handle} is not in the trust list; `atdata trust list` shows it")
        return replace(self, authors=kept)

    def with_attested(self, cids: Iterable[str]) -> TrustPolicy:
        return replace(self, attested_cids=self.attested_cids | frozenset(cids))

    # --- the config file --------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        return {
            "authors": [{"did": a.did, "handle": a.handle} for a in self.authors],
            "strict": self.strict,
            "maxHops": self.max_hops,
        }

    @classmethod
    def from_json(cls, data: Any) -> TrustPolicy:
        if not isinstance(data, dict):
            return cls()
        authors = tuple(
            TrustedAuthor(str(a["did"]), a.get("handle"))
            for a in data.get("authors", [])
            if isinstance(a, dict) and isinstance(a.get("did"), str)
        )
        return cls(
            authors=authors, strict=bool(data.get("strict", False)), max_hops=int(data.get("maxHops", 4))
        )

    @classmethod
    def load(cls) -> TrustPolicy:
        return cls.from_json(read_config_file().get("trust"))

    def save(self) -> None:
        data = read_config_file()
        data["trust"] = self.to_json()
        write_config_file(data)


def current_policy(override: TrustPolicy | None = None) -> TrustPolicy:
    """The per-call ``override`` if given, else the policy from the config file."""
    return override if override is not None else TrustPolicy.load()
