"""The derived index row of a valid record: the columns queries filter, rank and join on."""

from __future__ import annotations

import json
import re
from typing import Any

from atdata.lexicon.nsid import ATTESTATION, DATASET, LENS, SCHEMA
from atdata.schema.semver import sort_text
from atdata_appview.store import Derived


def version_sort_key(version: str) -> str:
    """The ``version_sort`` column: sorts like the semver precedence of ``version`` (the SDK's one order)."""
    return sort_text(version)


_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def name_words(name: str) -> list[str]:
    """A name and its parts, so a search for "frame" finds BathApplicationFrame and frame_index."""
    parts = [p for chunk in name.split("_") for p in _CAMEL.findall(chunk)]
    return [name, *parts] if len(parts) > 1 else [name]


def _field_words(fields: list[Any]) -> list[str]:
    words: list[str] = []
    for f in fields:
        if isinstance(f, dict):
            words += [*name_words(str(f.get("name", ""))), str(f.get("doc", ""))]
    return words


def derive(collection: str, value: dict[str, Any], *, code_report: list[str] | None = None) -> Derived:
    if collection == SCHEMA:
        words = [
            *name_words(value["name"]),
            value.get("description", ""),
            *_field_words(value.get("fields", [])),
        ]
        for t in value.get("types", []):
            words += [
                *name_words(t.get("name", "")),
                t.get("description", ""),
                *_field_words(t.get("fields", [])),
            ]
        return Derived(
            "schemas",
            {
                "name": value["name"],
                "version": value["version"],
                "version_sort": version_sort_key(value["version"]),
                "description": value.get("description", ""),
                "search_text": " ".join(w for w in words if w).lower(),
            },
        )
    if collection == LENS:
        report = code_report or []
        return Derived(
            "lenses",
            {
                "name": value.get("name"),
                "source_uri": value["source"]["uri"],
                "source_cid": value["source"]["cid"],
                "target_uri": value["target"]["uri"],
                "target_cid": value["target"]["cid"],
                "code_ok": 0 if report else 1,
                "code_report": json.dumps(report) if report else None,
            },
        )
    if collection == DATASET:
        return Derived(
            "datasets",
            {
                "name": value["name"],
                "schema_uri": value["schema"]["uri"],
                "schema_cid": value["schema"]["cid"],
            },
        )
    if collection == ATTESTATION:
        return Derived(
            "attestations",
            {
                "subject_uri": value["subject"]["uri"],
                "subject_cid": value["subject"]["cid"],
                "statement": value["kind"],
            },
        )
    raise ValueError(f"no derived index for {collection}")
