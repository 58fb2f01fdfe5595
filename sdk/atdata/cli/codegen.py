"""``atdata codegen SOURCE``: Python source for a schema record.

SOURCE is a JSON file holding the record (or a ``getRecord`` answer with the record under
``value``), ``-`` for standard input, or an at-uri or a schema name (``Name``, ``handle/Name``,
``Name@1.2.0``) looked up like :func:`atdata.resolve` does: through the configured appview, with the
record fetched from its author's PDS and its CID checked (or from the offline cache).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from atdata.errors import Problem, SchemaError
from atdata.schema.codegen import generate_module


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "codegen",
        help="write a Python module defining the sample type of a schema record",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="a schema record JSON file, '-' for stdin, an at-uri or a schema name")
    p.add_argument("-o", "--output", help="write the module here instead of standard output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    record = read_record(args.source)
    source = generate_module(record)
    if args.output:
        Path(args.output).write_text(source, encoding="utf-8")
    else:
        sys.stdout.write(source)
    return 0


def read_record(source: str) -> dict[str, Any]:
    """The schema record named by a codegen SOURCE argument."""
    if source == "-":
        return _parse(sys.stdin.read(), "standard input")
    path = Path(source)
    if path.is_file():
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise SchemaError(f"cannot read {source}", [Problem("$", str(e))]) from e
        return _parse(text, source)
    if source.startswith("at://") or not source.endswith(".json"):
        from atdata.resolve import resolve_record

        return resolve_record(source)
    raise SchemaError(f"cannot read {source}", [Problem("$", "no such file")])


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise SchemaError(
            f"{where} is not JSON", [Problem("$", f"line {e.lineno} column {e.colno}: {e.msg}")]
        ) from e
    if isinstance(data, dict) and isinstance(data.get("value"), dict) and "$type" not in data:
        data = data["value"]  # a com.atproto.repo.getRecord answer
    if not isinstance(data, dict):
        raise SchemaError(f"{where} is not a schema record", [Problem("$", "expected a JSON object")])
    return data
