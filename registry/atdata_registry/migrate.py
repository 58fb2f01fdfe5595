"""Migrating an author's atdata 0.7 records (``science.alt.dataset.*``) to ``dev.atdata`` records.

Each ``science.alt.dataset.schema`` becomes a ``dev.atdata.schema`` record and each
``science.alt.dataset.entry`` a ``dev.atdata.dataset`` record, converted field by field by
:mod:`atdata.network.predecessor` and published with ``migratedFrom`` set to the strong ref (uri +
CID) of the record it came from. A dataset's schema is the migrated schema (in the author's repo
when it came from there, else a copy migrated into it, still pointing back to the other author's
record). The 0.7 records are read with ``listRecords`` and CID-checked; nothing is deleted.

A record that cannot be migrated (a field type with no counterpart, a version already published
with other content, ...) is listed with the reason and the others go on: :class:`Outcome`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from atdata.errors import AtdataError
from atdata.network.predecessor import ALT_ENTRY, ALT_SCHEMA, convert_entry, convert_schema
from atdata.network.record_fetch import FetchedRecord, RecordFetcher
from atdata.network.refs import StrongRef
from atdata_registry.publish import Published, Publisher
from atdata_registry.record_builders import dataset_record

_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Outcome:
    """What a migration did (or, in a dry run, would do)."""

    published: list[Published] = field(default_factory=list)
    blocked: list[tuple[str, str]] = field(default_factory=list)
    """(0.7 record uri, why it was not migrated)"""


def migrate(handle: str, publisher: Publisher, fetcher: RecordFetcher) -> Outcome:
    """Publish (through ``publisher``, which may be a dry run) the migration of ``handle``'s 0.7 records."""
    outcome = Outcome()
    migrated: dict[str, StrongRef] = {}  # 0.7 schema uri -> the dev.atdata schema it became
    for source in fetcher.list(handle, ALT_SCHEMA):
        ref = _schema(source, publisher, outcome)
        if ref is not None:
            migrated[source.uri] = ref
    for source in fetcher.list(handle, ALT_ENTRY):
        try:
            pds = fetcher.identities.resolve(source.author).pds
            entry = convert_entry(source.value, source.uri, author_pds=pds, author=source.author)
            schema = migrated.get(entry.schema_uri)
            if schema is None:  # another author's schema: migrate a copy into this repo
                schema = _schema(fetcher.fetch(entry.schema_uri), publisher, outcome)
                if schema is None:
                    outcome.blocked.append((source.uri, f"its schema {entry.schema_uri} cannot be migrated"))
                    continue
                migrated[entry.schema_uri] = schema
            description = source.value.get("description")
            license = source.value.get("license")
            record = dataset_record(
                name=_dataset_name(entry.name, source.uri),
                schema=schema,
                urls=entry.urls,
                license=license if isinstance(license, str) else None,
                description=description if isinstance(description, str) else None,
            )
            record["migratedFrom"] = source.ref
            outcome.published.append(publisher.publish_dataset_record(record))
        except AtdataError as e:
            outcome.blocked.append((source.uri, str(e)))
    return outcome


def _schema(source: FetchedRecord, publisher: Publisher, outcome: Outcome) -> StrongRef | None:
    try:
        record, _ = convert_schema(source.value, source.uri)
        record["migratedFrom"] = source.ref
        published = publisher.publish_schema(record)
    except AtdataError as e:
        outcome.blocked.append((source.uri, str(e)))
        return None
    outcome.published.append(published)
    return published.ref


def _dataset_name(name: str, uri: str) -> str:
    cleaned = _NAME_BAD.sub("-", name).strip("-._")[:128]
    return cleaned or uri.rsplit("/", 1)[-1]


def summary(outcome: Outcome) -> dict[str, Any]:
    return {
        "published": [{"uri": p.uri, "cid": p.cid, "status": p.status} for p in outcome.published],
        "blocked": [{"uri": u, "reason": r} for u, r in outcome.blocked],
    }
