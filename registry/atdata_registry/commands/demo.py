"""``atdata demo``: the whole network on one machine (see :mod:`atdata_registry.demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole network locally: PDS, appview, publishing, resolving and coercing shards",
    )
    parser.add_argument(
        "--out", type=Path, default=Path("demo-out"), help="where shards, logs and the picture go"
    )
    parser.add_argument("--frames", type=int, default=240, help="generic frames to write (default 240)")
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    from atdata_registry.demo import main

    return main(args.out, frames=args.frames)
