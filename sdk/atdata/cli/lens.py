"""``atdata lens``: work with lens code (``check`` runs the dialect validator on files)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from atdata.errors import AtdataError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "lens", help="check and test lens code", description="Work with lens code."
    )
    lens_sub = parser.add_subparsers(dest="lens_command", metavar="LENS_COMMAND")
    parser.set_defaults(func=lambda args: _usage(parser))

    check = lens_sub.add_parser(
        "check",
        help="check lens code against the lens dialect",
        description="Report every place FILE leaves the lens dialect, as FILE:line:col: reason. "
        "Exits 1 when there is any violation.",
    )
    check.add_argument("files", nargs="+", metavar="FILE", type=Path, help="lens module(s) to check")
    check.set_defaults(func=_check)
    imp = lens_sub.add_parser(
        "import",
        help="turn an atdata 0.7 lens (record or file) into a lens module of this dialect",
        description="SOURCE is the at-uri of a science.alt.dataset.lens record (atdata 0.7's: a git "
        "reference to code) or a local FILE holding the lens module. For a record, the file it names "
        "is fetched from its repository at exactly its commit (shallow, into a temporary directory, "
        "under a size limit and a timeout; only https:// and http:// repositories at public "
        "addresses). Prints the dialect module it becomes, headed by where it came from; lists what "
        "blocks it (exit 1) when it cannot become one. Nothing of the code is run.",
    )
    imp.add_argument("file", metavar="AT_URI_OR_FILE", help="a 0.7 lens record's at-uri, or a file")
    imp.add_argument("-o", "--output", type=Path, help="write the module here instead of printing it")
    imp.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="fetch from HOST even if it is a loopback or private address (repeatable)",
    )
    imp.add_argument(
        "--allow-file-repository",
        action="store_true",
        help="allow a file:// repository (a path on this machine, named by the record)",
    )
    imp.set_defaults(func=_import07)
    _add_laws(lens_sub)
    return parser


def _import07(args: argparse.Namespace) -> int:
    from atdata.lenses.translate07 import import_record, translate

    if str(args.file).startswith("at://"):
        imported = import_record(
            args.file, allow_hosts=args.allow_host, allow_file=args.allow_file_repository
        )
        for line in imported.provenance:
            print(line, file=sys.stderr)
        result, where, module = imported.translation, imported.code.path, imported.module
    else:
        path = Path(args.file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise AtdataError(f"cannot read {path}: {e}") from None
        result, where = translate(text, filename=str(path)), str(path)
        module = result.source
    if result.blockers or module is None:
        for b in result.blockers:
            print(f"{where}:{b}", file=sys.stderr)
        return 1
    if args.output is not None:
        args.output.write_text(module, encoding="utf-8")
    else:
        sys.stdout.write(module)
    return 0


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _check(args: argparse.Namespace) -> int:
    from atdata.sandbox import validate_source

    failed = False
    for path in args.files:
        try:
            raw = path.read_bytes()
        except OSError as e:
            raise AtdataError(f"cannot read {path}: {e.strerror}") from None
        try:
            source = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            print(f"{path}:1:0: lens code must be UTF-8 (byte {e.start} is not)")
            failed = True
            continue
        violations = validate_source(source, filename=str(path))
        for v in violations:
            print(f"{path}:{v.line}:{v.column}: {v.reason}")
        failed = failed or bool(violations)
    return 1 if failed else 0


def _add_laws(group: Any) -> None:
    p = group.add_parser(
        "laws",
        help="check GetPut and PutGet of a lens's code on generated samples, in the sandbox",
        description="Read FILE as lens code (a module in the lens dialect defining get(source) and "
        "put(view, source); it is never imported or run as ordinary Python), and check GetPut and "
        "PutGet on samples generated from the source schema. Getter and putter run in sandboxed "
        "worker processes under the limits below, like any untrusted lens; a lens that breaks a "
        "limit fails the check with the reason. --source and --target are schema record JSON files, "
        "at-uris or schema names (as for atdata codegen). Prints counterexamples; exits 1 if a law "
        "fails or cannot be checked.",
    )
    p.add_argument("file", metavar="FILE", type=Path, help="the lens code")
    p.add_argument("--source", required=True, help="the source schema (JSON file, at-uri or name)")
    p.add_argument("--target", required=True, help="the target schema (JSON file, at-uri or name)")
    p.add_argument("--examples", type=int, default=100, help="samples per law (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed for sample generation (default 0)")
    p.add_argument(
        "--views",
        choices=("image", "target"),
        default="image",
        help="PutGet views: views of generated sources (image, the default) or generated targets",
    )
    p.add_argument("--cpu-seconds", type=float, default=10, help="CPU limit per call (default 10)")
    p.add_argument("--wall-seconds", type=float, default=10, help="wall-clock limit per call (default 10)")
    p.add_argument("--memory-mb", type=int, default=1024, help="memory limit of a worker (default 1024)")
    p.set_defaults(func=_laws)


def _laws(args: argparse.Namespace) -> int:
    from atdata.cli.codegen import read_record
    from atdata.lenses.laws import check_laws, lens_from_file  # MissingExtraError without hypothesis
    from atdata.sandbox import Limits
    from atdata.schema import from_schema

    source = from_schema(read_record(args.source))
    target = from_schema(read_record(args.target))
    limits = Limits(
        cpu_seconds=args.cpu_seconds,
        wall_seconds_per_batch=args.wall_seconds,
        memory_bytes=args.memory_mb << 20,
    )
    lens = lens_from_file(str(args.file), source=source, target=target, limits=limits)
    try:
        report = check_laws(lens, max_examples=args.examples, seed=args.seed, views=args.views)
    finally:
        lens.close()
    print(report)
    return 0 if report.ok else 1
