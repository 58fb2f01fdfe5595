"""CPU per record on the ingest's record path: lexicon validation and DAG-CBOR -> JSON conversion.

Validation: ``Lexicons.validate_record`` (a check generated per lexicon definition, the reporting
walk only for a record with problems) against the reporting walk alone (the baseline: what every
record cost before the generated checks), on the ``appview_ingest`` benchmark's schema record and
on each example record of the lexicon tests. Conversion: ``to_json`` after ``decode_dag_cbor``
against the decode alone (the baseline). Both print CPU microseconds per record (the best of
``--repeats`` runs of ``--number`` calls) and the ratio.

    python benchmarks/record_checks.py [--repeats 5] [--number 5000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

import libipld

from atdata.lexicon import default_lexicons
from atdata.lexicon.nsid import SCHEMA
from atdata_appview.ingest.atproto_json import to_json

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "lexicon"))
from lexicon_examples import VALID_RECORDS

from appview_ingest import schema_record


def per_call_us(fn: Callable[..., Any], *args: Any, number: int, repeats: int) -> float:
    fn(*args)
    # CPU time, not wall time: on a shared machine the wall clock mostly measures the others.
    timer = time.process_time
    return min(timeit.repeat(lambda: fn(*args), number=number, repeat=repeats, timer=timer)) / number * 1e6


def decode_to_json(block: bytes) -> Any:
    return to_json(libipld.decode_dag_cbor(block))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--number", type=int, default=5000)
    args = parser.parse_args()
    n = {"number": args.number, "repeats": args.repeats}
    lex = default_lexicons()
    records = {"appview_ingest schema": (SCHEMA, schema_record("T1", "made at 1"))}
    records.update({name: (nsid, make()) for name, (nsid, make) in sorted(VALID_RECORDS.items())})

    print(f"{'record':28s} {'walk (base) us':>15s} {'validate us':>12s} {'ratio':>7s}")
    for name, (nsid, record) in records.items():
        uri, d = lex.definition(nsid)
        assert lex.validate_record(nsid, record) == [] == lex._record_problems(nsid, uri, d, record)
        walk = per_call_us(lex._record_problems, nsid, uri, d, record, **n)
        fast = per_call_us(lex.validate_record, nsid, record, **n)
        print(f"{name:28s} {walk:15.2f} {fast:12.2f} {walk / fast:6.1f}x")

    print(f"\n{'record block':28s} {'decode (base) us':>16s} {'+ to_json us':>13s} {'ratio':>7s}")
    for name, (_, record) in records.items():
        block = libipld.encode_dag_cbor(record)
        decode = per_call_us(libipld.decode_dag_cbor, block, **n)
        both = per_call_us(decode_to_json, block, **n)
        print(f"{name:28s} {decode:16.2f} {both:13.2f} {both / decode:6.2f}x")
    print(f"\nload average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
