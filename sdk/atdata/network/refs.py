"""Strong references: a record's at-uri plus the CID of its exact content (``com.atproto.repo.strongRef``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StrongRef:
    uri: str
    cid: str

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> StrongRef:
        return cls(str(raw["uri"]), str(raw["cid"]))

    def as_dict(self) -> dict[str, str]:
        return {"uri": self.uri, "cid": self.cid}
