"""What a record must pass before it is served: size, type, the lexicon, and for lenses the sandbox.

Pure functions over decoded records; the ingest applies them and files the reports.
"""

from __future__ import annotations

import hashlib
from typing import Any

from atdata.lexicon.nsid import LENS
from atdata.lexicon.validator import validate_record
from atdata_appview.collections import is_known

# A record block larger than this is refused before it is decoded further. Lens sources (the largest
# legitimate records) are capped by the lexicon at 100 kB; the PDS itself allows up to 1 MiB.
MAX_RECORD_BYTES = 256 * 1024


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
    return [str(p) for p in validate_record(collection, value)]


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
