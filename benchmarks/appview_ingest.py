"""Appview ingest rate: a synthetic firehose replayed over a loopback websocket, every check on.

Replays are built up front from real signed repositories (secp256k1 keys, MST, CAR, DAG-CBOR):
by default 20,000 events from 200 authors, in two mixes (see ``MIXES``): "network", like the public
firehose where our records are a sliver (97% commits to ``app.bsky.feed.post``, 2.5% to our schema
records, 0.5% ``#identity``/``#account``), and "ours-heavy" (70% / 26% / 4%).
Every commit of ours has its signature checked against a DID document fetched over HTTP (cached
per DID; each ``#identity`` makes it stale, so the next commit of that author refetches it), its
record proven in the signed tree, hashed against its CID, validated against the lexicon and written
with the cursor in one transaction per batch; each ``#identity`` also has the author's handle checked
both ways (``resolveHandle``). Authors are known to the store beforehand, so the figure is the steady
state (no first-seen backfills).

The network (the PLC directory, ``resolveHandle`` and the relay) runs in a process of its own, as it
runs on other machines in production. Each appview run gets a fresh database: SQLite in a temp file,
and PostgreSQL in a throwaway local cluster with the server's default settings (or a URL given).

The table gives each run's events/s and the appview process's events per CPU-second (every thread),
the CPU its child processes spent meanwhile (the identity process and the relay's reader) and the
identity process's alone, the network process's (which shares this machine's cores here), and for a
PostgreSQL server on this machine the CPU its processes spent (all from ``/proc``).

Baseline in the same run: the relay alone, a client that receives the same frames from the same
relay process and decodes each one (``Frame.from_bytes``), doing nothing else. Goals (ours-heavy):
>= 5,000 events/s on SQLite and >= 10,000 on PostgreSQL.

    python benchmarks/appview_ingest.py [--events 20000] [--authors 200] [--mix ours-heavy]
                                        [--db sqlite] [--db postgresql|postgresql://...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from atproto_subscription.frames import Frame
from websockets.sync.client import connect
from websockets.sync.server import ServerConnection, serve

from atdata.lexicon.nsid import SCHEMA, defs
from atdata.network import identity_process
from atdata_appview.ingest.firehose import source_key
from atdata_appview.service import Appview
from atdata_appview.store import Repo, open_store

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test support package
from support.postgres_cluster import postgres_cluster
from support.repo_writer import (
    RepoWriter,
    SigningKey,
    account_frame,
    commit_frame,
    did_document,
    identity_frame,
    next_tid,
)


def schema_record(name: str, doc: str) -> dict[str, Any]:
    return {
        "$type": SCHEMA,
        "name": name,
        "version": "1.0.0",
        "description": doc,
        "fields": [
            {"name": f"f{i}", "type": {"$type": defs("scalarType"), "kind": "int"}, "doc": "a field"}
            for i in range(6)
        ],
        "createdAt": "2026-11-21T08:00:00.000Z",
    }


# Shares of each event kind: (other collection, ours, #identity/#account). Ours splits into
# 70% creates, 20% updates, 10% deletes.
MIXES = {
    "network": (0.970, 0.025, 0.005),  # like the public firehose: our records are a sliver
    "ours-heavy": (0.70, 0.26, 0.04),  # a stress mix: one event in four is ours
}


def build_replay(
    n_events: int, n_authors: int, mix: tuple[float, float, float], seed: int = 0
) -> tuple[list[bytes], dict[str, Any], Counter[str]]:
    rng = random.Random(seed)
    writers = [RepoWriter(f"did:plc:bench{i:019d}", SigningKey()) for i in range(n_authors)]
    # Documents name a PDS (required of an atproto account); the replay never needs to contact it.
    docs = {
        w.did: did_document(w.did, w.key, f"author{i}.test", "https://pds.invalid")
        for i, w in enumerate(writers)
    }
    ours: dict[str, list[str]] = {w.did: [] for w in writers}
    frames: list[bytes] = []
    counts: Counter[str] = Counter()
    p_other, p_ours, _ = mix
    for seq in range(1, n_events + 1):
        i = rng.randrange(n_authors)
        w = writers[i]
        roll = rng.random()
        if roll < p_other:
            kind = "commit, other collection"
            writes: list[tuple[str, str, Any]] = [
                ("create", f"app.bsky.feed.post/{next_tid()}", {"$type": "app.bsky.feed.post", "text": "hi"})
            ]
        elif roll < p_other + p_ours:
            sub = rng.random()
            if sub < 0.7 or not ours[w.did]:
                kind, name = "commit, our record created", f"T{seq}"
                ours[w.did].append(name)
                writes = [("create", f"{SCHEMA}/{name}:1.0.0", schema_record(name, f"made at {seq}"))]
            elif sub < 0.9:
                kind, name = "commit, our record updated", rng.choice(ours[w.did])
                writes = [("update", f"{SCHEMA}/{name}:1.0.0", schema_record(name, f"updated {seq}"))]
            else:
                kind, name = "commit, our record deleted", ours[w.did].pop()
                writes = [("delete", f"{SCHEMA}/{name}:1.0.0", None)]
        else:
            if rng.random() < 0.5:
                kind = "#identity"
                frames.append(identity_frame(seq, w.did, f"author{i}.test"))
            else:
                kind = "#account"
                frames.append(account_frame(seq, w.did, True))
            counts[kind] += 1
            continue
        frames.append(commit_frame(seq, w.did, w.commit(writes)))
        counts[kind] += 1
    return frames, docs, counts


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # concurrent DID fetches must not overflow the listen backlog
    daemon_threads = True


def directory_server(docs: dict[str, Any]) -> ThreadingHTTPServer:
    """A PLC directory serving the DID documents ``docs`` (and ``resolveHandle`` for their handles,
    as a PDS would), bound to a free loopback port and not yet serving."""
    handles = {doc["alsoKnownAs"][0].removeprefix("at://"): did for did, doc in docs.items()}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as the PLC directory and PDSes answer
        disable_nagle_algorithm = True  # headers and body leave in two writes

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == "/xrpc/com.atproto.identity.resolveHandle":
                did = handles.get(query.removeprefix("handle="))
                answer: Any = {"did": did} if did else {"error": "HandleNotFound"}
            else:
                did, answer = path.lstrip("/"), docs.get(path.lstrip("/"))
            body = json.dumps(answer or {}).encode()
            self.send_response(200 if did else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return _Server(("127.0.0.1", 0), Handler)


def _serve_network(frames: list[bytes], docs: dict[str, Any], ports: Any, stop: Any) -> None:
    """The network, in a process of its own as it is on another machine in production: a PLC
    directory (:func:`directory_server`) and a relay sending every frame to each client that connects."""
    directory = directory_server(docs)
    threading.Thread(target=directory.serve_forever, daemon=True).start()

    def relay(ws: ServerConnection) -> None:
        for frame in frames:
            ws.send(frame)
        try:
            ws.recv()
        except Exception:
            return

    server = serve(relay, "127.0.0.1", 0, max_size=None, compression=None)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ports.put((directory.server_address[1], server.socket.getsockname()[1]))
    stop.wait()


class Network:
    """:func:`_serve_network` in a child process; ``directory`` and ``relay`` are its URLs."""

    def __init__(self, frames: list[bytes], docs: dict[str, Any]) -> None:
        ctx = multiprocessing.get_context("spawn")
        ports, self._stop = ctx.Queue(), ctx.Event()
        self._proc = ctx.Process(target=_serve_network, args=(frames, docs, ports, self._stop), daemon=True)
        self._proc.start()
        self.pid = self._proc.pid
        plc_port, relay_port = ports.get(timeout=120)
        self.directory = f"http://127.0.0.1:{plc_port}"
        self.relay = f"ws://127.0.0.1:{relay_port}"

    def close(self) -> None:
        self._stop.set()
        self._proc.join(timeout=10)
        if self._proc.is_alive():
            self._proc.kill()


@dataclass
class Run:
    """One row of the table: wall seconds and CPU seconds of each process taking part."""

    seconds: float
    cpu: float  # this process (the receiving client for the baseline, the appview otherwise)
    network_cpu: float  # the network's process (PLC directory, resolveHandle, relay)
    children_cpu: float | None = None  # the appview's child processes, the identity process among them
    identity_cpu: float | None = None  # the identity process alone
    server_cpu: float | None = None  # the PostgreSQL server, when it runs here


def run_baseline(network: Network, n: int) -> Run:
    net = TreeCpu(network.pid, own=True)
    start, cpu, net_start = time.perf_counter(), time.process_time(), net.seconds()
    with connect(
        f"{network.relay}/xrpc/com.atproto.sync.subscribeRepos", max_size=None, compression=None
    ) as ws:
        for _ in range(n):
            Frame.from_bytes(ws.recv())  # type: ignore[arg-type]
    return Run(time.perf_counter() - start, time.process_time() - cpu, net.seconds() - net_start)


def run_appview(network: Network, db: str, dids: list[str], last_seq: int) -> Run:
    """Seconds until the cursor stands after the last event; the CPU seconds this (the appview's)
    process spent meanwhile, every thread counted; those of its child processes (the identity
    process and the relay's reader), the network's excepted, and of the identity process alone; the
    network process's; and those of the database server (PostgreSQL on this machine; None for
    SQLite, which runs inside the appview, or a server elsewhere)."""
    store = open_store(db)
    with store.transaction() as tx:
        for did in dids:
            tx.upsert_repo(Repo(did))
    appview = Appview(store, plc_url=network.directory, handle_resolver=network.directory)
    child = identity_process.shared()
    server = TreeCpu.postgres(db)
    children = TreeCpu(os.getpid(), own=False, exclude={network.pid})
    identity = TreeCpu(child.pid(), own=True) if child is not None else None
    net = TreeCpu(network.pid, own=True)
    counters = [server, children, identity, net]
    before = [c.seconds() if c else 0.0 for c in counters]
    start, cpu = time.perf_counter(), time.process_time()
    appview.follow(relays=[network.relay])
    # The applier's count of committed events, not a query per poll: asking the database for the
    # cursor every 10 ms cost the appview's process about 4% of its CPU, the harness measured as ingest.
    while appview.applier.events_applied < last_seq:
        time.sleep(0.01)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    server_cpu, children_cpu, identity_cpu, net_cpu = (
        c.seconds() - b if c else None for c, b in zip(counters, before, strict=True)
    )
    appview.close()
    if store.cursor(source_key(network.relay)) != last_seq:
        raise SystemExit(f"the cursor does not stand after the last event ({last_seq})")
    rejected = store.rejections(limit=5)
    if rejected:
        raise SystemExit(f"the replay was not ingested cleanly: {rejected}")
    store.close()
    assert net_cpu is not None
    return Run(elapsed, cpu, net_cpu, children_cpu, identity_cpu, server_cpu)


class TreeCpu:
    """The CPU time of a process's children on this machine, read from ``/proc``: the live ones'
    and what its exited (reaped) children had spent, with the process's own time if ``own``."""

    def __init__(self, root: int, *, own: bool, exclude: set[int] | None = None) -> None:
        self.root, self.own, self.exclude = root, own, exclude or set()
        self._tick = os.sysconf("SC_CLK_TCK")

    @classmethod
    def postgres(cls, url: str) -> TreeCpu | None:
        """The server of ``url`` (its postmaster and every server process), if it runs here."""
        if not url.startswith("postgresql://"):
            return None
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'"
            ).fetchone()
        if row is None:
            return None
        try:
            with open(f"/proc/{row[0]}/comm") as f:
                if f.read().strip() != "postgres":
                    return None  # a process of another program: the server is elsewhere
            return cls(_stat(row[0])[1], own=True)  # the checkpointer's parent
        except OSError:  # no such process: the server is elsewhere
            return None

    def seconds(self) -> float:
        ticks = 0
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                pid = int(entry.name)
                fields = _stat(pid)
            except OSError:  # ended meanwhile
                continue
            if pid == self.root:
                ticks += sum(fields[11:15] if self.own else fields[13:15])
            elif fields[1] == self.root and pid not in self.exclude:
                ticks += sum(fields[11:13])
        return ticks / self._tick


def _stat(pid: int) -> list[int]:
    """The numeric fields of ``/proc/<pid>/stat`` after the command name, from the state on: [0] is
    the state's placeholder, [1] the parent's pid, [11:13] user and system time, [13:15] those of
    the reaped children (in clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    after_name = text[text.rindex(")") + 2 :].split()
    return [0, *(int(v) for v in after_name[1:])]


@contextmanager
def database(kind: str, tmp: Path) -> Iterator[str]:
    """A fresh, empty database of ``kind``: 'sqlite' (a temp file), 'postgresql' (a throwaway cluster
    with the server's default settings) or a postgresql:// URL (a new database created on it)."""
    if kind == "sqlite":
        yield f"sqlite:///{tmp / f'bench-{time.monotonic_ns()}.db'}"
        return
    import psycopg

    with contextlib.ExitStack() as stack:
        admin = kind if "://" in kind else stack.enter_context(postgres_cluster(fsync="on"))
        name = f"bench_{time.monotonic_ns()}"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        try:
            yield admin.rsplit("/", 1)[0] + "/" + name
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# events/s of the ours-heavy mix, per backend (issue 18: 5,000 on SQLite, 10,000 on PostgreSQL).
GOALS = {"sqlite": 5_000, "postgresql": 10_000}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--authors", type=int, default=200)
    parser.add_argument(
        "--db",
        action="append",
        help="'sqlite', 'postgresql' (a throwaway local cluster) or a postgresql:// URL; "
        "repeat for several (default: sqlite and postgresql)",
    )
    parser.add_argument("--mix", action="append", choices=sorted(MIXES), help="default: every mix")
    args = parser.parse_args()
    dbs = args.db or ["sqlite", "postgresql"]
    rows: list[tuple[str, str, Run, int | None]] = []
    for mix_name in args.mix or list(MIXES):
        t0 = time.perf_counter()
        frames, docs, counts = build_replay(args.events, args.authors, MIXES[mix_name])
        print(
            f"replay {mix_name!r}: {len(frames)} events from {args.authors} authors "
            f"({sum(map(len, frames)) / 1e6:.1f} MB, built in {time.perf_counter() - t0:.1f}s)"
        )
        for kind, count in sorted(counts.items(), key=lambda kv: -kv[1]):
            print(f"  {kind:<30} {count:>7}  ({100 * count / len(frames):.1f}%)")
        network = Network(frames, docs)
        try:
            base = run_baseline(network, len(frames))
            rows.append((mix_name, "baseline: the relay alone (receive + decode)", base, None))
            for db_kind in dbs:
                backend = "sqlite" if db_kind == "sqlite" else "postgresql"
                with (
                    tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp,
                    database(db_kind, Path(tmp)) as db,
                ):
                    run = run_appview(network, db, list(docs), len(frames))
                goal = GOALS[backend] if mix_name == "ours-heavy" else None
                rows.append((mix_name, f"appview ingest, {backend}, every check on", run, goal))
        finally:
            network.close()
    print()
    print(
        f"{'replay':<11} {'path':<46} {'seconds':>8} {'events/s':>10} {'vs base':>8} "
        f"{'CPU s':>6} {'ev/CPU-s':>9} {'child CPU s':>11} {'identity':>8} {'network CPU s':>13} "
        f"{'server CPU s':>12} {'us/ev':>6} {'goal':>8}"
    )
    base_rate = 0.0
    n = args.events
    for mix_name, path, run, goal in rows:
        rate = n / run.seconds
        if path.startswith("baseline"):
            base_rate = rate
        verdict = "" if goal is None else f">={goal:,} {'met' if rate >= goal else 'NOT met'}"
        per_cpu = f"{n / run.cpu:>9.0f}" if run.cpu else f"{'-':>9}"

        def seconds(value: float | None, width: int) -> str:
            return f"{'-':>{width}}" if value is None else f"{value:>{width}.2f}"

        server = seconds(run.server_cpu, 12)
        server += f" {'-':>6}" if run.server_cpu is None else f" {1e6 * run.server_cpu / n:>6.0f}"
        print(
            f"{mix_name:<11} {path:<46} {run.seconds:>8.2f} {rate:>10.0f} {rate / base_rate:>8.2f} "
            f"{run.cpu:>6.2f} {per_cpu} {seconds(run.children_cpu, 11)} {seconds(run.identity_cpu, 8)} "
            f"{seconds(run.network_cpu, 13)} {server}  {verdict}"
        )
    print(
        "\nCPU s: this process's CPU time, every thread (the receiving client for the baseline, the "
        "appview otherwise);\nevents per CPU-second move less with the machine's load than events/s. "
        "child CPU s: the appview's child\nprocesses (the identity process and the relay's reader), "
        "identity: the identity process alone; network CPU s:\nthe network's process (PLC directory, "
        "resolveHandle and relay: other machines in production); server CPU s: the\nPostgreSQL "
        "server's processes, and its CPU microseconds per event (all read from /proc)."
    )
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
