"""Latency of a fresh process resolving a 3-hop ``as_type`` against the local network.

    python benchmarks/resolve_latency.py [--repeat 5]

Starts the official PDS and PLC (the dev stack), an appview (``atdata appview serve`` on SQLite,
following the PDS) and a loopback file server; one author publishes A -> B -> C -> D (three code
lenses) and a dataset of A. Then, each in a new Python process (``-I``-free, the venv's
interpreter), with the author trusted so the chain runs inline:

  (a) ``python -c pass``: the interpreter's own start-up, the baseline
  (b) ``python -c "import atdata"``
  (c) cold: an empty cache dir; ``atdata.resolve("handle/D")``, ``atdata.Dataset(at-uri)`` and
      ``.as_type(D)`` (the path from the appview, each record fetched from the PDS and CID-checked,
      each lens's code checked and compiled): the whole process from start to exit, then, timed
      inside a second such process, its imports and the calls alone
  (d) warm, same process: the same calls again in the process of (c)
  (e) warm, new process: the calls in a new process on the cache dir (c) filled

Each is run --repeat times; the table gives the median wall time in ms with the ratio to (a), and
the goals of issue 18 (cold: the whole fresh process).
"""

from __future__ import annotations

import argparse
import compileall
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the test support: how tests and the demo run an appview

from support import appview_process  # noqa: E402

import atdata  # noqa: E402
from atdata.errors import NotFoundError  # noqa: E402
from atdata.network.appview_client import AppviewClient  # noqa: E402
from atdata.network.identity import IdentityResolver  # noqa: E402
from atdata_registry.devstack import start as start_stack  # noqa: E402
from atdata_registry.publish import Publisher  # noqa: E402
from atdata_registry.session import create_session  # noqa: E402


@atdata.packable
class A:
    x: float
    label: str


@atdata.packable
class B:
    y: float
    label: str


@atdata.packable
class C:
    z: float
    label: str


@atdata.packable
class D:
    w: float
    tag: str


HOPS = [
    (A, B, "def get(s):\n    return {'y': s.x * 2.0, 'label': s.label}\n"),
    (B, C, "def get(s):\n    return {'z': s.y + 1.0, 'label': s.label}\n"),
    (C, D, "def get(s):\n    return {'w': -s.z, 'tag': s.label.upper()}\n"),
]

RESOLVE = """
import json, sys, time
start = time.perf_counter()
import atdata
from atdata.trust import TrustedAuthor, TrustPolicy
imported = time.perf_counter()
net = json.loads(sys.argv[1])
atdata.configure(appview=net["appview"], plc=net["plc"], pds=net["pds"])
trust = TrustPolicy(authors=(TrustedAuthor(net["did"]),))

def once():
    t = time.perf_counter()
    target = atdata.resolve(net["handle"] + "/D")
    ds = atdata.Dataset(net["dataset"]).as_type(target, trust=trust)
    assert ds.sample_type is target
    return (time.perf_counter() - t) * 1000

first = once()
second = once() if sys.argv[2] == "twice" else None
print(json.dumps({"import": (imported - start) * 1000, "first": first, "second": second}))
"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def wait_until(what: str, check: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting until {what}")
        time.sleep(0.2)


def publish(stack: Any, shards: Path, shards_url: str, appview: str) -> dict[str, str]:
    """One author's chain A -> B -> C -> D and a dataset of A, indexed by the appview."""
    handle = f"bench{uuid.uuid4().hex[:8]}.test"
    password = f"pw-{uuid.uuid4().hex}"
    did = stack.create_account(handle, password)
    session = create_session(handle, password, pds=stack.pds, plc=stack.plc)
    publisher = Publisher(session, progress=False, resolver=IdentityResolver(stack.plc, pds_url=stack.pds))
    lenses = [
        publisher.publish_lens(
            atdata.Lens.from_source(code, source=s, target=t, name=f"{s.__name__}_to_{t.__name__}")
        )
        for s, t, code in HOPS
    ]
    with atdata.ShardWriter(str(shards / "a-%06d.tar"), maxcount=100) as writer:
        for i in range(10):
            writer.write(A(x=float(i), label=f"a{i}"))
    dataset = publisher.publish_dataset(
        name="a", schema=dict(lenses[0].record["source"]), urls=[f"{shards_url}/a-000000.tar"]
    )
    with AppviewClient(appview) as client:

        def indexed() -> bool:
            try:
                return all(client.get_lens(lens.uri).handle is not None for lens in lenses) and any(
                    d.uri == dataset.uri for d in client.list_datasets(limit=100).items
                )
            except NotFoundError:
                return False

        wait_until("the appview indexes the chain", indexed)
    return {"handle": handle, "did": did, "dataset": dataset.uri}


def run(code: list[str], env: dict[str, str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *code], capture_output=True, text=True, env=env, check=False)
    wall = (time.perf_counter() - start) * 1000
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(code)[:60]} failed:\n{done.stderr[-3000:]}")
    return wall, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="atdata-resolve-bench-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "shards").mkdir()
        env = {**os.environ, "ATDATA_CONFIG_DIR": str(tmp / "config")}
        for var in ("ATDATA_APPVIEW", "ATDATA_PLC", "ATDATA_PDS"):
            env.pop(var, None)
        # An installed atdata comes with its bytecode compiled (pip compiles at install time); a
        # source checkout run with PYTHONDONTWRITEBYTECODE would compile ~60 modules per process.
        compileall.compile_dir(Path(atdata.__file__).parent, quiet=1)
        stack = start_stack(tmp / "devstack")
        server = ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(tmp / "shards"))
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with appview_process.running(
                f"sqlite:///{tmp / 'appview.db'}",
                log_file=tmp / "appview.log",
                pds=[stack.pds],
                plc=stack.plc,
                handle_resolver=stack.pds,
            ) as appview:
                net = publish(
                    stack, tmp / "shards", f"http://127.0.0.1:{server.server_address[1]}", appview.url
                )
                net.update(appview=appview.url, plc=stack.plc, pds=stack.pds)
                keys = ("pass", "import", "process", "in", "cold", "warm", "new")
                rows: dict[str, list[float]] = {k: [] for k in keys}
                for i in range(args.repeat):
                    rows["pass"].append(run(["-c", "pass"], env)[0])
                    rows["import"].append(run(["-c", "import atdata"], env)[0])
                    fresh = {**env, "ATDATA_CACHE_DIR": str(tmp / f"fresh-{i}")}
                    rows["process"].append(run(["-c", RESOLVE, json.dumps(net), "once"], fresh)[0])
                    cache = {**env, "ATDATA_CACHE_DIR": str(tmp / f"cache-{i}")}
                    cold = json.loads(run(["-c", RESOLVE, json.dumps(net), "twice"], cache)[1])
                    rows["in"].append(cold["import"])
                    rows["cold"].append(cold["first"])
                    rows["warm"].append(cold["second"])
                    again = run(["-c", RESOLVE, json.dumps(net), "once"], cache)[1]
                    rows["new"].append(json.loads(again)["first"])
        finally:
            server.shutdown()
            server.server_close()
            stack.stop()
    load_after = os.getloadavg()[0]

    med = {k: statistics.median(v) for k, v in rows.items()}
    print(
        "resolve latency: atdata.resolve(handle/D) + Dataset(at-uri).as_type(D), a 3-hop chain of "
        f"trusted code lenses, local PDS+PLC and appview; median of {args.repeat}"
    )
    print(f"load average {load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} CPUs")
    print(f"{'measure':52s} {'ms':>9s} {'vs (a)':>8s}  goal")
    table = [
        ("(a)  python -c pass (process)", med["pass"], ""),
        ("(b)  python -c 'import atdata' (process)", med["import"], ""),
        ("(c)  cold, fresh process: start to exit", med["process"], "< 1000 ms"),
        ("       its imports (atdata, atdata.trust)", med["in"], ""),
        ("       its resolve + as_type calls", med["cold"], ""),
        ("(d)  warm: the calls again, same process", med["warm"], "< 20 ms"),
        ("(e)  warm: the calls in a new process, cache of (c)", med["new"], ""),
    ]
    for name, ms, goal in table:
        print(f"{name:52s} {ms:9.1f} {ms / med['pass']:7.1f}x  {goal}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
