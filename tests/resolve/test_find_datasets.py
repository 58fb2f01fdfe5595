"""``atdata.find_datasets`` and ``atdata.interleave`` against the official PDS + PLC and a real appview."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hive_world import HiveWorld, Raw, hive_world

import atdata
from atdata.errors import AtdataError, IntegrityError, SourceError
from atdata.sources import Source
from atdata.trust import TrustedAuthor, TrustPolicy
from atdata_registry.devstack import DevStack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def hive(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HiveWorld]:
    with hive_world(dev_stack, tmp_path_factory.mktemp("hive")) as world:
        yield world


def trusting(*authors: str, strict: bool = False) -> TrustPolicy:
    return TrustPolicy(authors=tuple(TrustedAuthor(did) for did in authors), strict=strict)


def out_type(hive: HiveWorld) -> type:
    return atdata.resolve(f"{hive.alice.handle}/HiveOut")


def names(sources: list[Source]) -> list[str]:
    return [s.dataset.name for s in sources]


def worker_processes() -> set[int]:
    pids: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        try:
            pids |= {int(p) for p in (task / "children").read_text().split()}
        except FileNotFoundError:
            continue
    return pids


def test_every_dataset_readable_through_trusted_lenses_is_listed_fewest_hops_first(hive: HiveWorld) -> None:
    hive.configure()
    found = atdata.find_datasets(out_type(hive), trust=trusting(hive.alice.did))
    assert names(found) == ["outs", "mids", "frames"]
    outs, mids, frames = found
    assert (outs.hops, outs.path_names, outs.samples, outs.license) == (0, (), 3, None)
    assert outs.author == hive.bob.did and outs.stored_type == "HiveOut@1.0.0"
    assert (mids.hops, mids.path_names, mids.samples, mids.license) == (
        1,
        ("mid_to_out@1.0.0",),
        5,
        "CC-BY-4.0",
    )
    assert frames.path_names == ("frame_to_mid@1.0.0", "mid_to_out@1.0.0")
    assert [h.lens.uri for h in frames.path] == [hive.lenses["frame_to_mid"], hive.lenses["mid_to_out"]]
    assert (frames.samples, frames.author, frames.stored_type) == (8, hive.alice.did, "HiveFrame@1.0.0")
    assert all(s.trusted for s in found)


def test_untrusted_paths_appear_only_when_asked_for_and_are_marked(hive: HiveWorld) -> None:
    hive.configure()
    policy = trusting(hive.alice.did)
    assert "raws" not in names(atdata.find_datasets(out_type(hive), trust=policy))
    found = atdata.find_datasets(out_type(hive), trust=policy, include_untrusted=True)
    assert names(found) == ["outs", "mids", "frames", "raws"]  # same hops as frames, but untrusted: after
    raws = found[-1]
    assert not raws.trusted
    assert [(h.name, h.trusted) for h in raws.path] == [
        ("raw_to_mid@1.0.0", False),
        ("mid_to_out@1.0.0", True),
    ]


def test_max_hops_leaves_out_longer_paths(hive: HiveWorld) -> None:
    hive.configure()
    found = atdata.find_datasets(out_type(hive), trust=trusting(hive.alice.did), max_hops=1)
    assert names(found) == ["outs", "mids"]


def test_with_nobody_trusted_only_datasets_stored_as_the_type_are_listed(hive: HiveWorld) -> None:
    hive.configure()
    assert names(atdata.find_datasets(out_type(hive), trust=TrustPolicy())) == ["outs"]


def test_the_found_datasets_read_as_one_stream_with_provenance(hive: HiveWorld) -> None:
    hive.configure()
    found = atdata.find_datasets(out_type(hive), trust=trusting(hive.alice.did))
    stream = atdata.interleave(found)
    samples = list(stream.shuffled(seed=0))
    assert len(samples) == len(stream) == 16
    origins = Counter(atdata.provenance(s).dataset_uri for s in samples)
    assert origins == {hive.datasets["frames"]: 8, hive.datasets["mids"]: 5, hive.datasets["outs"]: 3}
    frame = next(s for s in samples if s.label == "f3")
    p = atdata.provenance(frame)
    assert p.lenses == (hive.lenses["frame_to_mid"], hive.lenses["mid_to_out"])
    assert p.lens_path == ("frame_to_mid@1.0.0", "mid_to_out@1.0.0")
    assert p.dataset_cid == found[2].dataset.cid and p.shard.endswith("frames-000000.tar") and p.key
    assert frame.time_ms == pytest.approx(300.0)


def test_trusted_paths_run_inline_and_an_untrusted_one_in_a_worker_process(hive: HiveWorld) -> None:
    hive.configure()
    policy = trusting(hive.alice.did)
    before = worker_processes()
    trusted = atdata.interleave(atdata.find_datasets(out_type(hive), trust=policy))
    assert len(list(trusted.ordered())) == 16
    assert worker_processes() == before
    everything = atdata.find_datasets(out_type(hive), trust=policy, include_untrusted=True)
    stream = atdata.interleave(everything)
    labels = set()
    for sample in stream.ordered():
        labels.add(sample.label)
        if sample.label == "raw:r0":
            assert worker_processes() - before  # mallory's lens is running, in its own process
    assert {"raw:r0", "raw:r3"} <= labels


def test_a_source_refused_by_a_strict_policy_raises_naming_it(hive: HiveWorld) -> None:
    hive.configure()
    policy = trusting(hive.alice.did, strict=True)
    found = atdata.find_datasets(out_type(hive), trust=policy, include_untrusted=True)
    with pytest.raises(SourceError, match=f"source raws \\({hive.datasets['raws']}\\) failed.*strict"):
        atdata.interleave(found)


def test_a_source_refused_by_a_strict_policy_is_skipped_with_a_logged_reason(
    hive: HiveWorld, caplog: pytest.LogCaptureFixture
) -> None:
    hive.configure()
    policy = trusting(hive.alice.did, strict=True)
    found = atdata.find_datasets(out_type(hive), trust=policy, include_untrusted=True)
    with caplog.at_level(logging.WARNING, logger="atdata.interleave"):
        stream = atdata.interleave(found, on_error="skip")
    assert len(list(stream.ordered())) == 16
    assert "skipping source raws" in caplog.text and "strict" in caplog.text


def test_an_appview_naming_another_schema_than_the_record_is_caught_on_open(hive: HiveWorld) -> None:
    hive.configure()
    outs, mids, _ = atdata.find_datasets(out_type(hive), trust=trusting(hive.alice.did))
    lying: Any = dataclasses.replace(outs, stored_schema=mids.stored_schema)
    with pytest.raises(
        IntegrityError, match=f"stored in {outs.stored_schema.uri}, not {mids.stored_schema.uri}"
    ):
        lying.open()


def test_weights_mix_the_found_sources(hive: HiveWorld) -> None:
    hive.configure()
    found = atdata.find_datasets(out_type(hive), trust=trusting(hive.alice.did))
    stream = atdata.interleave(found, weights=[0, 0, 1])
    assert {atdata.provenance(s).dataset_uri for s in stream.ordered()} == {hive.datasets["frames"]}


# --- no appview: the trusted authors' repositories -------------------------------------------------


def test_without_an_appview_the_trusted_authors_repos_are_searched(hive: HiveWorld) -> None:
    atdata.configure(plc=hive.stack.plc, pds=hive.stack.pds)
    out = atdata.resolve(hive.out_ref["uri"])
    found = atdata.find_datasets(out, trust=trusting(hive.alice.did))
    assert names(found) == ["mids", "frames"]  # bob's and mallory's repos are not read
    assert found[1].path_names == ("frame_to_mid@1.0.0", "mid_to_out@1.0.0")
    assert (found[1].samples, found[1].license, found[1].stored_type) == (8, "CC-BY-4.0", "HiveFrame@1.0.0")
    stream = atdata.interleave(found)
    assert Counter(atdata.provenance(s).dataset_uri for s in stream.ordered()) == {
        hive.datasets["mids"]: 5,
        hive.datasets["frames"]: 8,
    }


def test_without_an_appview_a_trusted_author_s_dataset_of_the_type_itself_comes_first(
    hive: HiveWorld,
) -> None:
    atdata.configure(plc=hive.stack.plc, pds=hive.stack.pds)
    out = atdata.resolve(hive.out_ref["uri"])
    found = atdata.find_datasets(out, trust=trusting(hive.alice.did, hive.bob.did), max_hops=1)
    assert names(found) == ["outs", "mids"]


def test_without_an_appview_or_a_trusted_author_find_datasets_says_what_to_configure() -> None:
    with pytest.raises(AtdataError, match="no appview to ask and no trusted author"):
        atdata.find_datasets(Raw, trust=TrustPolicy())


def test_a_lens_path_that_does_not_lead_from_the_stored_type_to_the_target_is_refused(
    hive: HiveWorld,
) -> None:
    hive.configure()
    _, mids, frames = atdata.find_datasets(out_type(hive), trust=trusting(hive.alice.did))
    skipping: Any = dataclasses.replace(frames, path=mids.path)  # HiveMid -> HiveOut for HiveFrame data
    with pytest.raises(IntegrityError, match="broken at step 1"):
        skipping.open()
    short: Any = dataclasses.replace(frames, path=frames.path[:1])
    with pytest.raises(IntegrityError, match="ends at"):
        short.open()
