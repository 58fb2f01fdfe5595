"""CPU per request of the appview's identity process (DID documents and ``resolveHandle`` checks).

The appview's ingest asks a child process (:mod:`atdata.network.identity_process`) for the DID
documents an ``#identity`` makes stale, a few at a time, and then checks the authors' handles
(``resolveHandle``). Replayed here: ``--requests`` in all (half documents, half handles) in rounds of
``--burst`` documents asked together, then as many handle checks one by one (the costlier shape: the
refresher asks a batch's together), against the ingest benchmark's PLC directory
(:func:`appview_ingest.directory_server`) in a process of its own.

Printed per path: wall seconds, and CPU microseconds per request of the child process (and of it
in the kernel), of this process (the parent's hand-over: writing requests, reading answers) and of
the directory's process. Baseline in the same run: the same requests fetched in this process, one
thread, one after another, over the same code (``fetch_document`` / ``lookup_handle`` over
``http.client``: ``direct_http``), which is the least any process can spend on them.

    python benchmarks/identity_requests.py [--requests 1000] [--authors 200] [--burst 4] [--repeat 3]
                                           [--only-child]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import threading
import time
from pathlib import Path
from typing import Any

from appview_ingest import directory_server
from atdata.network.identity import IdentityResolver
from atdata.network.identity_process import IdentityProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the test support package
from support.repo_writer import SigningKey, did_document


def _serve(docs: dict[str, Any], ports: Any, stop: Any) -> None:
    server = directory_server(docs)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ports.put(server.server_address[1])
    stop.wait()


def cpu_of(pid: int, *, system: bool = False) -> float:
    """User + system CPU seconds of process ``pid`` (every thread), or its system time alone, from
    ``/proc``."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[12]) + (0 if system else int(fields[11]))) / os.sysconf("SC_CLK_TCK")


def rounds(dids: list[str], handles: dict[str, str], n: int, burst: int) -> list[tuple[list[str], list[str]]]:
    rng = random.Random(0)
    out = []
    for _ in range(max(1, n // (2 * burst))):
        picked = rng.sample(dids, burst)
        out.append((picked, [handles[d] for d in picked]))
    return out


def run_child(config: Any, work: list[tuple[list[str], list[str]]], network_pid: int) -> tuple[float, ...]:
    child = IdentityProcess()
    pid = child.pid()
    child.submit("document", config, [work[0][0][0]])[0].result(30)  # connected and warm
    child_cpu, own_cpu, net_cpu = cpu_of(pid), time.process_time(), cpu_of(network_pid)
    child_sys = cpu_of(pid, system=True)
    start = time.perf_counter()
    for docs, handles in work:
        for future in child.submit("document", config, docs):
            future.result(30)
        for handle in handles:  # the refresher checks handles one by one
            child.submit("handle", config, [handle])[0].result(30)
    wall = time.perf_counter() - start
    result = (
        wall,
        cpu_of(pid) - child_cpu,
        cpu_of(pid, system=True) - child_sys,
        time.process_time() - own_cpu,
        cpu_of(network_pid) - net_cpu,
    )
    child.close()
    return result


def run_inline(config: Any, work: list[tuple[list[str], list[str]]], network_pid: int) -> tuple[float, ...]:
    plc, pds, timeout, use_dns = config
    resolver = IdentityResolver(plc, pds_url=pds, timeout=timeout, use_dns=use_dns, direct_http=True)
    resolver.fetch_document(work[0][0][0])
    own_cpu, net_cpu = time.process_time(), cpu_of(network_pid)
    start = time.perf_counter()
    for docs, handles in work:
        for did in docs:
            resolver.fetch_document(did)
        for handle in handles:
            resolver.lookup_handle(handle)
    wall = time.perf_counter() - start
    result = (wall, 0.0, 0.0, time.process_time() - own_cpu, cpu_of(network_pid) - net_cpu)
    resolver.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--authors", type=int, default=200)
    parser.add_argument("--burst", type=int, default=4, help="documents asked together per round")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only-child", action="store_true", help="no baseline (to profile the child)")
    args = parser.parse_args()
    keys = SigningKey()  # one key for all: the documents' contents do not matter here
    docs = {
        f"did:plc:bench{i:019d}": did_document(
            f"did:plc:bench{i:019d}", keys, f"author{i}.test", "https://pds.invalid"
        )
        for i in range(args.authors)
    }
    handles = {did: f"author{i}.test" for i, did in enumerate(docs)}
    ctx = multiprocessing.get_context("spawn")
    ports, stop = ctx.Queue(), ctx.Event()
    network = ctx.Process(target=_serve, args=(docs, ports, stop), daemon=True)
    network.start()
    assert network.pid is not None
    url = f"http://127.0.0.1:{ports.get(timeout=60)}"
    config = (url, url, 5.0, True)  # as the appview's resolver: PLC directory, resolveHandle, DNS
    work = rounds(list(docs), handles, args.requests, args.burst)
    n = sum(len(d) + len(h) for d, h in work)
    rows = []
    try:
        for _ in range(args.repeat):
            if not args.only_child:
                rows.append(("baseline: this process, one thread", *run_inline(config, work, network.pid)))
            rows.append(("identity process (child)", *run_child(config, work, network.pid)))
    finally:
        stop.set()
        network.join(timeout=10)
    print(f"{n} requests ({n // 2} documents in rounds of {args.burst}, {n // 2} handle checks one by one)")
    print(
        f"{'path':<36} {'wall s':>7} {'child us/req':>13} {'(system)':>9} {'this us/req':>12} "
        f"{'network us/req':>15}"
    )
    for path, wall, child, system, own, net in rows:
        print(
            f"{path:<36} {wall:>7.2f} {1e6 * child / n:>13.0f} {1e6 * system / n:>9.0f} "
            f"{1e6 * own / n:>12.0f} {1e6 * net / n:>15.0f}"
        )
    print(
        "\nchild: the identity process's CPU per request (system: of it, in the kernel); this: this "
        "process's (the parent's hand-over, or "
        "the whole\nrequest for the baseline); network: the directory's process (from /proc)."
    )
    print(f"load average (1, 5, 15 min) at the end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
