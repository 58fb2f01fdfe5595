"""Write atdata's lexicon documents to ``lexicons/``: ``python -m atdata.lexicon.generate [DIR]``.

The JSON files are generated, never edited by hand: change ``atdata.lexicon.definitions`` (or the
authority in ``atdata.lexicon.nsid``) and run this. ``--check`` exits 1 when the files are stale.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from atdata.lexicon.definitions import documents
from atdata.lexicon.files import document_path, render, write_documents
from atdata.lexicon.nsid import AUTHORITY


def stale_files(root: Path) -> list[Path]:
    """Files under ``root`` that differ from what generation would write (missing ones included)."""
    docs = documents()
    stale = [
        document_path(root, nsid)
        for nsid, doc in sorted(docs.items())
        if not document_path(root, nsid).exists()
        or document_path(root, nsid).read_text(encoding="utf-8") != render(doc)
    ]
    own_dir = root.joinpath(*AUTHORITY.split("."))
    wanted = {document_path(root, nsid) for nsid in docs}
    if own_dir.is_dir():
        stale += [p for p in sorted(own_dir.rglob("*.json")) if p not in wanted]
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atdata.lexicon.generate", description=__doc__)
    parser.add_argument("root", nargs="?", default="lexicons", help="output folder (default: ./lexicons)")
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    root = Path(args.root)
    if args.check:
        stale = stale_files(root)
        for p in stale:
            print(f"stale: {p}")
        return 1 if stale else 0
    for p in write_documents(root, documents(), AUTHORITY):
        print(f"wrote {p}" if p.exists() else f"removed {p}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
