"""`atdata publish schema|lens|dataset|attestation`: records into the signed-in author's repository."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from atdata.errors import AtdataError, PublishError
from atdata.lexicon.definitions import ATTESTATION_KINDS
from atdata_registry.publish import BLOB_LIMIT, Published, Publisher
from atdata_registry.session import Session, current_session


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    publish = subparsers.add_parser("publish", help="publish schemas, lenses, datasets and attestations")
    sub = publish.add_subparsers(dest="publish_command", metavar="KIND", required=True)

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--dry-run", action="store_true", help="validate and print the records, send nothing")

    p = sub.add_parser(
        "schema", parents=[common], help="a sample type: module:Class, or a schema record .json"
    )
    p.add_argument("target", metavar="MODULE:CLASS|FILE.json")
    p.add_argument("--version", help="publish under this version (default: the class's __schema_version__)")
    p.set_defaults(func=_schema)

    p = sub.add_parser("lens", parents=[common], help="a lens (module:name); its schemas are published first")
    p.add_argument("target", metavar="MODULE:LENS")
    p.add_argument("--version", default="1.0.0")
    p.add_argument("--description")
    p.set_defaults(func=_lens)

    p = sub.add_parser("dataset", parents=[common], help="WebDataset shards of one schema")
    p.add_argument("urls", nargs="+", metavar="URL", help="shard URLs or paths; brace patterns allowed")
    p.add_argument(
        "--schema", required=True, help="Name@version in your repository, an at-uri, or module:Class"
    )
    p.add_argument("--name", required=True)
    p.add_argument("--license")
    p.add_argument("--description")
    p.add_argument(
        "--replace", action="store_true", help="update a dataset already published under this name"
    )
    p.add_argument(
        "--blobs",
        action="store_true",
        help="upload the (local) shards to your PDS as blobs; readers fetch them by CID",
    )
    p.add_argument(
        "--blob-limit",
        type=int,
        default=BLOB_LIMIT,
        metavar="BYTES",
        help=f"your PDS's blob size limit (default {BLOB_LIMIT}, the official PDS's); larger shards "
        "are refused",
    )
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_dataset)

    p = sub.add_parser("attestation", parents=[common], help="your statement about a published lens")
    p.add_argument("lens", metavar="LENS_AT_URI")
    p.add_argument("--kind", required=True, choices=ATTESTATION_KINDS)
    p.add_argument("--comment")
    p.add_argument("--replace", action="store_true")
    p.set_defaults(func=_attestation)


def load_object(spec: str) -> Any:
    """``package.module:attr`` -> the object (the current directory is importable, as with ``python -m``)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise PublishError(f"{spec!r}: expected MODULE:NAME, e.g. mypkg.types:BathApplicationFrame")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        obj: Any = importlib.import_module(module_name)
    except ImportError as e:
        raise PublishError(f"cannot import {module_name!r} (from {spec!r}): {e}") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise PublishError(f"{module_name!r} has no attribute {attr!r} (from {spec!r})") from None
    return obj


def _publisher(args: argparse.Namespace) -> tuple[Publisher, Session | None]:
    session: Session | None
    try:
        session = current_session()
    except AtdataError:
        if not args.dry_run:
            raise
        session = None
    return Publisher(
        session, dry_run=args.dry_run, progress=not getattr(args, "no_progress", False), on_record=_report
    ), session


def _report(p: Published) -> None:
    label = {
        "created": "published",
        "existing": "unchanged",
        "replaced": "replaced",
        "dry-run": "would publish",
    }
    print(f"{label[p.status]:<13} {p.uri} {p.cid}")
    if p.status == "dry-run":
        print(json.dumps(p.record, indent=2, ensure_ascii=False))


def _run(args: argparse.Namespace, action: Any) -> int:
    publisher, session = _publisher(args)
    try:
        action(publisher)
    finally:
        if session is not None:
            session.close()
    return 0


def _schema(args: argparse.Namespace) -> int:
    target: Any
    if args.target.endswith(".json"):
        try:
            target = json.loads(Path(args.target).read_text())
        except (OSError, ValueError) as e:
            raise PublishError(f"cannot read the schema record {args.target}: {e}") from None
    else:
        target = load_object(args.target)
    return _run(args, lambda pub: pub.publish_schema(target, version=args.version))


def _lens(args: argparse.Namespace) -> int:
    lens = load_object(args.target)
    return _run(args, lambda pub: pub.publish_lens(lens, version=args.version, description=args.description))


def _dataset(args: argparse.Namespace) -> int:
    schema: Any = args.schema
    if ":" in schema and not schema.startswith("at://"):
        schema = load_object(schema)
    return _run(
        args,
        lambda pub: pub.publish_dataset(
            name=args.name,
            schema=schema,
            urls=args.urls,
            license=args.license,
            description=args.description,
            replace=args.replace,
            blobs=args.blobs,
            blob_limit=args.blob_limit,
        ),
    )


def _attestation(args: argparse.Namespace) -> int:
    return _run(
        args,
        lambda pub: pub.publish_attestation(args.lens, args.kind, comment=args.comment, replace=args.replace),
    )
