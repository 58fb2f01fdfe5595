"""`atdata migrate HANDLE`: an author's atdata 0.7 records as dev.atdata ones (a dry run unless --publish)."""

from __future__ import annotations

import argparse
import json

from atdata.errors import PublishError
from atdata.network.record_fetch import RecordFetcher
from atdata_registry.commands.publish import _report
from atdata_registry.migrate import migrate, summary
from atdata_registry.publish import Publisher
from atdata_registry.session import current_session


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "migrate",
        help="republish an author's atdata 0.7 schemas and datasets as dev.atdata records",
        description=(
            "Reads HANDLE's science.alt.dataset.schema and .entry records (CID-checked) and prints the\n"
            "dev.atdata.schema and .dataset records they become, each with migratedFrom pointing back\n"
            "to its source. Nothing is sent unless --publish is given; then you must be signed in as\n"
            "HANDLE (atdata login HANDLE). Records that cannot be migrated are listed with the reason."
        ),
    )
    p.add_argument("handle", metavar="HANDLE|DID")
    p.add_argument("--publish", action="store_true", help="publish the records (default: a dry run)")
    p.add_argument("--json", action="store_true", help="print a JSON summary instead of each record")
    p.set_defaults(func=_migrate)


def _migrate(args: argparse.Namespace) -> int:
    session = current_session() if args.publish else None
    printed = (lambda _p: None) if args.json else _report
    with RecordFetcher() as fetcher:
        if session is not None:
            did = fetcher.identities.resolve(args.handle).did
            if did != session.did:
                session.close()
                raise PublishError(
                    f"you are signed in as {session.handle} ({session.did}), but {args.handle} is {did}: "
                    f"only its author can migrate its records (atdata login {args.handle})"
                )
        try:
            publisher = Publisher(session, dry_run=session is None, progress=False, on_record=printed)
            outcome = migrate(args.handle, publisher, fetcher)
        finally:
            if session is not None:
                session.close()
    if args.json:
        print(json.dumps(summary(outcome), indent=2))
    else:
        for uri, reason in outcome.blocked:
            print(f"not migrated  {uri}\n  {reason}")
        if session is None:
            print("dry run: nothing was published; run again with --publish to publish these records")
    return 1 if outcome.blocked else 0
