"""A small indexed world for query tests: two authors, schemas, lenses, a dataset, written as
signed commits and ingested through the real frame path."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import appview_examples as examples
from appview_network import LoopbackNetwork, settle
from support.repo_writer import RepoWriter, commit_frame

from atdata.lexicon.nsid import ATTESTATION, DATASET, LENS, SCHEMA
from atdata_appview.ingest.car import cid_str
from atdata_appview.ingest.firehose import FirehoseIngester

BAD_LENS_SOURCE = "import os\n\ndef get(source):\n    return os.environ\n"


@dataclass
class World:
    network: LoopbackNetwork
    ingest: FirehoseIngester
    appview: Any = None  # when given, each write waits for its background work (resyncs, handles)
    seq: int = 0
    authors: dict[str, RepoWriter] = field(default_factory=dict)

    def author(self, handle: str) -> RepoWriter:
        if handle not in self.authors:
            self.authors[handle] = self.network.account(handle)
        return self.authors[handle]

    def write(self, handle: str, writes: list[tuple[str, str, Any]]) -> None:
        writer = self.author(handle)
        self.seq += 1
        self.ingest.handle_frames([commit_frame(self.seq, writer.did, writer.commit(writes))])
        if self.appview is not None:
            settle(self.appview)

    def ref(self, handle: str, path: str) -> dict[str, str]:
        writer = self.authors[handle]
        return {"uri": f"at://{writer.did}/{path}", "cid": cid_str(writer.records[path][0])}

    def uri(self, handle: str, path: str) -> str:
        return f"at://{self.authors[handle].did}/{path}"

    # --- conveniences -------------------------------------------------------------------------
    def schema(self, handle: str, name: str, version: str = "1.0.0", **kw: Any) -> dict[str, str]:
        path = f"{SCHEMA}/{name}:{version}"
        self.write(handle, [("create", path, examples.schema(name, version, **kw))])
        return self.ref(handle, path)

    def lens(
        self, handle: str, name: str, source: dict[str, str], target: dict[str, str], **kw: Any
    ) -> dict[str, str]:
        path = f"{LENS}/{name}:1.0.0"
        self.write(handle, [("create", path, examples.lens(source, target, name=name, **kw))])
        return self.ref(handle, path)

    def dataset(self, handle: str, name: str, schema: dict[str, str]) -> dict[str, str]:
        path = f"{DATASET}/{name}"
        self.write(handle, [("create", path, examples.dataset(schema, name))])
        return self.ref(handle, path)

    def attest(self, handle: str, lens: dict[str, str], kind: str = "reviewed") -> dict[str, str]:
        path = f"{ATTESTATION}/{kind}.{lens['cid'][-12:]}"
        self.write(handle, [("create", path, examples.attestation(lens, kind))])
        return self.ref(handle, path)
