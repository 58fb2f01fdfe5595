"""Lexicon documents on disk: one JSON file per NSID, at ``<root>/<nsid segments>.json``.

The files are the source of atdata's wire contract (:mod:`atdata.lexicon.definitions` reads them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atdata.errors import Problem, SchemaError


def document_path(root: Path, nsid: str) -> Path:
    """Where a document lives: ``dev.atdata.schema`` -> ``<root>/dev/atdata/schema.json``."""
    return root.joinpath(*nsid.split(".")).with_suffix(".json")


def load_documents(root: Path) -> dict[str, dict[str, Any]]:
    """Every ``*.json`` lexicon document under ``root``, by NSID; checks that each sits at its path."""
    docs: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for path in sorted(root.rglob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            problems.append(Problem(str(path), f"cannot read: {e}"))
            continue
        nsid = doc.get("id") if isinstance(doc, dict) else None
        if not isinstance(nsid, str):
            problems.append(Problem(str(path), "not a lexicon document (no string 'id')"))
            continue
        if doc.get("lexicon") != 1 or not isinstance(doc.get("defs"), dict):
            problems.append(Problem(str(path), 'not a Lexicon v1 document (needs "lexicon": 1 and "defs")'))
            continue
        if document_path(root, nsid) != path:
            problems.append(Problem(str(path), f"document {nsid} belongs at {document_path(root, nsid)}"))
            continue
        docs[nsid] = doc
    if problems:
        raise SchemaError(f"lexicon files under {root}", problems)
    return docs
