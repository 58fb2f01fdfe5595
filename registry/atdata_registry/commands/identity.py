"""`atdata identity HANDLE|DID`: resolve an account to its DID, PDS and signing key."""

from __future__ import annotations

import argparse
import json

from atdata.config import settings
from atdata.network.identity import IdentityResolver


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("identity", help="resolve a handle or DID to its DID document's essentials")
    p.add_argument("subject", metavar="HANDLE|DID")
    p.add_argument("--pds", metavar="URL", help="also ask this PDS to resolve the handle (local networks)")
    p.add_argument(
        "--plc",
        metavar="URL",
        help="PLC directory for did:plc (default: ATDATA_PLC, the config file, the dev network, "
        "else plc.directory)",
    )
    p.add_argument("--json", action="store_true", help="print JSON, including the DID document")
    p.set_defaults(func=_identity)


def _identity(args: argparse.Namespace) -> int:
    configured = settings()  # --plc and --pds are in it (atdata.cli.main hands flags over)
    with IdentityResolver(plc_url=configured.plc, pds_url=configured.pds) as resolver:
        who = resolver.resolve(args.subject)
    if args.json:
        print(
            json.dumps(
                {
                    "did": who.did,
                    "handle": who.handle,
                    "pds": who.pds,
                    "signingKey": who.signing_key,
                    "document": who.document,
                },
                indent=2,
            )
        )
    else:
        print(
            f"did:         {who.did}\nhandle:      {who.handle}\npds:         {who.pds}\n"
            f"signing key: {who.signing_key}"
        )
    return 0
