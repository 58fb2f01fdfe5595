"""The derived index row of a valid record: the columns queries filter, rank and join on."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from atdata.lexicon.nsid import ATTESTATION, DATASET, LENS, SCHEMA
from atdata.network.predecessor import ALT_ENTRY, ALT_LENS, ALT_SCHEMA, json_schema_of
from atdata.schema.semver import sort_text
from atdata_appview.store import Derived
from atdata_appview.store.base import storable

# Names and versions repeat across records (field names above all); the words of the short ones
# are kept. Bounded in number and in length, so that hostile records cannot fill the memory.
_CACHED = 8192
_CACHED_CHARS = 128


def version_sort_key(version: str) -> str:
    """The ``version_sort`` column: sorts like the semver precedence of ``version`` (the SDK's one order)."""
    return _version_sort_key(version) if len(version) <= _CACHED_CHARS else sort_text(version)


@lru_cache(maxsize=_CACHED)
def _version_sort_key(version: str) -> str:
    return sort_text(version)


_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


def name_words(name: str) -> list[str]:
    """A name and its parts, so a search for "frame" finds BathApplicationFrame and frame_index."""
    return list(_words(name))


@lru_cache(maxsize=_CACHED)
def _name_words(name: str) -> tuple[str, ...]:
    return _split_name(name)


def _split_name(name: str) -> tuple[str, ...]:
    parts = [p for chunk in name.split("_") for p in _CAMEL.findall(chunk)]
    return (name, *parts) if len(parts) > 1 else (name,)


def _words(name: str) -> tuple[str, ...]:
    return _name_words(name) if len(name) <= _CACHED_CHARS else _split_name(name)


def _field_words(fields: list[Any]) -> list[str]:
    words: list[str] = []
    for f in fields:
        if isinstance(f, dict):
            words += _words(str(f.get("name", "")))
            words.append(str(f.get("doc", "")))
    return words


def derive(collection: str, value: dict[str, Any], *, code_report: list[str] | None = None) -> Derived:
    """The index row of a valid record; its text as both databases can hold it (the record itself is
    kept as JSON, where a NUL character is escaped, and served unchanged)."""
    row = _derive(collection, value, code_report)
    return Derived(row.table, {column: storable(v) for column, v in row.columns.items()})


def _derive(collection: str, value: dict[str, Any], code_report: list[str] | None) -> Derived:
    if collection == SCHEMA:
        words = [
            *_words(value["name"]),
            value.get("description", ""),
            *_field_words(value.get("fields", [])),
        ]
        for t in value.get("types", []):
            words += [
                *_words(t.get("name", "")),
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
    if collection in (ALT_SCHEMA, ALT_ENTRY, ALT_LENS):
        return _derive_predecessor(collection, value, code_report or [])
    raise ValueError(f"no derived index for {collection}")


def _derive_predecessor(collection: str, value: dict[str, Any], report: list[str]) -> Derived:
    """atdata 0.7 records in the same tables: a schema's fields are its JSON Schema properties, an
    entry's schema CID is filled in when listed (its ``schemaRef`` is a bare at-uri)."""
    if collection == ALT_SCHEMA:
        props = json_schema_of(value, "").get("properties", {})
        words = [*_words(value["name"]), value.get("description", "") or ""]
        for name, prop in props.items():
            words += _words(str(name))
            if isinstance(prop, dict) and isinstance(prop.get("description"), str):
                words.append(prop["description"])
        description = value.get("description")
        return Derived(
            "schemas",
            {
                "name": value["name"],
                "version": value["version"],
                "version_sort": version_sort_key(value["version"]),
                "description": description if isinstance(description, str) else "",
                "search_text": " ".join(w for w in words if isinstance(w, str) and w).lower(),
            },
        )
    if collection == ALT_ENTRY:
        return Derived(
            "datasets", {"name": value["name"], "schema_uri": value["schemaRef"], "schema_cid": ""}
        )
    return Derived(
        "lenses",
        {
            "name": value.get("name"),
            "source_uri": value["sourceSchema"],
            "source_cid": "",
            "target_uri": value["targetSchema"],
            "target_cid": "",
            "code_ok": 0,
            "code_report": json.dumps(report),
        },
    )
