"""`atdata dev up|env|account|down`: the official PDS and PLC directory on loopback.

`dev up` records the network it started (:func:`atdata.config.remember_dev_network`), so every
`atdata` command and any new Python process use its PLC directory and PDS (and the appview that
`atdata appview serve` starts on it) with no flags; `dev env` prints the same as `export` lines for
other tools; `dev down` stops it and forgets it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys

from atdata.config import ENV_VARS, dev_network, forget_dev_network, remember_dev_network
from atdata_registry import devstack
from atdata_registry.commands.auth import add_password_options, read_password
from atdata_registry.devstack.install import install_dir, is_installed


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dev = subparsers.add_parser("dev", help="run a local ATProto network (official PDS + PLC)")
    sub = dev.add_subparsers(dest="dev_command", metavar="ACTION", required=True)

    p = sub.add_parser("up", help="start the stack in the background (installs it on first use)")
    p.add_argument("--json", action="store_true", help='print {"pds": URL, "plc": URL}')
    p.set_defaults(func=_up)

    p = sub.add_parser("env", help="print `export` lines pointing other shells at the running network")
    p.set_defaults(func=_env)

    p = sub.add_parser("account", help="create an account on the local PDS and print its DID")
    p.add_argument("handle", help="a handle ending in .test, e.g. alice.test")
    add_password_options(p, "new account's password")
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
    remember_dev_network(pid=stack.pid, plc=stack.plc, pds=stack.pds)
    if args.json:
        print(json.dumps({"pds": stack.pds, "plc": stack.plc}))
    else:
        print(f"pds: {stack.pds}\nplc: {stack.plc}\nlog: {stack.log_file}")
        print('atdata commands and new Python processes use it now; other tools: eval "$(atdata dev env)"')
    return 0


def _env(args: argparse.Namespace) -> int:
    network = dev_network()
    if not network:
        print("no dev network is running: start one with `atdata dev up`", file=sys.stderr)
        return 1
    for key, var in ENV_VARS.items():
        if network.get(key):
            print(f"export {var}={shlex.quote(str(network[key]))}")
    return 0


def _account(args: argparse.Namespace) -> int:
    password = read_password(args, f"password for the new account {args.handle}: ")
    print(devstack.create_account(args.handle, password, args.email))
    return 0


def _down(args: argparse.Namespace) -> int:
    stopped = devstack.stop()
    forget_dev_network()
    print("stopped" if stopped else "no dev stack was running")
    return 0
