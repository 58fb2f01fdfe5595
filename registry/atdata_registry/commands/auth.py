"""`atdata login`, `atdata whoami`, `atdata logout`: the session on the author's PDS.

Passwords never go on the command line, where every user of the machine sees them
(``/proc/PID/cmdline``, ``ps``) and shell history keeps them: :func:`read_password` takes them from
a prompt, ``$ATDATA_APP_PASSWORD`` or ``--password-file FILE`` (``-`` for stdin). ``--password``
still works for old scripts, with a warning.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from atdata.errors import AuthError
from atdata_registry.session import current_session, login, logout

PASSWORD_ENV = "ATDATA_APP_PASSWORD"


def register_login(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("login", help="sign in with a handle and an app password")
    p.add_argument("handle", help="your handle, e.g. alice.bsky.social")
    add_password_options(p, "app password")
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


def register_whoami(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("whoami", help="show who is signed in")
    p.set_defaults(func=_whoami)


def register_logout(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("logout", help="end the session and delete the session file")
    p.set_defaults(func=_logout)


def add_password_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--password-file",
        metavar="FILE",
        help=f"read the {what} from the first line of FILE ('-': standard input); default: "
        f"${PASSWORD_ENV}, else a prompt",
    )
    p.add_argument("--password", help=argparse.SUPPRESS)  # visible in /proc: kept for old scripts only


def read_password(args: argparse.Namespace, prompt: str) -> str:
    """The password from --password-file, $ATDATA_APP_PASSWORD, a prompt, or (warned) --password."""
    if args.password_file:
        return _from_file(args.password_file)
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if args.password:
        print(
            "atdata: warning: --password is visible to every user of this machine (/proc/PID/cmdline, ps) "
            f"and kept in shell history; use the prompt, ${PASSWORD_ENV} or --password-file",
            file=sys.stderr,
        )
        return str(args.password)
    if sys.stdin.isatty():
        return getpass.getpass(prompt)
    raise AuthError(
        f"no password: run in a terminal to be asked, set ${PASSWORD_ENV}, or pass --password-file FILE "
        "(- reads standard input)"
    )


def _from_file(name: str) -> str:
    try:
        if name == "-":
            line = sys.stdin.readline()
        else:
            with open(name, encoding="utf-8") as f:
                line = f.readline()
    except (OSError, UnicodeDecodeError) as e:
        raise AuthError(f"cannot read the password file {name}: {type(e).__name__}") from None
    password = line.rstrip("\r\n")
    if not password:
        raise AuthError(f"the password file {name} is empty (the password is its first line)")
    return password


def _login(args: argparse.Namespace) -> int:
    session = login(
        args.handle, read_password(args, f"app password for {args.handle}: "), pds=args.pds, plc=args.plc
    )
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
