"""Entry point of the ``atdata`` command: finds its subcommands through entry points and dispatches.

Each subcommand is an entry point in the ``atdata.commands`` group (``pyproject.toml``'s
``[project.entry-points."atdata.commands"]``), named for the command, whose value is a function
``register(subparsers)`` adding that one command. The SDK, the registry and the appview declare theirs
there, and so may any other installed distribution; nothing is found by walking packages, so a module
becomes a command only where a distribution says so. A command whose module cannot be imported is
left out with a warning instead of breaking every other command.

Flags named ``--appview``, ``--plc`` and ``--pds`` on any command are handed to
:func:`atdata.config.configure` before the command runs, so every command reads its settings the one
way :func:`atdata.config.settings` gives (flag, environment, config file, dev network, default).
Help text is plain text: docstrings with reST markup are cleaned by :func:`plain_text`.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import re
import sys
from collections.abc import Sequence

from atdata.config import SETTING_KEYS, configure
from atdata.errors import AtdataError

COMMAND_GROUP = "atdata.commands"
"""The entry-point group whose entries are the ``atdata`` subcommands (name -> ``register``)."""


def command_entry_points() -> list[importlib.metadata.EntryPoint]:
    """The installed ``atdata.commands`` entry points, one per name (the first on ``sys.path`` wins,
    as for imports), sorted by name."""
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=COMMAND_GROUP):
        found.setdefault(ep.name, ep)
    return [found[name] for name in sorted(found)]


_ROLES = re.compile(r":(?:[a-z]+:)?[a-z]+:`~?([^`<]*?)(?:\s*<[^>]*>)?`")
_LITERAL = re.compile(r"``([^`]+)``")


def plain_text(text: str) -> str:
    """Text with reST markup (``:func:`x```, double back-quotes) turned into plain text for ``--help``."""
    text = _ROLES.sub(lambda m: m.group(1).rsplit(".", 1)[-1] if "." in m.group(1) else m.group(1), text)
    return _LITERAL.sub(r"\1", text).replace("::\n", ":\n")


class _PlainFormatter(argparse.RawDescriptionHelpFormatter):
    """Keeps descriptions' paragraphs and examples as written, without reST markup."""

    def _format_text(self, text: str) -> str:
        return super()._format_text(plain_text(text))

    def _expand_help(self, action: argparse.Action) -> str:
        return plain_text(super()._expand_help(action))


def version() -> str:
    try:
        return importlib.metadata.version("atdata")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed)"


def _plain_everywhere(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = _PlainFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _plain_everywhere(child)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atdata",
        description="atdata: typed samples, their schemas and the lenses between them, on ATProto.",
        formatter_class=_PlainFormatter,
    )
    parser.add_argument("--version", action="version", version=f"atdata {version()}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands = command_entry_points()
    if not commands:
        parser.epilog = (
            f"No commands found: no installed distribution declares {COMMAND_GROUP!r} entry points. "
            "Install atdata (pip install atdata, or pip install -e . in a checkout)."
        )
    for ep in commands:
        try:
            register = ep.load()
        except ImportError as e:
            # One command's missing module (a partial install, a broken plugin) must not take the
            # others down; the message names the entry point so the owner can fix it.
            dist = ep.dist.name if ep.dist is not None else "an unknown distribution"
            print(
                f"atdata: command {ep.name!r} ({ep.value}, from {dist}) is unavailable: {e}", file=sys.stderr
            )
            continue
        register(sub)
    _plain_everywhere(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
    # Only single values: `appview serve --pds` (a list of PDSes to follow) is not a setting.
    configure(**{k: v for k in SETTING_KEYS if isinstance(v := getattr(args, k, None), str)})
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args) or 0)
    except AtdataError as e:
        print(f"atdata {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
