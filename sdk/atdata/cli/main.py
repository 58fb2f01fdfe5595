"""Entry point of the ``atdata`` command: discovers subcommand modules and dispatches."""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from collections.abc import Sequence

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="atdata",
        description="atdata: typed samples, their schemas and the lenses between them, on ATProto.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv: debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _command_modules():
        module = importlib.import_module(name)
        register = getattr(module, "register", None)
        if register is not None:
            register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(levelname)s %(name)s: %(message)s",
    )
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
