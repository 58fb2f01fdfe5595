"""The appview at network scale: 100,000 schemas and 1,000,000 lenses on PostgreSQL, 4 API processes,
50 clients for 30 s over HTTP (issue 18 point 4).

1. A throwaway PostgreSQL cluster on loopback (or ``--db`` a server of yours: a fresh database is
   created on it), migrated by the store, then bulk-loaded with COPY into the store's real tables
   (repos, records, schemas, lenses) with the rows the ingester writes (``derive`` makes the derived
   columns; records hold the canonical JSON). Not measured.
2. ``atdata appview serve --role api --workers 4``: four API processes sharing one port. The
   supervisor builds the lens index once and forks them (the index shared copy-on-write); each brings
   it up to date from the change log and logs that it serves. Per process: the seconds from the start
   of the command until then, and its memory (resident, proportional and peak, from /proc).
3. 50 clients, each one keep-alive HTTP connection (raw asyncio streams: the load generator must not
   starve the servers of CPU), each sending a request, reading the answer, then thinking
   ``--think`` seconds (exponentially distributed) before the next. A request is ``findLensPath`` between
   two random schemas, ``resolveSchema`` of a random name, or (the baseline, in the same run) a method the
   server does not serve: HTTP, routing and an XRPC error answer, the floor every query pays.
4. The baseline of the index figure, after the rest: API processes each building their own index
   (``--role api`` without a supervisor, as on separate machines), one alone and then ``--workers`` at
   once on these same cores (``--no-baseline`` skips it).

Goals: p99 < 20 ms and 0 errors for both queries; lens index ready < 10 s and < 1.5 GB resident per
API process. The load average is printed: the figures only mean something on a machine doing little else.

    python benchmarks/appview_scale.py                       # the issue's figures (loading takes minutes)
    python benchmarks/appview_scale.py --schemas 10000 --lenses 100000 --seconds 10   # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test support package
from support.postgres_cluster import postgres_cluster

from atdata.lexicon import nsid as N
from atdata.network.loopback import free_port
from atdata.network.refs import StrongRef
from atdata_appview.derive import derive
from atdata_appview.ingest.car import cid_of, cid_str
from atdata_appview.store import open_store
from atdata_registry.record_builders import lens_record

CREATED = "2026-11-21T08:00:00.000Z"
REV = "3l000000000aa"
INDEXED = "2026-12-01T00:00:00.000000Z"
LENS_CODE = "def get(source):\n    return {'x': source.x}\n"
BASELINE = "unknown method (baseline)"
UNKNOWN = "dev.atdata.notAMethod"
GOAL_P99_MS = 20.0
GOAL_BUILD_S = 10.0
GOAL_RSS_GB = 1.5
FIRST_ERRORS: dict[str, str] = {}


def did(i: int) -> str:
    return f"did:plc:author{i:018d}"


def canonical(value: dict[str, object]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))  # as Tx.put_record stores it


# --- 1. the index, as the ingester would have written it ------------------------------------------
def load(url: str, n_schemas: int, n_lenses: int, authors: int, seed: int) -> list[str]:
    """Bulk-load the store's tables; returns the schema uris."""
    open_store(url).close()  # the store's own migrations make the tables
    rng = random.Random(seed)
    uris = [f"at://{did(i % authors)}/{N.SCHEMA}/Type{i}:1.0.0" for i in range(n_schemas)]
    cids = [cid_str(cid_of(b"schema %d" % i)) for i in range(n_schemas)]
    with psycopg.connect(url, autocommit=True) as conn:
        with (
            conn.cursor() as cur,
            cur.copy(
                "COPY repos (did, handle, signing_key, pds, status, rev, updated_at) FROM STDIN"
            ) as copy,
        ):
            for a in range(authors):
                copy.write_row((did(a), f"author{a}.test", None, None, "active", REV, INDEXED))
        with conn.cursor() as cur:
            with cur.copy(
                "COPY records (uri, did, collection, rkey, cid, rev, json, indexed_at, valid) FROM STDIN"
            ) as records:
                for i, uri in enumerate(uris):
                    records.write_row(
                        (
                            uri,
                            did(i % authors),
                            N.SCHEMA,
                            f"Type{i}:1.0.0",
                            cids[i],
                            REV,
                            canonical(_schema(i)),
                            INDEXED,
                            1,
                        )
                    )
            with cur.copy(
                "COPY schemas (uri, did, cid, name, version, version_sort, description, search_text)"
                " FROM STDIN"
            ) as schemas:
                for i, uri in enumerate(uris):
                    c = derive(N.SCHEMA, _schema(i)).columns
                    schemas.write_row(
                        (
                            uri,
                            did(i % authors),
                            cids[i],
                            c["name"],
                            c["version"],
                            c["version_sort"],
                            c["description"],
                            c["search_text"],
                        )
                    )
    # The lenses: records and derived rows in one pass over the same random edges (two connections:
    # one COPY at a time each).
    template = canonical(_lens("@S@", "@SC@", "@T@", "@TC@", "@N@")).split("@")
    record_columns = "uri, did, collection, rkey, cid, rev, json, indexed_at, valid"
    lens_columns = "uri, did, cid, name, source_uri, source_cid, target_uri, target_cid, code_ok"
    with (
        psycopg.connect(url, autocommit=True) as rconn,
        psycopg.connect(url, autocommit=True) as lconn,
        rconn.cursor().copy(f"COPY records ({record_columns}) FROM STDIN") as records,
        lconn.cursor().copy(f"COPY lenses ({lens_columns}) FROM STDIN") as lenses,
    ):
        for j in range(n_lenses):
            s, t = rng.randrange(n_schemas), rng.randrange(n_schemas)
            author = did(j % authors)
            uri = f"at://{author}/{N.LENS}/lens{j}:1.0.0"
            cid = cid_str(cid_of(b"lens %d" % j))
            name = f"lens{j}"
            parts = dict(S=uris[s], SC=cids[s], T=uris[t], TC=cids[t], N=name)
            js = "".join(parts.get(p, p) for p in template)
            records.write_row((uri, author, N.LENS, f"lens{j}:1.0.0", cid, REV, js, INDEXED, 1))
            lenses.write_row((uri, author, cid, name, uris[s], cids[s], uris[t], cids[t], 1))
    with psycopg.connect(url, autocommit=True) as conn:
        # As a store that has been running a while is: its rows vacuumed (visible to all, hint bits
        # set). Otherwise the first reader of freshly copied rows pays for writing that to every page,
        # and autovacuum competes with the API processes for the cores.
        conn.execute("VACUUM (ANALYZE)")
    return uris


def _schema(i: int) -> dict[str, object]:
    return {
        "$type": N.SCHEMA,
        "name": f"Type{i}",
        "version": "1.0.0",
        "description": f"Sample type number {i}.",
        "fields": [{"name": "x", "type": {"$type": N.defs("scalarType"), "kind": "int"}}],
        "createdAt": CREATED,
    }


def _lens(source: str, source_cid: str, target: str, target_cid: str, name: str) -> dict[str, object]:
    return lens_record(
        name=name,
        version="1.0.0",
        source=StrongRef(source, source_cid),
        target=StrongRef(target, target_cid),
        code=LENS_CODE,
        description="Benchmark lens.",
        created_at=CREATED,
    )


# --- 2. the API processes ----------------------------------------------------------------------------
READY = re.compile(r"appview API process (\d+) serving: ")


@contextlib.contextmanager
def serving(url: str, workers: int, log_file: Path) -> Iterator[tuple[str, int, dict[int, float]]]:
    """``atdata appview serve --role api --workers N``; yields its URL, the pid started (the
    supervisor) and, per API process, the seconds from the start until it logged that it serves (its
    lens index ready: built, or resumed from the supervisor's and brought up to date)."""
    port = free_port()
    cmd = [sys.executable, "-m", "atdata.cli.main", "appview", "serve", "--role", "api"]
    cmd += ["--port", str(port), "--workers", str(workers)]
    started = time.monotonic()
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ATDATA_APPVIEW_DB": url}
        )
    try:
        ready: dict[int, float] = {}
        while len(ready) < workers:
            if proc.poll() is not None or time.monotonic() - started > 600:
                raise SystemExit(f"the API processes did not come up:\n{log_file.read_text()[-3000:]}")
            now = time.monotonic() - started
            for pid in READY.findall(log_file.read_text(errors="replace")):
                ready.setdefault(int(pid), now)
            time.sleep(0.05)
        yield f"127.0.0.1:{port}", proc.pid, ready
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def separately(url: str, processes: int, log_file: Path) -> list[tuple[float, float]]:
    """The baseline: ``processes`` single API processes (``--role api``, no supervisor) started at
    once, each building its own index, as API processes on as many machines would (here sharing these
    cores); per process, (seconds until it serves, peak resident GB). Stopped once all serve."""
    env = {**os.environ, "ATDATA_APPVIEW_DB": url}
    cmd = [sys.executable, "-m", "atdata.cli.main", "appview", "serve", "--role", "api"]
    started = time.monotonic()
    with open(log_file, "ab") as log:
        procs = [
            subprocess.Popen(
                [*cmd, "--port", str(free_port())], stdout=log, stderr=subprocess.STDOUT, env=env
            )
            for _ in range(processes)
        ]
    try:
        ready: dict[int, float] = {}
        while len(ready) < processes:
            if any(p.poll() is not None for p in procs) or time.monotonic() - started > 600:
                raise SystemExit(f"the API processes did not come up:\n{log_file.read_text()[-3000:]}")
            now = time.monotonic() - started
            for pid in READY.findall(log_file.read_text(errors="replace")):
                ready.setdefault(int(pid), now)
            time.sleep(0.05)
        return [(ready[p.pid], memory(p.pid)[2]) for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


def memory(pid: int) -> tuple[float, float, float]:
    """(resident, proportional, peak resident) in GB, from /proc. Resident counts every page the
    process maps, those it shares with its siblings too; proportional divides each shared page among
    the processes sharing it (what N of them add up to)."""

    def fields(name: str) -> dict[str, int]:
        lines = Path(f"/proc/{pid}/{name}").read_text().splitlines()
        pairs = (line.split(":", 1) for line in lines if ":" in line)
        return {k: int(v.split()[0]) for k, v in pairs if v.split() and v.split()[0].isdigit()}

    status, rollup = fields("status"), fields("smaps_rollup")
    return status["VmRSS"] / 2**20, rollup["Pss"] / 2**20, status["VmHWM"] / 2**20


# --- 3. the clients ---------------------------------------------------------------------------------
async def client(
    address: str,
    requests: list[tuple[str, str]],
    until: float,
    measure_from: float,
    think: float,
    rng: random.Random,
    results: dict[str, list[float]],
    errors: dict[str, int],
) -> None:
    host, port = address.rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        while time.monotonic() < until:
            label, target = rng.choice(requests)
            started = time.perf_counter()
            try:
                writer.write(f"GET {target} HTTP/1.1\r\nhost: {address}\r\n\r\n".encode())
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                body = await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, StopIteration, ValueError):
                errors[label] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, int(port))
                continue
            elapsed = time.perf_counter() - started
            if time.monotonic() < measure_from:  # warm-up: lexicons compiled, pools filled
                await asyncio.sleep(rng.expovariate(1 / think) if think > 0 else 0)
                continue
            expected = 501 if label == BASELINE else 200
            if status != expected:
                errors[label] += 1
                FIRST_ERRORS.setdefault(label, f"{status} {body[:300].decode(errors='replace')}")
            else:
                results[label].append(elapsed)
            await asyncio.sleep(rng.expovariate(1 / think) if think > 0 else 0)
    finally:
        writer.close()


def request_mix(schemas: list[str], rng: random.Random, n: int = 20_000) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for _ in range(n):
        s, t = rng.sample(range(len(schemas)), 2)
        out.append(
            (
                N.FIND_LENS_PATH,
                f"/xrpc/{N.FIND_LENS_PATH}?{urlencode({'source': schemas[s], 'target': schemas[t]})}",
            )
        )
        out.append((N.RESOLVE_SCHEMA, f"/xrpc/{N.RESOLVE_SCHEMA}?{urlencode({'name': f'Type{s}'})}"))
        out.append((BASELINE, f"/xrpc/{UNKNOWN}?{urlencode({'x': str(s)})}"))
    return out


async def drive(
    address: str,
    requests: list[tuple[str, str]],
    clients: int,
    seconds: float,
    think: float,
    seed: int,
    warmup: float,
) -> tuple[dict[str, list[float]], dict[str, int]]:
    labels = {label for label, _ in requests}
    results: dict[str, list[float]] = {label: [] for label in labels}
    errors = dict.fromkeys(labels, 0)
    measure_from = time.monotonic() + warmup
    until = measure_from + seconds
    await asyncio.gather(
        *(
            client(address, requests, until, measure_from, think, random.Random(seed + i), results, errors)
            for i in range(clients)
        )
    )
    return results, errors


# --- the run -----------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schemas", type=int, default=100_000)
    parser.add_argument("--lenses", type=int, default=1_000_000)
    parser.add_argument("--authors", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4, help="API processes (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--think",
        type=float,
        default=0.2,
        help="mean seconds a client waits between requests (default: %(default)s)",
    )
    parser.add_argument(
        "--db", default=None, help="a PostgreSQL server's admin URL (default: a throwaway cluster)"
    )
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of load not measured first")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--no-baseline",
        dest="baseline",
        action="store_false",
        help="skip the baseline: one API process, then --workers of them, each building its own index",
    )
    args = parser.parse_args()

    with contextlib.ExitStack() as stack:
        admin = args.db or stack.enter_context(postgres_cluster(max_connections="200"))
        name = "bench_" + uuid.uuid4().hex[:10]
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        url = admin.rsplit("/", 1)[0] + "/" + name
        try:
            started = time.monotonic()
            print(f"loading {args.schemas:,} schemas and {args.lenses:,} lenses with COPY ...", flush=True)
            schemas = load(url, args.schemas, args.lenses, args.authors, args.seed)
            print(f"  loaded in {time.monotonic() - started:.0f} s", flush=True)
            log_file = Path(tempfile.mkdtemp(prefix="appview-scale-")) / "serve.log"
            with serving(url, args.workers, log_file) as (address, supervisor, ready):
                builds = [
                    float(line.split(" loaded in ", 1)[1].split()[0])
                    for line in log_file.read_text().splitlines()
                    if " lenses loaded in " in line
                ]
                requests = request_mix(schemas, random.Random(args.seed))
                load_before = os.getloadavg()
                results, errors = asyncio.run(
                    drive(address, requests, args.clients, args.seconds, args.think, args.seed, args.warmup)
                )
                load_after = os.getloadavg()
                mem = {pid: memory(pid) for pid in ready}
                if supervisor not in ready:
                    mem[supervisor] = memory(supervisor)
            # After the layout measured, so that any cache the first reader warms favours the baseline.
            baselines: list[tuple[str, list[tuple[float, float]]]] = []
            if args.baseline:
                print("baseline: API processes each building their own index ...", flush=True)
                for n in (1, args.workers):
                    runs = separately(url, n, log_file.with_name(f"separately-{n}.log"))
                    baselines.append((f"{n} alone" if n == 1 else f"{n} at once", runs))
        finally:
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    total = sum(len(v) for v in results.values()) + sum(errors.values())
    print()
    print(
        f"appview at scale: {args.schemas:,} schemas, {args.lenses:,} lenses, PostgreSQL, {args.workers} API "
        f"processes, {args.clients} clients x {args.seconds:.0f} s (think {args.think} s), "
        f"{total / args.seconds:.0f} requests/s"
    )
    print(f"{'query':34s} {'n':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'p99 ms':>8s} {'errors':>7s}  goal")
    for label in (N.FIND_LENS_PATH, N.RESOLVE_SCHEMA, BASELINE):
        values = results[label]
        goal = "p99 < 20 ms, 0 errors" if label != BASELINE else "(baseline)"
        if label != BASELINE:
            met = percentile(values, 0.99) < GOAL_P99_MS and errors[label] == 0
            goal += "  met" if met else "  NOT met"
        print(
            f"{label:34s} {len(values):7d} {percentile(values, 0.5):8.2f} {percentile(values, 0.95):8.2f} "
            f"{percentile(values, 0.99):8.2f} {errors[label]:7d}  {goal}"
        )
    for label, first in FIRST_ERRORS.items():
        print(f"  first error of {label}: {first}")
    print()
    print(f"{'API process':12s} {'ready s':>8s} {'resident GB':>12s} {'PSS GB':>8s} {'peak GB':>8s}  goal")
    for pid, at in sorted(ready.items(), key=lambda item: item[1]):
        rss, pss, peak = mem[pid]
        met = at < GOAL_BUILD_S and peak < GOAL_RSS_GB
        print(
            f"{pid:<12d} {at:8.1f} {rss:12.2f} {pss:8.2f} {peak:8.2f}  index ready < {GOAL_BUILD_S:.0f} s, "
            f"< {GOAL_RSS_GB} GB {'met' if met else 'NOT met'}"
        )
    if supervisor not in ready:
        rss, pss, peak = mem[supervisor]
        print(f"{'supervisor':12s} {'':8s} {rss:12.2f} {pss:8.2f} {peak:8.2f}  (built the index they share)")
    print("PSS: resident with each page shared by several processes divided among them")
    print(
        "ready s: from `atdata appview serve` started until the process logged that it serves (its lens "
        "index built, or forked from the supervisor's and brought up to date from the change log)"
    )
    print(
        f"lens index built {len(builds)} time(s), in {', '.join(f'{b:.1f} s' for b in builds)}"
        + (" (by the supervisor, before forking the API processes)" if supervisor not in ready else "")
    )
    for label, runs in baselines:
        times = [at for at, _ in runs]
        print(
            f"baseline, each process building its own index, {label}: ready after "
            f"{', '.join(f'{t:.1f}' for t in times)} s, peak {max(peak for _, peak in runs):.2f} GB "
            f"(the {len(ready)} sharing one index: ready in {max(ready.values()) / max(times):.2f}x the time)"
        )
    print(
        f"load average (1 min) before/after the clients: {load_before[0]:.2f} / {load_after[0]:.2f} "
        f"on {os.cpu_count()} cores"
    )


if __name__ == "__main__":
    main()
