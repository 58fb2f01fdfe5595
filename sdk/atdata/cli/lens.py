"""``atdata lens``: work with lens code (``check`` runs the dialect validator on files)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from atdata.errors import AtdataError, LensError


def register(subparsers: Any) -> argparse.ArgumentParser:
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
        help="turn an atdata 0.7 lens file into a lens module of this dialect",
        description="Reads FILE, an atdata 0.7 lens module (the file its science.alt.dataset.lens "
        "record names, at its commit), and prints the dialect module it becomes; lists what blocks "
        "it (exit 1) when it cannot become one. Nothing in FILE is run.",
    )
    imp.add_argument("file", metavar="FILE", type=Path)
    imp.add_argument("-o", "--output", type=Path, help="write the module here instead of printing it")
    imp.set_defaults(func=_import07)
    _add_laws(lens_sub)
    return parser


def _import07(args: argparse.Namespace) -> int:
    from atdata.lenses.translate07 import translate

    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise AtdataError(f"cannot read {args.file}: {e}") from None
    result = translate(text, filename=str(args.file))
    if result.blockers:
        for b in result.blockers:
            print(f"{args.file}:{b}", file=sys.stderr)
        return 1
    assert result.source is not None
    if args.output is not None:
        args.output.write_text(result.source, encoding="utf-8")
    else:
        sys.stdout.write(result.source)
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
        help="check GetPut and PutGet of the lenses in a Python file on generated samples",
        description="Import FILE, take its lenses that have a putter (or the one named by FILE:NAME), "
        "and check GetPut and PutGet on samples generated from each source type (a module-level "
        "dict law_samples = {SourceType: hypothesis_strategy} overrides the generated ones). "
        "Prints counterexamples; exits 1 if a law fails or cannot be checked.",
    )
    p.add_argument("file", metavar="FILE[:NAME]", help="a Python file defining lenses")
    p.add_argument("--examples", type=int, default=100, help="samples per law (default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed for sample generation (default 0)")
    p.add_argument(
        "--views",
        choices=("image", "target"),
        default="image",
        help="PutGet views: views of generated sources (image, the default) or generated targets",
    )
    p.set_defaults(func=_laws)


def _laws(args: argparse.Namespace) -> int:
    try:
        from atdata.lenses.laws import check_laws, lenses_in_file
    except ModuleNotFoundError as e:
        if e.name != "hypothesis":
            raise
        raise LensError("atdata lens laws needs hypothesis: pip install hypothesis") from None
    path, name = args.file, None
    if not os.path.exists(path) and ":" in path:
        path, name = path.rsplit(":", 1)
    ok = True
    for attr, lens, samples in lenses_in_file(path, name):
        report = check_laws(
            lens, max_examples=args.examples, seed=args.seed, views=args.views, samples=samples
        )
        print(report if attr == lens.name else f"{attr} = {report}")
        ok = ok and report.ok
    return 0 if ok else 1
