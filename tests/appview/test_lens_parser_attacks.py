"""A lens record whose code attacks the parsers is stored as invalid and never becomes an edge, while
the appview keeps ingesting (one such record took the service down with SIGSEGV in libcst)."""

from __future__ import annotations

import subprocess
import sys

import appview_examples as examples
import pytest
from appview_network import LoopbackNetwork
from appview_world import World

from atdata.lexicon.nsid import LENS, SCHEMA
from atdata_appview.ingest.car import cid_str
from atdata_appview.store import Store, open_store

DEEP_FSTRING = "def get(source):\n    return {'x': f'{" + "(" * 1300 + "1" + ")" * 1300 + "}'}\n"
DEEP_FORMAT_SPEC = (
    "def get(source):\n    return {'x': f'{source.t:>{" + "[" * 1500 + "3" + "]" * 1500 + "}}'}\n"
)
LONG_CHAIN = "def get(source):\n    t = source.t\n    return {'x': f'{" + "+".join(["t"] * 20_000) + "}'}\n"
SHORT_CHAIN = "def get(source):\n    t = source.t\n    return {'x': f'{" + "+".join(["t"] * 2_000) + "}'}\n"
ATTACKS = {
    "deep_fstring": (DEEP_FSTRING, "brackets nest more than"),
    "deep_format_spec": (DEEP_FORMAT_SPEC, "brackets nest more than"),
    "long_chain": (LONG_CHAIN, "operators"),
    "short_chain": (SHORT_CHAIN, "operators"),
}


def test_lens_records_that_attack_the_parser_are_stored_invalid_and_ingest_goes_on(
    world: World, store: Store
) -> None:
    a, b = world.schema("alice.test", "A"), world.schema("alice.test", "B")
    for name, (code, _) in ATTACKS.items():
        world.lens("alice.test", name, a, b, code=code)
    after = world.schema("alice.test", "C")  # ingest still works after them
    rows = {row["record"]["name"]: row for row in store.derived("lenses")}
    for name, (_, reason) in ATTACKS.items():
        assert rows[name]["code_ok"] == 0 and reason in rows[name]["code_report"]
    assert after["uri"].endswith("C:1.0.0")


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_an_appview_process_backfilling_such_records_keeps_running_and_indexes_the_rest(
    network: LoopbackNetwork, db_url: str
) -> None:
    alice = network.account()
    writes = [("create", f"{SCHEMA}/A:1.0.0", examples.schema("A"))]
    a = {"uri": f"at://{alice.did}/{SCHEMA}/A:1.0.0", "cid": ""}
    alice.commit(writes)
    a["cid"] = cid_str(alice.records[f"{SCHEMA}/A:1.0.0"][0])
    lenses = [
        ("create", f"{LENS}/{name}:1.0.0", examples.lens(a, a, name=name, code=code))
        for name, (code, _) in ATTACKS.items()
    ]
    alice.commit([*lenses, ("create", f"{SCHEMA}/B:1.0.0", examples.schema("B"))])
    cli = [sys.executable, "-c", "import sys; from atdata.cli.main import main; sys.exit(main(sys.argv[1:]))"]
    done = subprocess.run(
        [*cli, "appview", "backfill", alice.did, "--db", db_url, "--plc", network.url],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    store = open_store(db_url)
    try:
        assert {r.rkey for r in store.records()} >= {"A:1.0.0", "B:1.0.0"}
        rows = {row["record"]["name"]: row for row in store.derived("lenses")}
        for name, (_, reason) in ATTACKS.items():
            assert rows[name]["code_ok"] == 0 and reason in rows[name]["code_report"]
    finally:
        store.close()
