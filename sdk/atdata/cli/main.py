"""Entry point of the ``atdata`` command: discovers subcommand modules and dispatches.

Flags named ``--appview``, ``--plc`` and ``--pds`` on any command are handed to
:func:`atdata.config.configure` before the command runs, so every command reads its settings the one
way :func:`atdata.config.settings` gives (flag, environment, config file, dev network, default).
Help text is plain text: docstrings with reST markup are cleaned by :func:`plain_text`.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import logging
import pkgutil
import re
import sys
from collections.abc import Sequence

from atdata.config import SETTING_KEYS, configure
from atdata.errors import AtdataError

# Packages whose modules each define `register(subparsers)`; registry and appview add theirs.
COMMAND_PACKAGES = ("atdata.cli", "atdata_registry.commands", "atdata_appview.commands")


def _command_modules() -> list[str]:
    names: list[str] = []
    for pkg_name in COMMAND_PACKAGES:
        try:
            pkg = importlib.import_module(pkg_name)
        except ModuleNotFoundError as e:
            if e.name and pkg_name.startswith(e.name):
                continue  # that part of the project is not installed
            raise
        for info in pkgutil.iter_modules(pkg.__path__):
            if info.name != "main" and not info.name.startswith("_"):
                names.append(f"{pkg_name}.{info.name}")
    return sorted(names)


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
    for name in _command_modules():
        module = importlib.import_module(name)
        register = getattr(module, "register", None)
        if register is not None:
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
