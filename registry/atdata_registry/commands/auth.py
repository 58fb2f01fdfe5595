"""`atdata login`, `atdata whoami`, `atdata logout`: the session on the author's PDS."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from atdata.errors import AuthError
from atdata_registry.session import current_session, login, logout

PASSWORD_ENV = "ATDATA_APP_PASSWORD"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("login", help="sign in with a handle and an app password")
    p.add_argument("handle", help="your handle, e.g. alice.bsky.social")
    p.add_argument("--password", help=f"app password (default: ${PASSWORD_ENV}, else a prompt)")
    p.add_argument(
        "--pds", metavar="URL", help="sign in on this PDS instead of the one the handle resolves to"
    )
    p.add_argument(
        "--plc",
        metavar="URL",
        help="PLC directory used to resolve did:plc (default: ATDATA_PLC, the config file, the dev "
        "network, else plc.directory)",
    )
    p.set_defaults(func=_login)

    p = subparsers.add_parser("whoami", help="show who is signed in")
    p.set_defaults(func=_whoami)

    p = subparsers.add_parser("logout", help="end the session and delete the session file")
    p.set_defaults(func=_logout)


def _password(args: argparse.Namespace) -> str:
    if args.password:
        return str(args.password)
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if sys.stdin.isatty():
        return getpass.getpass(f"app password for {args.handle}: ")
    raise AuthError(f"no password: pass --password, set ${PASSWORD_ENV}, or run in a terminal to be asked")


def _login(args: argparse.Namespace) -> int:
    session = login(args.handle, _password(args), pds=args.pds, plc=args.plc)
    print(f"signed in as {session.handle} ({session.did}) on {session.pds}")
    session.close()
    return 0


def _whoami(args: argparse.Namespace) -> int:
    session = current_session()
    try:
        # Ask the PDS, so a revoked or unrefreshable session shows up here rather than mid-publish.
        info = session.query("com.atproto.server.getSession")
    finally:
        session.close()
    print(f"{info.get('handle', session.handle)} ({session.did}) on {session.pds}")
    return 0


def _logout(args: argparse.Namespace) -> int:
    who = logout()
    print(f"signed out {who.handle}" if who else "not signed in")
    return 0
