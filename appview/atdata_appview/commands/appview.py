"""``atdata appview serve`` and ``atdata appview backfill``.

``serve`` runs one of three roles: ``all`` (ingest and answer queries in one process, SQLite or
PostgreSQL), ``ingest`` (follow the firehoses and write; no HTTP) and ``api`` (answer queries from the
database; any number of them, each following the store's change log). ``--workers N`` starts N API
processes sharing the port (SO_REUSEPORT), supervised by the process started.
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs

from atdata.config import dev_network, forget_dev_network, remember_dev_network, settings
from atdata.errors import AtdataError

if TYPE_CHECKING:
    from atdata_appview.lens_index import IndexSnapshot
    from atdata_appview.store import Store

log = logging.getLogger(__name__)

DB_ENV = "ATDATA_APPVIEW_DB"  # the database URL, when a password should stay off the command line
ROLES = ("all", "ingest", "api")


class ServeError(AtdataError, ValueError):
    """``atdata appview serve`` was asked for a layout it cannot run; the message says which flags."""


def default_db() -> str:
    return os.environ.get(DB_ENV) or f"sqlite:///{Path(platformdirs.user_data_dir('atdata')) / 'appview.db'}"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("appview", help="run the appview: index the network, answer queries")
    sub = parser.add_subparsers(dest="appview_command", metavar="ACTION", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--db",
            default=default_db(),
            help=f"sqlite:///path.db (default) or postgresql://... (or set {DB_ENV})",
        )
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
    serve.add_argument(
        "--role",
        choices=ROLES,
        default="all",
        help="all: ingest and answer queries in one process (default; the only role on SQLite); "
        "ingest: follow the firehoses and write, no HTTP; api: answer queries from the database "
        "another process ingests into (PostgreSQL)",
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="API processes sharing --port (PostgreSQL; with --role all, next to one ingester) "
        "(default: %(default)s)",
    )
    # Set by a supervisor for its children: the ingester it starts need not ask the API processes to
    # reload (it has just done so itself, before building the index they share).
    serve.add_argument("--reload-logged", action="store_true", help=argparse.SUPPRESS)
    serve.set_defaults(reuse_port=False)  # a worker forked by a supervisor shares its port
    serve.set_defaults(func=_serve)

    backfill = sub.add_parser("backfill", help="index a repository's current records now")
    common(backfill)
    backfill.add_argument("did", help="the repository's DID")
    backfill.add_argument(
        "--pds", default=None, metavar="URL", help="fetch from this host instead of the DID's PDS"
    )
    backfill.set_defaults(func=_backfill)


def _serve(args: argparse.Namespace) -> int:
    # What the operator needs to see (where it listens, what it follows, each committed batch) is
    # logged at INFO whatever -v says; -v adds the rest.
    logging.getLogger("atdata_appview").setLevel(min(logging.INFO, logging.getLogger().level))
    _check_layout(args)
    if args.workers > 1:
        return _supervise(args)
    plc = args.plc or settings().plc
    if args.role == "api":
        return _serve_api(args)
    dev = dev_network()
    pdses = list(args.pds)
    if not pdses and not args.relay and dev.get("pds"):
        pdses = [dev["pds"]]
        log.info("following the PDS of the local network `atdata dev up` started")
    if args.role == "ingest":
        return _ingest(args, plc, pdses)
    return _serve_all(args, plc, pdses, dev)


def _postgres(db: str) -> bool:
    return db.startswith(("postgresql://", "postgres://"))


def _check_layout(args: argparse.Namespace) -> None:
    if args.workers < 1:
        raise ServeError(f"--workers {args.workers}: give at least 1")
    if not _postgres(args.db) and (args.role != "all" or args.workers > 1):
        raise ServeError(
            f"--role {args.role} --workers {args.workers}: separate ingest and API processes share a "
            "PostgreSQL database (--db postgresql://...); on SQLite run one process, --role all"
        )
    if args.role == "ingest" and args.workers > 1:
        raise ServeError("--workers counts API processes; --role ingest is one process")


def _serve_all(args: argparse.Namespace, plc: str, pdses: list[str], dev: dict[str, str]) -> int:
    from atdata_appview.ingest.apply import ChangeListener
    from atdata_appview.lens_index import ChangePublisher
    from atdata_appview.service import Appview
    from atdata_appview.store import open_store
    from atdata_appview.xrpc.server import create_app

    store = open_store(args.db)
    # .test handles of a local network resolve only at its PDS: the pds setting (ATDATA_PDS, the
    # config file or the dev network) names it, as for every other command.
    handle_resolver = args.handle_resolver or settings().pds
    listeners: list[ChangeListener] = []
    if _postgres(args.db):  # API processes beside this one follow what it ingests
        publisher = ChangePublisher(store)
        publisher({"*"})  # a previous ingester may have died between a commit and its log entry
        listeners.append(publisher)
    appview = Appview(
        store,
        plc_url=plc,
        handle_resolver=handle_resolver,
        resync_workers=args.resync_workers,
        listeners=listeners,
    )
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
        _run_http(app, args)
    finally:
        if on_dev and dev_network().get("appview") == url:
            forget_dev_network("appview")
    return 0


def _serve_api(args: argparse.Namespace, snapshot: IndexSnapshot | None = None) -> int:
    """One API process; given a ``snapshot`` (a worker forked by :func:`_supervise`, which migrated
    the store and built the index), it resumes from that instead of building its own."""
    from atdata_appview.store import open_store
    from atdata_appview.store.postgres import API_POOL_SIZE, PostgresStore
    from atdata_appview.xrpc.server import create_api_app

    if snapshot is None:
        open_store(args.db).close()  # migrated (and the URL checked) before serving
    store = PostgresStore(args.db, pool_size=API_POOL_SIZE)
    app = create_api_app(store, snapshot=snapshot)
    log.info(
        "appview API process %d listening on http://%s:%d (database %s), following its change log",
        os.getpid(),
        args.host,
        args.port,
        _redacted(args.db),
    )
    _run_http(app, args)
    return 0


def _run_http(app: object, args: argparse.Namespace) -> None:
    import uvicorn

    from atdata_appview.xrpc.transport import H11_MAX_INCOMPLETE, GuardedH11Protocol

    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=args.host,
        port=args.port,
        log_level="warning",
        lifespan="on",
        http=GuardedH11Protocol,
        h11_max_incomplete_event_size=H11_MAX_INCOMPLETE,
        timeout_keep_alive=5,
    )
    server = uvicorn.Server(config)
    if not args.reuse_port:
        server.run()
        return
    # One of several API processes on one port: the kernel spreads connections over them.
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on sockets that say they are TCP (without
    # it, a response written in two parts waited for the client's delayed ACK, ~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((args.host, args.port))
    server.run(sockets=[sock])


def _ingest(args: argparse.Namespace, plc: str, pdses: list[str]) -> int:
    from atdata_appview.lens_index import ChangePublisher
    from atdata_appview.service import Appview
    from atdata_appview.store import open_store

    if not args.relay and not pdses:
        raise ServeError("--role ingest needs a firehose to follow: --relay URL or --pds URL")
    store = open_store(args.db)
    publisher = ChangePublisher(store)
    if not args.reload_logged:
        publisher({"*"})  # a previous ingester may have died between a commit and its log entry
    appview = Appview(
        store,
        plc_url=plc,
        handle_resolver=args.handle_resolver or settings().pds,
        resync_workers=args.resync_workers,
        listeners=[publisher],
        serve_queries=False,
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    log.info("appview ingester %d (database %s), PLC directory %s", os.getpid(), _redacted(args.db), plc)
    for source in (*args.relay, *pdses):
        log.info("following the firehose of %s", source)
    try:
        appview.follow(args.relay, pdses)
        stop.wait()
    finally:
        appview.close()
        store.close()
    return 0


def _supervise(args: argparse.Namespace) -> int:
    """``--workers N``: N API processes on one port (SO_REUSEPORT) and, for ``--role all``, one
    ingester beside them; a process that dies is started again.

    The lens index is built once, here, then each API process is forked from this one (no thread
    running, the index frozen out of the garbage collector's reach): the index's pages are shared
    copy-on-write instead of built N times over on the same cores. A worker replays the change log
    after the index's position before it serves, so one started again hours later serves no stale
    lens either."""
    import multiprocessing

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    env = {**os.environ, DB_ENV: args.db}  # the URL (maybe with a password) stays off the child's argv
    ingest_argv = [sys.executable, "-m", "atdata.cli.main", *_child_argv(args), "--role", "ingest"]
    ingester: subprocess.Popen[bytes] | None = None
    workers: list[multiprocessing.process.BaseProcess] = []
    try:
        store = _migrated(args.db)
        try:
            if args.role == "all":
                # The ingester's own first act, done here before the index is built: a previous
                # ingester may have died between a commit and its log entry, so every follower
                # reloads. Logged by the ingester, after the build, it would make each API process
                # forked from the index rebuild its own at once.
                store.log_change({"*"})
                ingester = subprocess.Popen([*ingest_argv, "--reload-logged"], env=env)
            snapshot = _shared_index(store, args.workers)
        finally:
            store.close()  # its pool's threads end: a fork must not copy a thread's half-held locks
        running = [t.name for t in threading.enumerate() if t is not threading.main_thread()]
        if running:
            log.warning("forking the API processes beside running threads: %s", ", ".join(running))
        fork = multiprocessing.get_context("fork")
        worker_args = argparse.Namespace(**{**vars(args), "workers": 1, "role": "api", "reuse_port": True})

        def start_worker() -> multiprocessing.process.BaseProcess:
            gc.freeze()  # a child's collections would otherwise write to (and so copy) every shared object
            worker = fork.Process(target=_api_worker, args=(worker_args, snapshot), name="appview API")
            worker.start()
            return worker

        workers = [] if stop.is_set() else [start_worker() for _ in range(args.workers)]
        log.info(
            "appview: %d API process(es) on http://%s:%d%s (pids %s)",
            args.workers,
            args.host,
            args.port,
            " and one ingester" if ingester is not None else "",
            ", ".join(str(p.pid) for p in ([ingester] if ingester else []) + workers),
        )
        while not stop.wait(0.5):
            if ingester is not None and ingester.poll() is not None:
                log.warning(
                    "appview ingester %d exited with %s; starting it again", ingester.pid, ingester.returncode
                )
                time.sleep(1.0)
                ingester = subprocess.Popen(ingest_argv, env=env)
            for i, worker in enumerate(workers):
                if not worker.is_alive():
                    log.warning(
                        "appview API process %d exited with %s; starting it again",
                        worker.pid,
                        worker.exitcode,
                    )
                    time.sleep(1.0)
                    workers[i] = start_worker()
    finally:
        for child in ([ingester] if ingester else []) + workers:
            child.terminate()
        if ingester is not None:
            try:
                ingester.wait(timeout=15)
            except subprocess.TimeoutExpired:
                ingester.kill()
                ingester.wait()
        for worker in workers:
            worker.join(timeout=15)
            if worker.is_alive():
                worker.kill()
                worker.join()
    return 0


def _migrated(db: str) -> Store:
    """The store, migrated; and what every API process runs imported before they are forked: once,
    shared, and no delay after the fork."""
    import uvicorn  # noqa: F401

    import atdata_appview.xrpc.server  # noqa: F401
    from atdata_appview.store import open_store

    return open_store(db)


def _shared_index(store: Store, workers: int) -> IndexSnapshot:
    """The lens index every API process a supervisor forks starts from."""
    from atdata_appview.lens_index import GraphService

    started = time.monotonic()
    graph = GraphService(store)
    graph.load()
    log.info(
        "lens index: %d lenses loaded in %.1f s, shared by %d API process(es)",
        len(graph),
        time.monotonic() - started,
        workers,
    )
    return graph.snapshot()


def _api_worker(args: argparse.Namespace, snapshot: IndexSnapshot) -> None:
    """The body of an API process forked by :func:`_supervise`."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.SIG_DFL)  # not the supervisor's; uvicorn installs its own
    sys.exit(_serve_api(args, snapshot))


def _child_argv(args: argparse.Namespace) -> list[str]:
    """The ``serve`` flags of the ingester a supervisor starts (not --db, --role, --workers)."""
    argv = ["appview", "serve", "--host", args.host, "--port", str(args.port)]
    argv += ["--resync-workers", str(args.resync_workers), "--graph-refresh", str(args.graph_refresh)]
    for flag, values in (("--relay", args.relay), ("--pds", args.pds)):
        for value in values:
            argv += [flag, value]
    for flag, value in (("--plc", args.plc), ("--handle-resolver", args.handle_resolver)):
        if value is not None:
            argv += [flag, value]
    return argv


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
