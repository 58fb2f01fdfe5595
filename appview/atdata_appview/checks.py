"""What a record must pass before it is served: size, type, the lexicon, and for lenses the sandbox.

Pure functions over decoded records; the ingest applies them and files the reports.
"""

from __future__ import annotations

import hashlib
from typing import Any

from atdata.errors import AtdataError, AtUriError
from atdata.lexicon.nsid import LENS
from atdata.lexicon.validator import validate_record
from atdata.network.predecessor import ALT_ENTRY, ALT_LENS, ALT_SCHEMA, json_schema_of
from atdata.network.refs import AtUri
from atdata.schema.semver import is_semver
from atdata_appview.indexed_collections import DERIVED_TABLE, PREDECESSOR, is_known

# A record block larger than this is refused before it is decoded further. Lens sources (the largest
# legitimate records) are capped by the lexicon at 100 kB; the PDS itself allows up to 1 MiB.
MAX_RECORD_BYTES = 256 * 1024


def prepare_checks() -> None:
    """Generate the lexicon check of every collection indexed now, rather than at the first record
    of each (tens of milliseconds, once per process): a process that ingests calls this when it is
    set up. Each is generated from the lexicons alone, whatever value it is first asked about."""
    for collection in DERIVED_TABLE:
        if collection not in PREDECESSOR:
            validate_record(collection, None)


def record_problems(collection: str, value: Any, size: int) -> list[str]:
    """Why the record cannot be indexed (empty when it can): every problem, each with a JSON path."""
    if not is_known(collection):
        return [f"unknown collection {collection}"]
    if size > MAX_RECORD_BYTES:
        return [f"record is {size} bytes; at most {MAX_RECORD_BYTES} are indexed"]
    if not isinstance(value, dict):
        return [f"$: a record must be an object, not {type(value).__name__}"]
    if value.get("$type") != collection:
        return [f"$.$type: must be {collection!r}, not {value.get('$type')!r}"]
    if collection in PREDECESSOR:
        return predecessor_problems(collection, value)
    return [str(p) for p in validate_record(collection, value)]


def predecessor_problems(collection: str, value: dict[str, Any]) -> list[str]:
    """What an atdata 0.7 record needs for its index row: checked on what 0.7 really writes (its own
    records do not all pass its lexicons), so only the fields the index reads."""
    problems: list[str] = []

    def text(key: str, limit: int) -> None:
        v = value.get(key)
        if not isinstance(v, str) or not 0 < len(v) <= limit:
            problems.append(f"$.{key}: must be a non-empty string of at most {limit} characters")

    def at_uri(key: str, of: str) -> None:
        try:
            ok = AtUri.parse(value.get(key)).collection == of
        except AtUriError:
            ok = False
        if not ok:
            problems.append(f"$.{key}: must be the at-uri of a {of} record")

    text("name", 200)
    if collection == ALT_SCHEMA:
        if not is_semver(value.get("version")):
            problems.append("$.version: must be a semantic version such as 1.2.0 (no build metadata)")
        body = value.get("schema")
        if not isinstance(body, dict):
            problems.append("$.schema: must be an object")
        else:
            try:
                json_schema_of(value, "")
            except AtdataError as e:
                problems.append(f"$.schema: {e}")
    elif collection == ALT_ENTRY:
        at_uri("schemaRef", ALT_SCHEMA)
        if not isinstance(value.get("storage"), dict):
            problems.append("$.storage: must be an object")
    elif collection == ALT_LENS:
        at_uri("sourceSchema", ALT_SCHEMA)
        at_uri("targetSchema", ALT_SCHEMA)
    return problems


def predecessor_lens_report(value: dict[str, Any]) -> list[str]:
    """Why a 0.7 lens is never a graph edge here: its code is a git reference, not runnable here."""
    code = value.get("getterCode")
    where = ""
    if isinstance(code, dict):
        where = f" ({code.get('repository')}@{str(code.get('commit'))[:12]}:{code.get('path')})"
    return [f"code by git reference{where}, not runnable here (atdata lens import translates it)"]


def lens_code_report(value: dict[str, Any]) -> list[str]:
    """Why a (lexicon-valid) lens's code must not become a graph edge; empty when it may."""
    code = value.get("code") or {}
    if code.get("$type") != f"{LENS}#python":
        return []  # declarative operation lists are data, reversible by construction
    source = code.get("source", "")
    problems: list[str] = []
    if hashlib.sha256(source.encode()).hexdigest() != code.get("sha256"):
        problems.append("$.code.sha256: does not match the SHA-256 of $.code.source")
    from atdata.sandbox import validate_source

    problems.extend(f"$.code.source:{v}" for v in validate_source(source))
    return problems
