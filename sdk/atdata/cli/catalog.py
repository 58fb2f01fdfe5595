"""`atdata catalog list|publish`: the starter catalog's types and lens graph, and publishing it.

``publish`` hands every type and lens to the registry's publisher (``atdata_registry``), imported
only when the command runs: the catalog is SDK data, publishing is the registry's job, and the
SDK itself does not depend on the registry.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from atdata.errors import AtdataError, LensPathError, PublishError


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    catalog = subparsers.add_parser("catalog", help="the starter catalog of neuroscience types and lenses")
    sub = catalog.add_subparsers(dest="catalog_command", metavar="ACTION", required=True)

    p = sub.add_parser("list", help="print the catalog's types and the lens graph between them")
    p.add_argument("--svg", metavar="FILE", type=Path, help="also draw the lens graph as an SVG picture")
    p.add_argument(
        "--path",
        nargs=2,
        metavar=("SOURCE", "TARGET"),
        help="print (and highlight in the picture) the fewest-hops path between two types",
    )
    p.add_argument("--without-shortcuts", action="store_true", help="leave out the one-hop shortcut lenses")
    p.set_defaults(func=_list)

    p = sub.add_parser("publish", help="publish every catalog type and lens from the signed-in handle")
    p.add_argument("--dry-run", action="store_true", help="build and validate the records, send nothing")
    p.add_argument(
        "--without-shortcuts",
        action="store_true",
        help="leave out the one-hop shortcuts (the demo's trusted author does, to show a 3-hop path)",
    )
    p.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="publish only these types or lenses (by name; repeatable); a lens brings its two types",
    )
    p.set_defaults(func=_publish)


def _list(args: argparse.Namespace) -> int:
    from atdata.catalog import SHORTCUT_LENSES, overview, select

    types, lenses = select(shortcuts=not args.without_shortcuts)
    graph = overview.build(types, lenses)
    shortcuts = [lens.name for lens in SHORTCUT_LENSES]
    sys.stdout.write(overview.describe(graph, shortcuts=shortcuts))
    highlight: list[str] = []
    if args.path:
        source, target = args.path
        for name in (source, target):
            if name not in graph.nodes:
                known = ", ".join(sorted(graph.nodes))
                raise LensPathError(f"{name!r} is not a catalog type; the types are: {known}")
        path = graph.path(source, target)
        if path is None:
            reachable = sorted(n for n in graph.hops_from(source) if n != source)
            raise LensPathError(f"no lens path from {source} to {target} in the catalog", reachable=reachable)
        highlight = [e.lens for e in path]
        print(f"\nfewest hops from {source} to {target} ({len(path)}):\n  {overview.describe_path(path)}")
    if args.svg:
        picture = overview.picture(graph, highlight=highlight, deemphasize=shortcuts)
        try:
            args.svg.write_text(picture, encoding="utf-8")
        except OSError as e:
            raise AtdataError(f"cannot write the picture to {args.svg}: {e.strerror}") from None
        print(f"\nwrote {args.svg}")
    return 0


def _publish(args: argparse.Namespace) -> int:
    try:
        from atdata_registry.publish import Published, Publisher
        from atdata_registry.session import current_session
    except ModuleNotFoundError as e:
        raise PublishError(f"publishing needs atdata's registry part, which is not installed ({e})") from None
    from atdata.catalog import select

    types, lenses = select(shortcuts=not args.without_shortcuts, only=args.only)

    counts: dict[str, int] = {}
    seen: set[str] = set()

    def report(p: Published) -> None:
        # Publishing a lens settles its two schemas again; report each record once.
        if p.uri in seen:
            return
        seen.add(p.uri)
        counts[p.status] = counts.get(p.status, 0) + 1
        label = {"created": "published", "existing": "unchanged", "replaced": "replaced"}
        print(f"{label.get(p.status, 'would publish'):<13} {p.uri} {p.cid}")

    session = None
    try:
        session = current_session()
    except AtdataError:
        if not args.dry_run:
            raise
    try:
        publisher = Publisher(session, dry_run=args.dry_run, progress=False, on_record=report)
        for cls in types:
            publisher.publish_schema(cls)
        for lens in lenses:
            publisher.publish_lens(lens)
    finally:
        if session is not None:
            session.close()
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    print(f"catalog: {len(types)} types and {len(lenses)} lenses handled ({summary or 'nothing to do'})")
    return 0
