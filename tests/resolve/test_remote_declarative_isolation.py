"""An untrusted author's declarative lens record runs where the trust policy says: in a worker."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from resolve_loopback import loopback_account, loopback_appview
from resolve_world import Mid, Out
from test_remote_checks import mid_dataset, publish

import atdata
from atdata.schema import from_schema, record_key, schema_of
from atdata.trust import TrustedAuthor, TrustPolicy

OPS = [
    {"$type": "dev.atdata.lens#rename", "from": "time_s", "to": "time_ms"},
    {"$type": "dev.atdata.lens#drop", "field": "signal"},
    {"$type": "dev.atdata.lens#add", "field": "peak", "value": {"float": "1.0"}},
]


@contextmanager
def proposed_ops() -> Iterator[tuple[type, type, str]]:
    with loopback_account() as acct:
        refs = {
            cls: publish(acct, "dev.atdata.schema", schema_of(cls, created_at="2026-01-01T00:00:00Z"))
            for cls in (Mid, Out)
        }
        mid = from_schema(acct.records[f"dev.atdata.schema/{record_key(schema_of(Mid))}"][1], ref=refs[Mid])
        out = from_schema(acct.records[f"dev.atdata.schema/{record_key(schema_of(Out))}"][1], ref=refs[Out])
        record: dict[str, Any] = {
            "$type": "dev.atdata.lens",
            "name": "renamed",
            "version": "1.0.0",
            "source": refs[Mid],
            "target": refs[Out],
            "code": {"$type": "dev.atdata.lens#declarative", "ops": OPS},
            "createdAt": "2026-01-01T00:00:00.000Z",
        }
        lens = publish(acct, "dev.atdata.lens", record)
        step = {"lens": lens, "source": refs[Mid], "target": refs[Out]}
        answers = {"dev.atdata.findLensPath": {"path": [step]}, "dev.atdata.listLenses": {"lenses": []}}
        with loopback_appview(answers) as appview:
            atdata.configure(appview=appview)
            yield mid, out, acct.did


@pytest.mark.parametrize("trusted", [False, True], ids=["untrusted-in-a-worker", "trusted-inline"])
def test_a_declarative_lens_record_runs_where_the_policy_says(
    trusted: bool, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    with proposed_ops() as (mid, out, did):
        policy = TrustPolicy(authors=(TrustedAuthor(did),) if trusted else ())
        (got,) = list(mid_dataset(tmp_path, mid).as_type(out, trust=policy).ordered())
    assert (got.time_ms, got.peak, got.label) == (0.5, 1.0, "m")
    expected = "inline" if trusted else "process"
    assert any(
        r.getMessage().startswith("lens renamed@1.0.0") and r.getMessage().endswith(expected)
        for r in caplog.records
    )
