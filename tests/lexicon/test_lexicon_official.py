"""atdata's lexicons judged by the official @atproto/lexicon validator (the one the PDS runs).

The npm package is installed on first use into the user's cache dir (see atdata.lexicon.official).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pytest
from lexicon_examples import CID, INVALID_QUERIES, INVALID_RECORDS, VALID_QUERIES, VALID_RECORDS

from atdata.lexicon import documents, strong_ref_document, validate_output, validate_params, validate_record
from atdata.lexicon.official import Case, OfficialReport, Verdict, run


def _cases() -> dict[str, tuple[Case, bool]]:
    """Every example as a case for the official validator, with whether it should pass."""
    cases: dict[str, tuple[Case, bool]] = {}
    for name, (nsid, make) in VALID_RECORDS.items():
        cases[f"valid record: {name}"] = (Case("record", nsid, make()), True)
    for name, (nsid, record, _) in INVALID_RECORDS.items():
        cases[f"invalid record: {name}"] = (Case("record", nsid, record), False)
    for name, (nsid, params, body) in VALID_QUERIES.items():
        cases[f"valid params: {name}"] = (Case("params", nsid, params), True)
        cases[f"valid output: {name}"] = (Case("output", nsid, body), True)
    for name, (nsid, kind, value, _) in INVALID_QUERIES.items():
        cases[f"invalid {kind}: {name}"] = (Case(kind, nsid, value), False)
    return cases


CASES = _cases()


@dataclass(frozen=True)
class Official:
    report: OfficialReport
    verdicts: dict[str, Verdict]


@pytest.fixture(scope="module")
def official() -> Official:
    docs = [*documents().values(), strong_ref_document()]
    report = run(docs, [case for case, _ in CASES.values()])
    return Official(report, dict(zip(CASES, report.verdicts, strict=True)))


def test_every_document_is_a_valid_lexicon_for_the_official_parser(official: Official) -> None:
    assert official.report.doc_errors == []


def test_every_reference_resolves_in_the_official_lexicon_set(official: Official) -> None:
    assert official.report.ref_errors == []


@pytest.mark.parametrize("name", sorted(n for n, (_, ok) in CASES.items() if ok))
def test_the_official_validator_accepts_each_valid_example(official: Official, name: str) -> None:
    verdict = official.verdicts[name]
    assert verdict.ok, verdict.error


@pytest.mark.parametrize("name", sorted(n for n, (_, ok) in CASES.items() if not ok))
def test_the_official_validator_rejects_each_broken_example(official: Official, name: str) -> None:
    assert not official.verdicts[name].ok


def test_the_python_validator_agrees_with_the_official_one_on_every_example(
    official: Official,
) -> None:
    check = {"record": validate_record, "params": validate_params, "output": validate_output}
    disagreements = []
    for name, (case, _) in CASES.items():
        python_ok = check[case.kind](case.nsid, case.value) == []
        if python_ok != official.verdicts[name].ok:
            disagreements.append(name)
    assert disagreements == []


def _junk(rng: random.Random, depth: int = 0) -> Any:
    """A value likely to break whatever it replaces: wrong types, near-miss strings, small structures."""
    r = rng.random()
    if depth < 2 and r < 0.2:
        return [_junk(rng, depth + 1) for _ in range(rng.randint(0, 2))]
    if depth < 2 and r < 0.4:
        keys = ["$type", "kind", "name", "uri", "cid", "values", "string", "integer"]
        return {rng.choice(keys): _junk(rng, depth + 1) for _ in range(rng.randint(0, 2))}
    return rng.choice(
        [None, True, 0, -1, 2**40, "", "x", "a" * 300, "did:plc:abc", "2026-01-01T00:00:00Z", "python",
         "at://did:plc:abc/dev.atdata.schema/A:1.0.0", "dev.atdata.defs#scalarType", "reviewed", CID]
    )  # fmt: skip


def _locations(value: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _locations(v, (*here, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _locations(v, (*here, i))
    return out


def _corruptions(count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        nsid, make = rng.choice(list(VALID_RECORDS.values()))
        record = make()
        where = rng.choice(_locations(record)[1:])
        parent = record
        for step in where[:-1]:
            parent = parent[step]
        if isinstance(parent, dict) and rng.random() < 0.2:
            del parent[where[-1]]
        else:
            parent[where[-1]] = _junk(rng)
        cases.append(Case("record", nsid, record))
    return cases


def test_both_validators_judge_random_corruptions_alike() -> None:
    """Over 600 seeded corruptions of the examples, the only differences are known ones: the official
    validator takes an array where an object without required properties is expected (its object test
    is JavaScript's `typeof`), while the Python validator follows the data model and refuses it; and
    the Python validator also refuses a schema or lens version that is not semver, which no lexicon
    can say."""
    cases = _corruptions(600, seed=7)
    report = run([*documents().values(), strong_ref_document()], cases)
    differ = []
    for case, verdict in zip(cases, report.verdicts, strict=True):
        problems = validate_record(case.nsid, case.value)
        if (problems == []) != verdict.ok:
            differ.append((problems, verdict))
    unexplained = [
        (problems, verdict)
        for problems, verdict in differ
        if not (
            verdict.ok
            and all(
                p.message == "must be an object, not array"
                or (p.path == "$.version" and "not a semantic version" in p.message)
                for p in problems
            )
        )
    ]
    assert unexplained == []
