"""Remote coercion does not run what an appview proposes on its word: the lens record is read from its
author's PDS and its code checked against its hash and the dialect (a loopback appview that lies)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from resolve_loopback import LoopbackAccount, loopback_account, loopback_appview
from resolve_world import Mid, Out

import atdata
from atdata.errors import LensPathError
from atdata.schema import from_schema, record_cid, record_key, schema_of

GOOD_CODE = "def get(s):\n    return {'time_ms': s.time_s * 1000.0, 'peak': 1.0, 'label': s.label}\n"


def publish(acct: LoopbackAccount, collection: str, record: dict[str, Any]) -> dict[str, str]:
    cid = record_cid(record)
    acct.records[f"{collection}/{record_key(record)}"] = (cid, record)
    return {"uri": f"at://{acct.did}/{collection}/{record_key(record)}", "cid": cid}


def lens_record(source: dict[str, str], target: dict[str, str], code: str, sha256: str) -> dict[str, Any]:
    return {
        "$type": "dev.atdata.lens",
        "name": "proposed",
        "version": "1.0.0",
        "source": source,
        "target": target,
        "code": {"$type": "dev.atdata.lens#python", "language": "python", "source": code, "sha256": sha256},
        "createdAt": "2026-01-01T00:00:00.000Z",
    }


@contextmanager
def proposed(code: str, *, sha256: str | None = None, claimed_source: bool = True) -> Iterator[Any]:
    """A Mid dataset, and an appview proposing one lens Mid -> Out whose record holds ``code``."""
    with loopback_account() as acct:
        refs = {
            cls: publish(acct, "dev.atdata.schema", schema_of(cls, created_at="2026-01-01T00:00:00Z"))
            for cls in (Mid, Out)
        }
        mid = from_schema(acct.records[f"dev.atdata.schema/{record_key(schema_of(Mid))}"][1], ref=refs[Mid])
        out = from_schema(acct.records[f"dev.atdata.schema/{record_key(schema_of(Out))}"][1], ref=refs[Out])
        digest = sha256 or hashlib.sha256(code.encode()).hexdigest()
        lens_source = refs[Mid] if claimed_source else refs[Out]
        lens = publish(acct, "dev.atdata.lens", lens_record(lens_source, refs[Out], code, digest))
        step = {"lens": lens, "source": refs[Mid], "target": refs[Out]}
        answers = {"dev.atdata.findLensPath": {"path": [step]}, "dev.atdata.listLenses": {"lenses": []}}
        with loopback_appview(answers) as appview:
            atdata.configure(appview=appview)
            yield mid, out


def mid_dataset(tmp_path: Path, mid: type) -> atdata.Dataset[Any]:
    with atdata.ShardWriter(str(tmp_path / "mid-%06d.tar")) as writer:
        writer.write(mid(time_s=0.5, signal=np.ones(2, dtype=np.float32), label="m"))
    return atdata.Dataset(str(tmp_path / "mid-000000.tar"), sample_type=mid)


def test_a_lens_that_checks_out_runs(tmp_path: Path) -> None:
    with proposed(GOOD_CODE) as (mid, out):
        (got,) = list(mid_dataset(tmp_path, mid).as_type(out).ordered())
    assert (got.time_ms, got.label) == (500.0, "m")


def test_code_that_does_not_match_its_recorded_hash_is_refused(tmp_path: Path) -> None:
    with proposed(GOOD_CODE, sha256="0" * 64) as (mid, out), pytest.raises(LensPathError, match="hashes to"):
        mid_dataset(tmp_path, mid).as_type(out)


def test_code_outside_the_lens_dialect_is_refused_here_whatever_the_appview_said(tmp_path: Path) -> None:
    evil = "def get(s):\n    return open('/etc/passwd').read()\n"
    with proposed(evil) as (mid, out), pytest.raises(LensPathError, match="open"):
        mid_dataset(tmp_path, mid).as_type(out)


def test_a_lens_between_other_schemas_than_proposed_is_refused(tmp_path: Path) -> None:
    with (
        proposed(GOOD_CODE, claimed_source=False) as (mid, out),
        pytest.raises(LensPathError, match="other schemas than the appview said"),
    ):
        mid_dataset(tmp_path, mid).as_type(out)
