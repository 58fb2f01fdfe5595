"""``atdata appview serve`` and ``atdata appview backfill``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
from pathlib import Path

import platformdirs

from atdata.config import dev_network, forget_dev_network, remember_dev_network, settings

log = logging.getLogger(__name__)


def default_db() -> str:
    return f"sqlite:///{Path(platformdirs.user_data_dir('atdata')) / 'appview.db'}"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("appview", help="run the appview: index the network, answer queries")
    sub = parser.add_subparsers(dest="appview_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--db", default=default_db(), help="sqlite:///path.db (default) or postgresql://...")
        p.add_argument(
            "--plc",
            default=None,
            help="PLC directory for did:plc (default: ATDATA_PLC, the config file, the network "
            "`atdata dev up` started, else https://plc.directory)",
        )

    serve = sub.add_parser("serve", help="follow firehoses and serve XRPC queries")
    common(serve)
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument(
        "--relay", action="append", default=[], metavar="URL", help="a relay's firehose (wss://...)"
    )
    serve.add_argument(
        "--pds",
        action="append",
        default=[],
        metavar="URL",
        help="follow a PDS directly (default, with no --relay: the PDS `atdata dev up` started); "
        "believed only about the accounts whose DID documents name it",
    )
    serve.add_argument(
        "--handle-resolver",
        default=None,
        metavar="URL",
        help="a service answering com.atproto.identity.resolveHandle, asked before DNS and HTTPS when "
        "checking that a handle points back at its DID (e.g. a local PDS for .test handles)",
    )
    serve.add_argument(
        "--resync-workers",
        type=int,
        default=4,
        metavar="N",
        help="repos fetched whole at once (first seen, #sync, retries) (default: %(default)s)",
    )
    serve.add_argument(
        "--graph-refresh",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="without --relay/--pds, reload the lens graph this often (default: %(default)s)",
    )
    serve.set_defaults(func=_serve)

    backfill = sub.add_parser("backfill", help="index a repository's current records now")
    common(backfill)
    backfill.add_argument("did", help="the repository's DID")
    backfill.add_argument(
        "--pds", default=None, metavar="URL", help="fetch from this host instead of the DID's PDS"
    )
    backfill.set_defaults(func=_backfill)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from atdata_appview.service import Appview
    from atdata_appview.store import open_store
    from atdata_appview.xrpc.server import create_app
    from atdata_appview.xrpc.transport import H11_MAX_INCOMPLETE, GuardedH11Protocol

    # What the operator needs to see (where it listens, what it follows, each committed batch) is
    # logged at INFO whatever -v says; -v adds the rest.
    logging.getLogger("atdata_appview").setLevel(min(logging.INFO, logging.getLogger().level))
    plc = args.plc or settings().plc
    dev = dev_network()
    pdses = list(args.pds)
    if not pdses and not args.relay and dev.get("pds"):
        pdses = [dev["pds"]]
        log.info("following the PDS of the local network `atdata dev up` started")
    store = open_store(args.db)
    # .test handles of a local network resolve only at its PDS: the pds setting (ATDATA_PDS, the
    # config file or the dev network) names it, as for every other command.
    handle_resolver = args.handle_resolver or settings().pds
    appview = Appview(store, plc_url=plc, handle_resolver=handle_resolver, resync_workers=args.resync_workers)
    app = create_app(appview, relays=args.relay, pdses=pdses, graph_refresh=args.graph_refresh)
    url = f"http://{args.host}:{args.port}"
    log.info("appview listening on %s (database %s)", url, _redacted(args.db))
    log.info("PLC directory: %s", plc)
    for source in (*args.relay, *pdses):
        log.info("following the firehose of %s", source)
    if not args.relay and not pdses:
        log.info(
            "following nothing: serving the database, reloading the lens graph every %.0f s",
            args.graph_refresh,
        )
    on_dev = bool(dev) and dev.get("plc") == plc
    if on_dev:
        # Consumers on this machine find the appview of the dev network without flags.
        remember_dev_network(pid=int(dev["pid"]), appview=url, appview_pid=os.getpid())
        # uvicorn re-raises SIGTERM once it has shut down; as an exception, the cleanup below runs.
        signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        uvicorn.run(
            app,
            host=args.host,
            port=args.port,
            log_level="warning",
            lifespan="on",
            http=GuardedH11Protocol,
            h11_max_incomplete_event_size=H11_MAX_INCOMPLETE,
            timeout_keep_alive=5,
        )
    finally:
        if on_dev and dev_network().get("appview") == url:
            forget_dev_network("appview")
    return 0


def _exit_on_signal(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _redacted(db: str) -> str:
    """The database URL without a password (postgresql://user:secret@host/db)."""
    head, sep, tail = db.partition("://")
    if sep and "@" in tail:
        creds, _, host = tail.rpartition("@")
        return f"{head}://{creds.split(':', 1)[0]}:***@{host}"
    return db


def _backfill(args: argparse.Namespace) -> int:
    from atdata_appview.service import Appview
    from atdata_appview.store import open_store

    store = open_store(args.db)
    appview = Appview(store, plc_url=args.plc or settings().plc, repo_host=args.pds)
    try:
        snap = appview.applier.backfill(args.did)
    finally:
        appview.close()
        store.close()
    print(f"{args.did}: {len(snap.ops)} record(s) at rev {snap.rev}, {len(snap.rejected)} rejected")
    return 0
