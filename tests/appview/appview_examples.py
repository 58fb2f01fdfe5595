"""Valid example records of each collection, for the appview tests."""

from __future__ import annotations

import hashlib
from typing import Any

from atdata.lexicon.nsid import ATTESTATION, DATASET, LENS, SCHEMA, defs

CREATED = "2026-11-21T08:00:00.000Z"


def schema(
    name: str = "Frame", version: str = "1.0.0", *, fields: tuple[str, ...] = ("t_index",), doc: str = ""
) -> dict[str, Any]:
    return {
        "$type": SCHEMA,
        "name": name,
        "version": version,
        "description": doc or f"The {name} sample type.",
        "fields": [
            {"name": f, "type": {"$type": defs("scalarType"), "kind": "int"}, "doc": f"The {f}."}
            for f in fields
        ],
        "createdAt": CREATED,
    }


def strong_ref(uri: str, cid: str) -> dict[str, str]:
    return {"uri": uri, "cid": cid}


LENS_SOURCE = "def get(source):\n    return {'t_index': source.t_index}\n"


def lens(
    source: dict[str, str], target: dict[str, str], *, code: str = LENS_SOURCE, name: str = "frame_to_bath"
) -> dict[str, Any]:
    return {
        "$type": LENS,
        "name": name,
        "version": "1.0.0",
        "description": "Turns one schema into another.",
        "source": source,
        "target": target,
        "code": {
            "$type": f"{LENS}#python",
            "language": "python",
            "source": code,
            "sha256": hashlib.sha256(code.encode()).hexdigest(),
        },
        "createdAt": CREATED,
    }


def dataset(schema_ref: dict[str, str], name: str = "frames") -> dict[str, Any]:
    return {
        "$type": DATASET,
        "name": name,
        "schema": schema_ref,
        "urls": ["https://example.org/frames-{000000..000009}.tar"],
        "createdAt": CREATED,
    }


def attestation(subject: dict[str, str], kind: str = "reviewed") -> dict[str, Any]:
    return {"$type": ATTESTATION, "subject": subject, "kind": kind, "createdAt": CREATED}
