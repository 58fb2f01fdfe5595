"""Lexicon documents on disk: one JSON file per NSID, at ``<root>/<nsid segments>.json``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from atdata.errors import Problem, SchemaError


def document_path(root: Path, nsid: str) -> Path:
    """Where a document lives: ``dev.atdata.schema`` -> ``<root>/dev/atdata/schema.json``."""
    return root.joinpath(*nsid.split(".")).with_suffix(".json")


def render(doc: dict[str, Any]) -> str:
    """The exact text of a committed lexicon file (stable, so files can be compared byte for byte)."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


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
        if document_path(root, nsid) != path:
            problems.append(Problem(str(path), f"document {nsid} belongs at {document_path(root, nsid)}"))
            continue
        docs[nsid] = doc
    if problems:
        raise SchemaError(f"lexicon files under {root}", problems)
    return docs


def write_documents(root: Path, docs: dict[str, dict[str, Any]], authority: str) -> list[Path]:
    """Write ``docs`` under ``root`` and delete stale files of the same authority; returns changed paths."""
    changed: list[Path] = []
    wanted = {document_path(root, nsid) for nsid in docs}
    for nsid, doc in sorted(docs.items()):
        path = document_path(root, nsid)
        text = render(doc)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    own_dir = root.joinpath(*authority.split("."))
    if own_dir.is_dir():
        for stale in sorted(own_dir.rglob("*.json")):
            if stale not in wanted:
                stale.unlink()
                changed.append(stale)
    return changed
