"""``atdata mcp``: the MCP server for coding agents, on stdio or (``--http PORT``) streamable HTTP."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "mcp",
        help="run the MCP server for coding agents (stdio; --http PORT for streamable HTTP)",
        description="Serve atdata's tools (search_schemas, get_schema, find_lens_path, list_datasets, "
        "preview_samples, explain_type) to a coding agent over the Model Context Protocol.",
    )
    parser.add_argument(
        "--appview", metavar="URL", help="the appview to query (default: ATDATA_APPVIEW or the config file)"
    )
    parser.add_argument(
        "--http",
        type=int,
        metavar="PORT",
        help="serve streamable HTTP on 127.0.0.1:PORT (path /mcp) instead of stdio",
    )
    parser.add_argument(
        "--allow-local",
        action="append",
        default=[],
        metavar="DIR",
        help="let the tools read local shard files under DIR (repeatable; default: no local files, "
        "since locations come from agents and from strangers' records)",
    )
    parser.add_argument(
        "--allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="let the tools reach HOST (a name or address) even on a loopback, private or link-local "
        "address (repeatable; the configured appview, PLC and PDS are always reachable)",
    )
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from atdata.config import configure
    from atdata.mcp.server import build_server

    if args.appview:
        # The tools and anything they call (atdata.resolve, as_type) then agree on the appview.
        configure(appview=args.appview)
    server = build_server(args.appview, allow_local=args.allow_local, allow_hosts=args.allow_host)
    if args.http is not None:
        server.run("streamable-http", host="127.0.0.1", port=args.http)
    else:
        server.run("stdio")
    return 0
