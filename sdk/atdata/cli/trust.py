"""``atdata trust add|remove|list|strict``: whose lenses run in-process, kept in the config file."""

from __future__ import annotations

import argparse
from dataclasses import replace

from atdata.config import CONFIG_FILE, config_dir, settings
from atdata.network.identity import IdentityResolver
from atdata.trust import TrustPolicy


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "trust",
        help="manage the trust policy: trusted lens authors run inline, others in the process sandbox",
    )
    sub = p.add_subparsers(dest="trust_command", metavar="ACTION", required=True)

    add = sub.add_parser("add", help="trust an author (a handle is resolved to its DID)")
    add.add_argument("subject", metavar="HANDLE|DID")
    add.add_argument("--plc", metavar="URL", help="PLC directory for did:plc (default: configured or public)")
    add.add_argument("--pds", metavar="URL", help="also ask this PDS to resolve the handle (local networks)")
    add.set_defaults(func=_add)

    remove = sub.add_parser("remove", help="stop trusting an author")
    remove.add_argument("subject", metavar="HANDLE|DID")
    remove.set_defaults(func=_remove)

    listing = sub.add_parser("list", help="show the trust policy")
    listing.set_defaults(func=_list)

    strict = sub.add_parser("strict", help="refuse untrusted lenses (on) or sandbox them (off)")
    strict.add_argument("state", choices=["on", "off"])
    strict.set_defaults(func=_strict)


def _add(args: argparse.Namespace) -> int:
    configured = settings()
    with IdentityResolver(args.plc or configured.plc, pds_url=args.pds or configured.pds) as resolver:
        who = resolver.resolve(args.subject)
    TrustPolicy.load().with_author(who.did, who.handle).save()
    print(f"trusted {who.handle or who.did} ({who.did})")
    return 0


def _remove(args: argparse.Namespace) -> int:
    TrustPolicy.load().without(args.subject).save()
    print(f"no longer trusted: {args.subject}")
    return 0


def _list(args: argparse.Namespace) -> int:
    policy = TrustPolicy.load()
    print(f"trust policy in {config_dir() / CONFIG_FILE}")
    print(f"strict: {'on' if policy.strict else 'off'} (untrusted lenses are {_untrusted(policy)})")
    print(f"max hops: {policy.max_hops}")
    if not policy.authors:
        print("trusted authors: none (add one with `atdata trust add HANDLE`)")
    for author in policy.authors:
        print(f"  {author.label()}")
    return 0


def _strict(args: argparse.Namespace) -> int:
    policy = replace(TrustPolicy.load(), strict=args.state == "on")
    policy.save()
    print(f"strict: {args.state} (untrusted lenses are {_untrusted(policy)})")
    return 0


def _untrusted(policy: TrustPolicy) -> str:
    return "refused" if policy.strict else "run in the process sandbox"
