"""Later epochs over remote shards with the local shard cache, against streaming them every epoch.

    python benchmarks/shard_cache.py [--samples 5000] [--repeat 3]

Writes --samples samples (one 64x64 float32 array and two scalars) into shards of 500 with
atdata.ShardWriter, serves them over HTTP on loopback (a threaded http.server), and reads every
sample with Dataset.ordered() as:
  (a) streamed over HTTP each epoch, cache off (cache_dir=False): the baseline
  (b) the first epoch with the cache on: streamed, hashed and copied to disk
  (c) a later epoch with the cache on: read from the verified local copies
The readers take turns for --repeat rounds and each keeps its best run; the table gives samples/s
and the ratio to (a). Loopback HTTP is the most favourable network there is: over a real network
(or an object store) the baseline only gets slower, and (c) does not.
"""

from __future__ import annotations

import argparse
import functools
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from numpy.typing import NDArray

import atdata


@atdata.packable
class Frame:
    image: Annotated[NDArray, atdata.Array("float32", (64, 64))]
    index: int
    t: float


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def write(root: Path, count: int) -> str:
    rng = np.random.default_rng(0)
    with atdata.ShardWriter(str(root / "frames-%04d.tar"), maxcount=500) as sink:
        for i in range(count):
            sink.write(Frame(image=rng.random((64, 64), dtype=np.float32), index=i, t=i * 0.1))
    return f"frames-{{0000..{len(sink.shards) - 1:04d}}}.tar"


def timed(read: Callable[[], int]) -> tuple[float, int]:
    start = time.perf_counter()
    n = read()
    return time.perf_counter() - start, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "shards").mkdir()
        pattern = write(root / "shards", args.samples)
        handler = functools.partial(_Quiet, directory=str(root / "shards"))
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/{pattern}"
        cache = root / "cache"
        try:

            def stream() -> int:
                return sum(1 for _ in atdata.Dataset[Frame](url, cache_dir=False).ordered())

            def first() -> int:
                shutil.rmtree(cache, ignore_errors=True)
                return sum(1 for _ in atdata.Dataset[Frame](url, cache_dir=cache).ordered())

            def later() -> int:
                return sum(1 for _ in atdata.Dataset[Frame](url, cache_dir=cache).ordered())

            readers = {
                "(a) HTTP every epoch, no cache": stream,
                "(b) first epoch, filling the cache": first,
                "(c) later epoch, from the cache": later,
            }
            best: dict[str, float] = {}
            for _ in range(args.repeat):
                for name, read in readers.items():
                    seconds, n = timed(read)
                    assert n == args.samples, (name, n)
                    best[name] = min(best.get(name, float("inf")), seconds)
        finally:
            server.shutdown()
            server.server_close()
    base = args.samples / best["(a) HTTP every epoch, no cache"]
    print(
        f"shard cache, {args.samples} samples (64x64 float32), best of {args.repeat}; "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    print(f"{'reader':<38} {'samples/s':>12} {'x (a)':>8}")
    for name, seconds in best.items():
        rate = args.samples / seconds
        print(f"{name:<38} {rate:>12,.0f} {rate / base:>8.2f}")


if __name__ == "__main__":
    main()
