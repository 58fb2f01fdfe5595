"""findLensPath and resolveSchema over HTTP on an index of 100,000 schemas and 300,000 lenses.

The index is written through the store's own transaction API into SQLite (records plus their
derived rows, as the ingest would leave them), then ``atdata appview serve`` is started on loopback
and queried by one client, request after request. Every answer is validated against its lexicon
by the server, as in production. Baseline in the same run: a call to a method the server does not
serve (HTTP, routing and the XRPC error answer: the floor any query pays). Goals: p50 < 10 ms, p99 < 50 ms.

    python benchmarks/appview_queries.py [--schemas 100000] [--lenses 300000] [--queries 500]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from atdata.lexicon import nsid as N
from atdata.network.loopback import free_port
from atdata_appview.derive import derive
from atdata_appview.ingest.car import cid_of, cid_str
from atdata_appview.store import Repo, StoredRecord, open_store

AUTHORS = 1000
CREATED = "2026-11-21T08:00:00.000Z"
BASELINE = "unknown method (baseline)"
LENS_CODE = "def get(source):\n    return {'x': source.x}\n"


def did(i: int) -> str:
    return f"did:plc:author{i:018d}"


def fake_cid(*parts: object) -> str:
    return cid_str(cid_of(repr(parts).encode()))


def populate(db: str, n_schemas: int, n_lenses: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    store = open_store(db)
    uris: list[str] = []
    with store.transaction() as tx:
        for a in range(AUTHORS):
            tx.upsert_repo(Repo(did(a), handle=f"author{a}.test", rev="3l000000000aa"))
        for i in range(n_schemas):
            author = did(i % AUTHORS)
            value = {
                "$type": N.SCHEMA,
                "name": f"Type{i}",
                "version": "1.0.0",
                "description": f"Sample type number {i}.",
                "fields": [{"name": "x", "type": {"$type": N.defs("scalarType"), "kind": "int"}}],
                "createdAt": CREATED,
            }
            uri = f"at://{author}/{N.SCHEMA}/Type{i}:1.0.0"
            rec = StoredRecord(
                uri, author, N.SCHEMA, f"Type{i}:1.0.0", fake_cid("s", i), "3l000000000aa", value
            )
            tx.put_record(rec, derive(N.SCHEMA, value))
            uris.append(uri)
        cids = {u: fake_cid("s", i) for i, u in enumerate(uris)}
        for j in range(n_lenses):
            s, t = rng.sample(uris, 2)
            author = did(j % AUTHORS)
            value = {
                "$type": N.LENS,
                "name": f"lens{j}",
                "version": "1.0.0",
                "source": {"uri": s, "cid": cids[s]},
                "target": {"uri": t, "cid": cids[t]},
                "code": {
                    "$type": f"{N.LENS}#python",
                    "language": "python",
                    "source": LENS_CODE,
                    "sha256": hashlib.sha256(LENS_CODE.encode()).hexdigest(),
                },
                "createdAt": CREATED,
            }
            uri = f"at://{author}/{N.LENS}/lens{j}:1.0.0"
            rec = StoredRecord(
                uri, author, N.LENS, f"lens{j}:1.0.0", fake_cid("l", j), "3l000000000aa", value
            )
            tx.put_record(rec, derive(N.LENS, value, code_report=[]))
    store.close()
    return uris


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def timed(client: httpx.Client, nsid: str, params: dict[str, object], status: int = 200) -> float:
    start = time.perf_counter()
    resp = client.get(f"/xrpc/{nsid}", params=params)
    elapsed = time.perf_counter() - start
    if resp.status_code != status:
        raise SystemExit(f"{nsid} {params}: HTTP {resp.status_code} {resp.text[:300]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--schemas", type=int, default=100_000)
    parser.add_argument("--lenses", type=int, default=300_000)
    parser.add_argument("--queries", type=int, default=500)
    args = parser.parse_args()
    rng = random.Random(1)
    with tempfile.TemporaryDirectory() as tmp:
        db = f"sqlite:///{Path(tmp) / 'bench.db'}"
        t0 = time.perf_counter()
        uris = populate(db, args.schemas, args.lenses)
        print(
            f"index: {args.schemas} schemas, {args.lenses} lenses, {AUTHORS} authors "
            f"(written in {time.perf_counter() - t0:.0f}s)"
        )
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "atdata.cli.main", "appview", "serve", "--db", db, "--port", str(port)],
            stdout=subprocess.DEVNULL,
        )
        try:
            client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120)
            t0 = time.perf_counter()
            while True:
                try:
                    client.get(f"/xrpc/{N.DESCRIBE_SERVICE}")
                    break
                except httpx.TransportError:
                    if server.poll() is not None:
                        raise SystemExit("the appview did not start") from None
                    time.sleep(0.2)
            print(f"appview up, lens graph loaded, in {time.perf_counter() - t0:.0f}s\n")
            for _ in range(20):  # warm up connections and caches
                timed(client, N.DESCRIBE_SERVICE, {})
            results: dict[str, list[float]] = {
                BASELINE: [],
                "resolveSchema": [],
                "findLensPath": [],
                "searchSchemas": [],
            }
            found = 0
            for _ in range(args.queries):
                results[BASELINE].append(timed(client, "com.example.nothing", {}, 501))
                i = rng.randrange(args.schemas)
                results["resolveSchema"].append(timed(client, N.RESOLVE_SCHEMA, {"name": f"Type{i}"}))
                results["searchSchemas"].append(timed(client, N.SEARCH_SCHEMAS, {"q": f"number {i}"}))
                s, t = rng.sample(uris, 2)
                start = time.perf_counter()
                resp = client.get(
                    f"/xrpc/{N.FIND_LENS_PATH}", params={"source": s, "target": t, "maxHops": 16}
                )
                results["findLensPath"].append(time.perf_counter() - start)
                if resp.status_code != 200:
                    raise SystemExit(f"findLensPath: HTTP {resp.status_code} {resp.text[:300]}")
                found += bool(resp.json()["path"])
        finally:
            server.terminate()
            server.wait(timeout=30)
    base_p50, _ = percentiles(results[BASELINE])
    print(f"{'query':<28} {'p50 ms':>8} {'p99 ms':>8} {'p50 vs base':>12}")
    for name, samples in results.items():
        p50, p99 = percentiles(samples)
        print(f"{name:<28} {p50 * 1000:>8.2f} {p99 * 1000:>8.2f} {p50 / base_p50:>12.2f}")
    print(f"\nfindLensPath: {found}/{args.queries} random pairs joined by a path (maxHops 16)")
    worst = max(percentiles(results[q])[1] for q in ("resolveSchema", "findLensPath"))
    best = max(percentiles(results[q])[0] for q in ("resolveSchema", "findLensPath"))
    print(f"goal p50 < 10 ms and p99 < 50 ms: {'met' if best < 0.010 and worst < 0.050 else 'NOT met'}")


if __name__ == "__main__":
    main()
