"""A type from ``atdata.resolve`` in DataLoader workers: pickled by reference (record uri + CID) and
rebuilt from the local record cache in the worker, never from the network."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from resolve_world import World

import atdata
from atdata.record_cache import RecordCache
from atdata.resolve import schema_ref

pytestmark = pytest.mark.integration
torch = pytest.importorskip("torch")


def _shards(cls: type, folder: Path) -> str:
    with atdata.ShardWriter(str(folder / "mid-%04d.tar"), maxcount=4) as sink:
        for i in range(12):
            sink.write(cls(time_s=float(i), signal=np.ones(2), label=f"m{i}"))
    return str(folder / "mid-{0000..0002}.tar")


def test_a_resolved_class_pickles_by_its_record_uri_and_cid(world: World) -> None:
    world.configure()
    cls = atdata.resolve("Mid")
    ref = schema_ref(cls)
    assert ref is not None
    payload = pickle.dumps(cls)
    assert ref["uri"].encode() in payload and ref["cid"].encode() in payload
    assert b"time_s" not in payload  # the record itself does not travel
    assert pickle.loads(payload) is cls


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_workers_yield_every_sample_of_a_resolved_class_once(
    world: World, tmp_path: Path, context: str
) -> None:
    world.configure()
    cls = atdata.resolve("Mid")
    loader = torch.utils.data.DataLoader(
        atdata.Dataset[Any](_shards(cls, tmp_path), sample_type=cls).to_torch(),
        batch_size=None,
        num_workers=2,
        multiprocessing_context=context,
        collate_fn=_keep,
        timeout=120,
    )
    samples = list(loader)
    assert sorted(s.time_s for s in samples) == [float(i) for i in range(12)]
    assert all(type(s) is cls for s in samples)


def test_a_worker_without_the_record_in_its_cache_fails_with_an_error_naming_it(
    world: World, tmp_path: Path
) -> None:
    world.configure()
    cls = atdata.resolve("Mid")
    ref = schema_ref(cls)
    assert ref is not None
    payload = pickle.dumps(cls)
    # The cache the class was first resolved into (this process keeps one class per record).
    _, (uri, cid, root) = cls.__dict__["__atdata_reduce__"]
    assert (uri, cid) == (ref["uri"], ref["cid"])
    (RecordCache(Path(root)).root / "records" / f"{cid}.json").unlink()
    assert pickle.loads(payload) is cls  # this process still holds the class
    # Another process (a spawned worker) has only the cache to rebuild it from.
    code = "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"
    done = subprocess.run([sys.executable, "-c", code], input=payload, capture_output=True, timeout=120)
    assert done.returncode != 0
    assert b"not in the local record cache" in done.stderr and ref["uri"].encode() in done.stderr


def _keep(x: object) -> object:
    return x
