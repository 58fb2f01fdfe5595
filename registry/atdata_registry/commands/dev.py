"""`atdata dev up|account|down`: the official PDS and PLC directory on loopback, for tests and demos."""

from __future__ import annotations

import argparse
import json
import sys

from atdata_registry import devstack
from atdata_registry.devstack.install import install_dir, is_installed


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = subparsers.add_parser("dev", help="run a local ATProto network (official PDS + PLC)")
    sub = dev.add_subparsers(dest="dev_command", metavar="ACTION", required=True)

    p = sub.add_parser("up", help="start the stack in the background (installs it on first use)")
    p.add_argument("--json", action="store_true", help='print {"pds": URL, "plc": URL}')
    p.set_defaults(func=_up)

    p = sub.add_parser("account", help="create an account on the local PDS and print its DID")
    p.add_argument("handle", help="a handle ending in .test, e.g. alice.test")
    p.add_argument("--password", required=True)
    p.add_argument("--email", help="default: <name>@example.test")
    p.set_defaults(func=_account)

    p = sub.add_parser("down", help="stop the stack and delete its data")
    p.set_defaults(func=_down)


def _up(args: argparse.Namespace) -> int:
    if not is_installed():
        print(
            f"installing the official PDS and PLC into {install_dir()} (first use, a few minutes)...",
            file=sys.stderr,
        )
    stack = devstack.start()
    if args.json:
        print(json.dumps({"pds": stack.pds, "plc": stack.plc}))
    else:
        print(f"pds: {stack.pds}\nplc: {stack.plc}\nlog: {stack.log_file}")
    return 0


def _account(args: argparse.Namespace) -> int:
    print(devstack.create_account(args.handle, args.password, args.email))
    return 0


def _down(args: argparse.Namespace) -> int:
    print("stopped" if devstack.stop() else "no dev stack was running")
    return 0
