"""Building lens, dataset and attestation records (pure).

Schema records come from ``atdata.schema_of``; record keys, content hashes and CIDs from
``atdata.schema.canonical``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from atdata.errors import Problem, PublishError, RecordValidationError
from atdata.lexicon.definitions import ATTESTATION_KINDS
from atdata.lexicon.formats import datetime_text
from atdata.lexicon.nsid import ATTESTATION, DATASET, LENS
from atdata.network.refs import StrongRef
from atdata.schema.value_objects import encode_value

_DATASET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


@dataclass(frozen=True)
class ShardInfo:
    """Integrity and size of one shard, as computed from its bytes."""

    url: str
    sha256: str
    samples: int
    size: int


def lens_record(
    *,
    name: str,
    version: str,
    source: StrongRef,
    target: StrongRef,
    code: str | None = None,
    ops: Sequence[Mapping[str, Any]] | None = None,
    description: str | None = None,
    created_at: str | None = None,
) -> dict[str, Any]:
    """A ``dev.atdata.lens`` record carrying either restricted-Python ``code`` or declarative ``ops``."""
    if (code is None) == (ops is None):
        raise PublishError(f"lens {name}: give exactly one of code (restricted Python) or ops (declarative)")
    body: dict[str, Any]
    if code is not None:
        body = {
            "$type": f"{LENS}#python",
            "language": "python",
            "source": code,
            "sha256": hashlib.sha256(code.encode()).hexdigest(),
        }
    else:
        body = {"$type": f"{LENS}#declarative", "ops": [op_record(op) for op in ops or ()]}
    record: dict[str, Any] = {"$type": LENS, "name": name, "version": version}
    if description:
        record["description"] = description
    record.update(
        source=source.as_dict(), target=target.as_dict(), code=body, createdAt=created_at or datetime_text()
    )
    return record


def op_record(op: Mapping[str, Any]) -> dict[str, Any]:
    """One declarative operation (``{"op": "rename", ...}``, see ``atdata.lenses.declarative``) as a
    ``dev.atdata.lens#<op>`` union member, its constants as ``dev.atdata.defs#value`` objects."""
    kind = op.get("op")
    out: dict[str, Any] = {"$type": f"{LENS}#{kind}"}
    for key, value in op.items():
        if key == "op":
            continue
        if (kind, key) in (("add", "value"), ("convert", "default")):
            out[key] = encode_value(value)
        elif kind == "convert" and key == "table":
            out[key] = [{"from": encode_value(row["from"]), "to": encode_value(row["to"])} for row in value]
        else:
            out[key] = value
    return out


def dataset_record(
    *,
    name: str,
    schema: StrongRef,
    urls: Sequence[str],
    shards: Sequence[ShardInfo] | None = None,
    license: str | None = None,
    description: str | None = None,
    created_at: str | None = None,
) -> dict[str, Any]:
    """A ``dev.atdata.dataset`` record; with ``shards``, their checksums and the total sample count."""
    if not _DATASET_NAME_RE.match(name):
        raise RecordValidationError(
            f"invalid {DATASET} record",
            [
                Problem(
                    "$.name",
                    f"{name!r}: use letters, digits, '.', '-' and '_' (at most 128), starting with a "
                    "letter or digit",
                )
            ],
        )
    record: dict[str, Any] = {
        "$type": DATASET,
        "name": name,
        "schema": schema.as_dict(),
        "urls": list(urls),
    }
    if shards is not None:
        record["shards"] = [{"sha256": s.sha256, "samples": s.samples, "size": s.size} for s in shards]
        record["sampleCount"] = sum(s.samples for s in shards)
    if license:
        record["license"] = license
    if description:
        record["description"] = description
    record["createdAt"] = created_at or datetime_text()
    return record


def attestation_record(
    *, subject: StrongRef, kind: str, comment: str | None = None, created_at: str | None = None
) -> dict[str, Any]:
    """A ``dev.atdata.attestation`` record: the author's statement about a lens record."""
    if kind not in ATTESTATION_KINDS:
        raise RecordValidationError(
            f"invalid {ATTESTATION} record",
            [Problem("$.kind", f"{kind!r} is not one of {', '.join(ATTESTATION_KINDS)}")],
        )
    record: dict[str, Any] = {"$type": ATTESTATION, "subject": subject.as_dict(), "kind": kind}
    if comment:
        record["comment"] = comment
    record["createdAt"] = created_at or datetime_text()
    return record
