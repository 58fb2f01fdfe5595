"""``Dataset(at-uri).as_type(T)`` through lenses published on the network, under the trust policy."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from resolve_world import World, frames, new_author, serve_appview, snapshot, wait_indexed, wait_until

import atdata
from atdata.errors import LensPathError, TrustError
from atdata.network.appview_client import AppviewClient
from atdata.trust import TrustedAuthor, TrustPolicy

pytestmark = pytest.mark.integration


def trusting(*authors: str, strict: bool = False) -> TrustPolicy:
    return TrustPolicy(authors=tuple(TrustedAuthor(did) for did in authors), strict=strict)


def worker_processes() -> set[int]:
    """Children of this process (sandbox workers are started fresh, as children)."""
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids |= {int(p) for p in (task / "children").read_text().split()}
        except FileNotFoundError:  # that thread ended while we looked
            continue
    return pids


def test_a_published_dataset_streams_through_a_two_hop_path_of_trusted_lenses(world: World) -> None:
    world.configure()
    out_type = atdata.resolve(f"{world.alice.handle}/Out")
    ds: atdata.Dataset[Any] = atdata.Dataset(world.dataset)
    got = list(ds.as_type(out_type, trust=trusting(world.alice.did)).ordered())
    expected = frames()
    assert [o.label for o in got] == [f.label for f in expected]  # alice's Mid -> Out, not bob's
    assert [o.time_ms for o in got] == pytest.approx([f.t * 1000 for f in expected])
    assert [o.peak for o in got] == [float(np.max(f.signal)) for f in expected]


def test_trusted_lenses_run_inline_and_untrusted_ones_in_worker_processes(world: World) -> None:
    world.configure()
    out_type = atdata.resolve(f"{world.alice.handle}/Out")
    before = worker_processes()
    inline = iter(atdata.Dataset(world.dataset).as_type(out_type, trust=trusting(world.alice.did)).ordered())
    next(inline)
    assert worker_processes() == before
    sandboxed = iter(atdata.Dataset(world.dataset).as_type(out_type, trust=TrustPolicy()).ordered())
    first = next(sandboxed)
    assert first.time_ms == 0.0
    assert worker_processes() - before


def test_the_source_schema_of_a_local_dataset_comes_from_its_class(world: World, tmp_path: Path) -> None:
    world.configure()
    with atdata.ShardWriter(str(tmp_path / "mid-%06d.tar")) as writer:
        writer.write(world.mid_class(time_s=0.5, signal=np.ones(2, dtype=np.float32), label="m"))
    ds: atdata.Dataset[Any] = atdata.Dataset(str(tmp_path / "mid-000000.tar"), sample_type=world.mid_class)
    (out,) = list(ds.as_type(world.out_class, trust=trusting(world.bob.did)).ordered())
    assert (out.label, out.time_ms) == ("bob:m", 500.0)


def test_a_strict_policy_refuses_a_path_through_an_untrusted_lens(world: World) -> None:
    world.configure()
    out_type = atdata.resolve(f"{world.alice.handle}/Out")
    with pytest.raises(TrustError, match="not trusted and the trust policy is strict"):
        atdata.Dataset(world.dataset).as_type(out_type, trust=trusting(world.bob.did, strict=True))


def test_a_lens_deleted_since_the_appview_indexed_it_fails_listing_the_alternatives(
    world: World, tmp_path: Path
) -> None:
    carol = new_author(world.stack, "carol")
    doomed = carol.publisher.publish_lens(
        atdata.Lens.from_source(
            "def get(s):\n    return {'time_ms': 0.0, 'peak': 0.0, 'label': s.label}\n",
            source=world.mid_class,
            target=world.out_class,
            name="doomed",
        )
    )
    wait_indexed(world.appview, doomed.uri)
    frozen = snapshot(world.db, tmp_path / "frozen.db")
    carol.publisher.session.procedure(  # type: ignore[union-attr]
        "com.atproto.repo.deleteRecord",
        {"repo": carol.did, "collection": "dev.atdata.lens", "rkey": doomed.uri.rsplit("/", 1)[1]},
    )
    with serve_appview(frozen, world.stack, follow=False) as appview:
        world.configure(appview)
        ds: atdata.Dataset[Any] = atdata.Dataset(
            str(tmp_path / "none-{000000..000000}.tar"), sample_type=world.mid_class
        )
        with pytest.raises(LensPathError, match="deleted") as caught:
            ds.as_type(world.out_class, trust=trusting(carol.did))
    assert caught.value.alternatives
    assert any(world.lenses["a2"] in a for a in caught.value.alternatives)
    assert any(world.lenses["b1"] in a for a in caught.value.alternatives)


@atdata.packable
class Summary:
    """When the peak was seen."""

    peak_ms: float


def test_a_lens_attested_by_a_trusted_author_is_trusted_under_a_strict_policy(
    world: World, tmp_path: Path
) -> None:
    carol = new_author(world.stack, "carol")
    summarize = carol.publisher.publish_lens(
        atdata.Lens.from_source(
            "def get(s):\n    return {'peak_ms': s.time_ms}\n",
            source=world.out_class,
            target=Summary,
            name="summarize",
        )
    )
    wait_indexed(world.appview, summarize.uri)
    world.configure()
    with atdata.ShardWriter(str(tmp_path / "mid-%06d.tar")) as writer:
        writer.write(world.mid_class(time_s=0.25, signal=np.ones(2, dtype=np.float32), label="m"))
    ds: atdata.Dataset[Any] = atdata.Dataset(str(tmp_path / "mid-000000.tar"), sample_type=world.mid_class)
    strict = trusting(world.alice.did, strict=True)
    with pytest.raises(TrustError):
        ds.as_type(Summary, trust=strict)

    world.alice.publisher.publish_attestation(summarize, "reviewed")
    with AppviewClient(world.appview) as client:
        wait_until("the attestation is indexed", lambda: bool(client.get_lens(summarize.uri).attestations))
    (out,) = list(ds.as_type(Summary, trust=strict).ordered())
    assert out.peak_ms == 250.0
