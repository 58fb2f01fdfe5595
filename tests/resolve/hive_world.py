"""A network with several datasets readable as one type, for ``find_datasets`` and ``interleave``.

On the dev stack's PDS and PLC, with a real appview following the PDS:

- alice (the trusted author) publishes ``HiveFrame -> HiveMid -> HiveOut`` (two code lenses, as in
  :mod:`resolve_world`), a dataset ``frames`` of 8 HiveFrames (two hops to Out) and a dataset ``mids``
  of 5 HiveMids (one hop), licence CC-BY-4.0;
- bob publishes a dataset ``outs`` of 3 samples stored as alice's HiveOut itself (no lens needed);
- mallory publishes a schema ``Raw``, a lens ``Raw -> HiveMid`` and a dataset ``raws`` of 4 Raws,
  which reach HiveOut only through her untrusted lens.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from resolve_world import (
    FRAME_TO_MID,
    MID_TO_OUT,
    Author,
    new_author,
    serve_appview,
    serve_directory,
    wait_indexed,
)

import atdata
from atdata.schema import from_schema
from atdata_registry.devstack import DevStack

# Names of their own: the dev stack's PDS is shared by the test session, and the resolve tests
# expect a bare "Frame", "Mid" or "Out" to have one author.


@atdata.packable
class HiveFrame:
    """A hive frame as recorded."""

    t: float
    signal: NDArray
    label: str


@atdata.packable
class HiveMid:
    """A hive frame, time in seconds."""

    time_s: float
    signal: NDArray
    label: str


@atdata.packable
class HiveOut:
    """A summary of one hive frame."""

    time_ms: float
    peak: float
    label: str


@atdata.packable
class Raw:
    """Unscaled counts."""

    counts: int
    tag: str


RAW_TO_MID = """
import numpy as np

def get(s):
    return {"time_s": s.counts / 100.0, "signal": np.zeros(2, dtype=np.float32), "label": "raw:" + s.tag}
"""


@dataclass
class HiveWorld:
    stack: DevStack
    appview: str
    alice: Author
    bob: Author
    mallory: Author
    datasets: dict[str, str]  # "frames", "mids", "outs", "raws" -> at-uri
    lenses: dict[str, str]  # "frame_to_mid", "mid_to_out", "raw_to_mid" -> at-uri
    out_ref: dict[str, str]

    def configure(self) -> None:
        atdata.configure(appview=self.appview, plc=self.stack.plc, pds=self.stack.pds)


def _write(root: Path, name: str, samples: list[object], maxcount: int) -> str:
    with atdata.ShardWriter(str(root / f"{name}-%06d.tar"), maxcount=maxcount) as writer:
        for s in samples:
            writer.write(s)
    return f"{name}-{{000000..{len(writer.shards) - 1:06d}}}.tar"


@contextmanager
def hive_world(stack: DevStack, root: Path) -> Iterator[HiveWorld]:
    shards = root / "shards"
    shards.mkdir()
    with serve_directory(shards) as base, serve_appview(root / "appview.db", stack) as appview:
        alice, bob, mallory = (new_author(stack, p) for p in ("alice", "bob", "mallory"))
        a1 = alice.publisher.publish_lens(
            atdata.Lens.from_source(FRAME_TO_MID, source=HiveFrame, target=HiveMid, name="frame_to_mid")
        )
        a2 = alice.publisher.publish_lens(
            atdata.Lens.from_source(MID_TO_OUT, source=HiveMid, target=HiveOut, name="mid_to_out")
        )
        records = {p.uri: p.record for p in alice.publisher.results}
        mid_ref, out_ref = dict(a1.record["target"]), dict(a2.record["target"])
        mid_class = from_schema(records[mid_ref["uri"]], ref=mid_ref)
        out_class = from_schema(records[out_ref["uri"]], ref=out_ref)
        m1 = mallory.publisher.publish_lens(
            atdata.Lens.from_source(RAW_TO_MID, source=Raw, target=mid_class, name="raw_to_mid")
        )
        frames = _write(
            shards,
            "frames",
            [HiveFrame(t=i / 10, signal=np.arange(4, dtype=np.float32) * i, label=f"f{i}") for i in range(8)],
            4,
        )
        mids = _write(
            shards,
            "mids",
            [mid_class(time_s=i, signal=np.ones(3, dtype=np.float32), label=f"m{i}") for i in range(5)],
            5,
        )
        outs = _write(shards, "outs", [out_class(time_ms=i, peak=1.0, label=f"o{i}") for i in range(3)], 3)
        raws = _write(shards, "raws", [Raw(counts=100 * i, tag=f"r{i}") for i in range(4)], 2)
        datasets = {
            "frames": alice.publisher.publish_dataset(
                name="frames", schema=dict(a1.record["source"]), urls=f"{base}/{frames}", license="CC-BY-4.0"
            ).uri,
            "mids": alice.publisher.publish_dataset(
                name="mids", schema=mid_ref, urls=f"{base}/{mids}", license="CC-BY-4.0"
            ).uri,
            "outs": bob.publisher.publish_dataset(name="outs", schema=out_ref, urls=f"{base}/{outs}").uri,
            "raws": mallory.publisher.publish_dataset(
                name="raws", schema=dict(m1.record["source"]), urls=f"{base}/{raws}", license="MIT"
            ).uri,
        }
        lenses = {"frame_to_mid": a1.uri, "mid_to_out": a2.uri, "raw_to_mid": m1.uri}
        wait_indexed(appview, *lenses.values(), *datasets.values())
        yield HiveWorld(stack, appview, alice, bob, mallory, datasets, lenses, out_ref)
