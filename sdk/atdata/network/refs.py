"""Record addresses: the at-uri of a record (:class:`AtUri`, the one parser of them) and strong
references, an at-uri plus the CID of its exact content (``com.atproto.repo.strongRef``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from atdata.errors import AtUriError
from atdata.lexicon.formats import is_at_uri


@dataclass(frozen=True)
class AtUri:
    """``at://<repo>/<collection>/<rkey>``: a DID or handle, a collection NSID and a record key."""

    repo: str
    collection: str
    rkey: str

    @classmethod
    def parse(cls, uri: str) -> AtUri:
        """The parts of a record's at-uri; AtUriError for anything else (syntax as the lexicon's)."""
        parts = uri[len("at://") :].split("/") if isinstance(uri, str) and uri.startswith("at://") else []
        if len(parts) != 3 or not is_at_uri(uri):
            shown = repr(uri) if len(repr(uri)) <= 200 else repr(uri)[:200] + "..."
            raise AtUriError(
                f"{shown} is not a record address at://<did or handle>/<collection NSID>/<record key>"
            )
        return cls(*parts)

    def __str__(self) -> str:
        return f"at://{self.repo}/{self.collection}/{self.rkey}"


@dataclass(frozen=True)
class StrongRef:
    uri: str
    cid: str

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> StrongRef:
        return cls(str(raw["uri"]), str(raw["cid"]))

    def as_dict(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}
