"""Read throughput of typed samples from WebDataset shards, against the baselines in the same run.

    python benchmarks/read_throughput.py [--busy 1] [--legacy-python /path/to/venv312/bin/python]

Writes 20,000 samples (one 64x64 float32 array plus six scalar fields, one of them a dict) into
shards with atdata.ShardWriter, warms the page cache, then reads them back as:
  (a)  atdata Dataset.ordered() on a first read: each shard's sha-256 is checked against its
       sidecar on the digest threads, the next shards hashed while this one is decoded (what a
       new process does: every shard hashed and mapped afresh; dropping the previous run's
       mappings, which a new process would not inherit, happens before the clock starts)
  (a') the same on later passes (epochs): shards verified unchanged in this process are not
       hashed again
  (a2) (a) over the same samples in four times as many shards, more than the read-ahead queues
       (``ReadAhead.AHEAD_SHARDS``): (a)'s 10 shards are all queued for hashing when the first
       opens, these only 16 at a time, so this is the pace of a long first read
  (b)  webdataset + msgpack decoding into dicts (arrays via np.frombuffer): the floor
  (c)  atdata 0.7.0b1 in a Python 3.12 virtualenv, as a subprocess, reading the same shards
       (its interpreter from --legacy-python or $ATDATA_LEGACY_PYTHON; skipped if absent)
  (d)  atdata Dataset.ordered(batch_size=64) on a first read, the image column stacked
  (e)  the shard files' bytes from the page cache, as samples/s: the ceiling
The readers take turns for --repeat rounds and each keeps its best run; the table gives samples/s
and the ratio to (b), with the machine's load average (other work on it lowers every figure).

``--busy N`` starts N CPU-bound processes (a Python busy loop each) before the readers and stops them
at the end: the setting users train in, where the verifying thread of (a) competes for a core.

A second table times a torch DataLoader over the same shards (``Dataset.to_torch(batch_size=64,
tensors=True)``, ``--loader-batch`` to change it, ``DataLoader(batch_size=None)``, persistent workers,
torch's default start method, best epoch after a warm-up one, the two loaders' epochs taken in
turns so that a burst of other load spoils one epoch of each) with 1 and 2 workers; each worker
reads and decodes its own shards and hands each batch (64 x 16 KB images, 1 MB) to the main
process. It also gives the CPU time per batch of the main process and of the workers: two workers
and the main process share two cores, so the main process's share is what a second worker cannot
add. The busy processes are paused for it, since two workers need both cores (skipped without
torch, or with ``--no-loader``; ``--loader-only`` runs it alone, without the readers or busy
processes).

The same table has a row (g) for torch's own limit on this machine: the DataLoader over items that
are bare integers, each costing its worker as much CPU as one of our batches cost the one worker
(a fixed number of steps of a Python loop, as many as take that long on a core the host leaves
alone: fixed work, which takes longer when the host slows a core, as a batch does) and the main
process nothing beyond torch's own work per item. The loop keeps next to nothing in the caches, so
it loses nothing when the main process's wake-ups take its core for a while; a worker reading
shards does.

Row (h) is that for (f)'s own workers: the same DataLoader, the workers reading, decoding and
packing the same batches, but each batch dropped in its worker and only its size (a bare integer)
sent to the main process, taken in turns with (f). Two workers over (h) reach what (f)'s workers
allow on this machine with nothing to hand over: handing batches over well cannot take (f) past it
by more than (f)'s workers spend on the handing over, which they do in parallel.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import msgpack
import numpy as np
import webdataset as wds
from numpy.typing import NDArray

import atdata
from atdata.shards.reader import forget_verified

try:
    import torch.utils.data as torch_data
except ModuleNotFoundError:
    torch_data = None  # type: ignore[assignment]


@atdata.packable
class Frame:
    image: Annotated[NDArray, atdata.Array("float32", (64, 64))]
    label: str
    index: int
    t: float
    ok: bool
    scale: float | None
    meta: dict[str, Any]


LEGACY_READER = textwrap.dedent(
    """
    import json, sys, time
    from typing import Any
    from numpy.typing import NDArray
    import atdata

    @atdata.packable
    class Frame:
        image: NDArray
        label: str
        index: int
        t: float
        ok: bool
        scale: float | None
        meta: dict[str, Any]

    pattern, repeat = sys.argv[1], int(sys.argv[2])  # timed here: interpreter start-up is left out
    best, n = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        n = sum(1 for _ in atdata.Dataset[Frame](pattern).ordered())
        best = min(best, time.perf_counter() - start)
    print(json.dumps({"samples": n, "seconds": best}))
    """
)


def write_shards(folder: Path, count: int, per_shard: int) -> tuple[str, list[Path]]:
    rng = np.random.default_rng(0)
    with atdata.ShardWriter(str(folder / "frames-%06d.tar"), maxcount=per_shard) as sink:
        for i in range(count):
            sink.write(
                Frame(
                    image=rng.random((64, 64), dtype=np.float32),
                    label=f"frame {i}",
                    index=i,
                    t=i * 0.04,
                    ok=i % 2 == 0,
                    scale=None if i % 3 else 0.5,
                    meta={"session": i // 100, "rig": "b2", "gains": [1, 2]},
                )
            )
    paths = [Path(p) for p in sink.shards]
    pattern = str(folder / f"frames-{{000000..{len(paths) - 1:06d}}}.tar")
    return pattern, paths


Measure = Callable[[], tuple[float, float | None]]
"""One run of a reader: samples per second, and CPU microseconds per sample (every thread of this
process, when it ran here)."""


def timed(run: Callable[[], int], before: Callable[[], None] | None = None) -> Measure:
    def measure() -> tuple[float, float | None]:
        if before is not None:
            before()  # untimed: a new process has no earlier run's mappings to tear down
        start, cpu = time.perf_counter(), time.process_time()
        n = run()
        return n / (time.perf_counter() - start), (time.process_time() - cpu) / n * 1e6

    return measure


def ours(pattern: str) -> Callable[[], int]:
    def run() -> int:
        return sum(1 for _ in atdata.Dataset[Frame](pattern).ordered())

    return run


def ours_batched(pattern: str) -> Callable[[], int]:
    def run() -> int:
        n = 0
        for batch in atdata.Dataset[Frame](pattern).ordered(batch_size=64):
            n += batch.image.shape[0]
        return n

    return run


def _array(raw: bytes) -> np.ndarray:
    dlen = raw[0]
    ndim = raw[dlen + 1]
    offset = dlen + 2 + 8 * ndim
    shape = np.frombuffer(raw, "<u8", ndim, dlen + 2)
    return np.frombuffer(raw, raw[1 : dlen + 1].decode(), offset=offset).reshape(shape)


def webdataset_floor(pattern: str) -> Callable[[], int]:
    def run() -> int:
        n = 0
        for sample in wds.WebDataset(pattern, shardshuffle=False, empty_check=False):
            d = msgpack.unpackb(sample["msgpack"])
            d["image"] = _array(d["image"])
            n += 1
        return n

    return run


def raw_bytes(paths: list[Path], count: int) -> Callable[[], int]:
    def run() -> int:
        buf = bytearray(8 << 20)
        for p in paths:
            with open(p, "rb", buffering=0) as f:
                while f.readinto(buf):
                    pass
        return count

    return run


def legacy(python: str | None, pattern: str) -> tuple[Measure | None, str]:
    if not python:
        return None, "skipped: pass --legacy-python or set ATDATA_LEGACY_PYTHON to a 3.12 venv's python"
    if not Path(python).exists():
        return None, f"skipped: {python} does not exist"

    def measure() -> tuple[float, float | None]:
        proc = subprocess.run(
            [python, "-c", LEGACY_READER, pattern, "1"],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
        )
        if proc.returncode != 0:
            raise RuntimeError("atdata 0.7.0b1 failed: " + proc.stderr.strip().splitlines()[-1])
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        return float(result["samples"] / result["seconds"]), None

    return measure, ""


def start_busy(n: int) -> list[subprocess.Popen[bytes]]:
    """N processes that each keep one core busy until stopped."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def signal_all(procs: list[subprocess.Popen[bytes]], sig: signal.Signals) -> None:
    for proc in procs:
        proc.send_signal(sig)


def cpu_seconds(pids: list[int]) -> float | None:
    """CPU time of processes ``pids`` so far (Linux: /proc), or None where it cannot be read."""
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total if pids else None


def core_speeds(tries: int = 3, steps: int = 2_000_000) -> dict[int, list[float]] | None:
    """CPU milliseconds of the same Python loop on each CPU this process may use, ``tries`` times
    each (Linux): the same work should take the same time, so a spread means the host slowed the
    cores meanwhile (a busy sibling thread, a lower clock), and every ratio taken then moves."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    allowed = os.sched_getaffinity(0)
    out: dict[int, list[float]] = {cpu: [] for cpu in sorted(allowed)}
    try:
        for _ in range(tries):
            for cpu in out:
                os.sched_setaffinity(0, {cpu})
                out[cpu].append(1e3 * _loop_cpu(steps))
    finally:
        os.sched_setaffinity(0, allowed)
    return out


def _speeds_line(before: dict[int, list[float]] | None, after: dict[int, list[float]] | None) -> str:
    if before is None or after is None:
        return "core steadiness: not measured here (needs sched_setaffinity)"
    tries = len(next(iter(before.values())))
    spans = ", ".join(
        f"CPU {cpu} {min(before[cpu] + after[cpu]):.0f}-{max(before[cpu] + after[cpu]):.0f} ms"
        for cpu in before
    )
    return (
        f"core steadiness: the same Python loop, {tries} times on each CPU before the loaders and after, "
        f"took {spans} of CPU time (a spread is the host slowing a core; the ratios move with it)"
    )


LoaderResult = tuple[float, float, float | None, float]
"""Samples/s of a DataLoader's best epoch; the least CPU microseconds per batch of any epoch in the
main process and in its workers (None where the workers' CPU cannot be read); samples/s of its
median epoch."""


def loaders(
    pattern: str, counts: tuple[int, ...], epochs: int, batch: int
) -> tuple[dict[int, LoaderResult], dict[int, LoaderResult]] | None:
    """Rows (f) and (h): a DataLoader for each worker count in ``counts`` over our batches, and over
    the same batches made in the workers but handed to the main process as their sizes. Each is
    warmed up by one epoch, then all their epochs are taken in turns (``epochs`` rounds): a burst of
    load elsewhere on the machine then spoils one epoch of each rather than every epoch of one, and
    the ratios of their best epochs hold."""
    if torch_data is None:
        return None
    source = atdata.Dataset[Frame](pattern).to_torch(batch_size=batch, tensors=True)
    timed = _timed_loaders({"f": source, "h": Unsent(source)}, counts, epochs, _batch_size)
    return timed["f"], timed["h"]


def _batch_size(item: Any) -> int:
    """Samples in an item of (f) (a batch) or of (h) (a batch's size)."""
    return item if type(item) is int else int(item["index"].shape[0])


class Unsent(torch_data.IterableDataset if torch_data is not None else object):  # type: ignore[misc]
    """Row (h): ``source``'s batches made in each worker as for (f) (read, decoded, packed into the
    worker's shared block), then dropped there: the main process gets each batch's size, a bare
    integer, so it does only torch's own work per item. What two workers reach over it is what
    the workers' work allows here, whatever a batch carries to the main process."""

    def __init__(self, source: Any) -> None:
        self.source = source

    def __iter__(self) -> Any:
        for item in self.source:
            yield _batch_size(item)


class Spinning(torch_data.IterableDataset if torch_data is not None else object):  # type: ignore[misc]
    """``items`` bare integers split between the workers, each costing its worker ``steps`` steps of
    a Python loop: a dataset whose items cost the main process only torch's own work per item."""

    def __init__(self, items: int, steps: int) -> None:
        self.items, self.steps = items, steps

    def __iter__(self) -> Any:
        info = torch_data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for i in range(worker, self.items, workers):
            _loop(self.steps)
            yield i


def _loop(steps: int) -> int:
    total = 0
    for i in range(steps):
        total += i
    return total


def _loop_cpu(steps: int) -> float:
    """CPU seconds this thread took for ``steps`` steps of :func:`_loop`."""
    start = time.thread_time()
    _loop(steps)
    return time.thread_time() - start


def loop_steps(microseconds: float, tries: int = 5, probe: int = 200_000) -> int:
    """How many steps of :func:`_loop` take ``microseconds`` of CPU here, at the fastest of ``tries``
    runs: a fixed amount of work, which takes longer when the host slows a core, as a batch does
    (a spin for a fixed CPU time would not)."""
    best = min(_loop_cpu(probe) for _ in range(tries))
    return max(1, round(probe * microseconds / 1e6 / best))


def torch_floor(
    items: int, work_us: float, counts: tuple[int, ...], epochs: int, batch: int
) -> dict[int, LoaderResult]:
    """Row (g): the DataLoader over :class:`Spinning` items of ``work_us`` each (on an unslowed core),
    each standing for a batch of ``batch``."""
    spinning = Spinning(items, loop_steps(work_us))
    return _timed_loaders({"g": spinning}, counts, epochs, lambda item: batch)["g"]


def _timed_loaders(
    sources: dict[str, Any], counts: tuple[int, ...], epochs: int, samples: Callable[[Any], int]
) -> dict[str, dict[int, LoaderResult]]:
    loader = torch_data.DataLoader
    made = {
        (name, w): loader(source, batch_size=None, num_workers=w, persistent_workers=True)
        for name, source in sources.items()
        for w in counts
    }
    best = {key: (0.0, float("inf"), float("inf")) for key in made}
    rates: dict[tuple[str, int], list[float]] = {key: [] for key in made}
    for epoch in range(epochs + 1):
        for key, load in made.items():
            rate, main_cpu, worker_cpu = _epoch(load, samples)
            if epoch:  # the first is the warm-up: workers started, shards opened and verified
                was = best[key]
                best[key] = (max(was[0], rate), min(was[1], main_cpu), min(was[2], worker_cpu))
                rates[key].append(rate)
    del made
    return {
        name: {
            w: (rate, main, None if worker == float("inf") else worker, statistics.median(rates[(of, w)]))
            for (of, w), (rate, main, worker) in best.items()
            if of == name
        }
        for name in sources
    }


def _epoch(load: Any, samples: Callable[[Any], int]) -> tuple[float, float, float]:
    """One epoch of ``load``: samples/s, and CPU microseconds per batch of this process and of the
    workers (inf where the workers' CPU cannot be read)."""
    batches = iter(load)
    pids = [w.pid for w in getattr(batches, "_workers", [])]  # torch's own worker processes
    before = cpu_seconds(pids)
    start, cpu, count, n = time.perf_counter(), time.process_time(), 0, 0
    for item in batches:
        n += samples(item)
        count += 1
    rate = n / (time.perf_counter() - start)
    main_cpu = 1e6 * (time.process_time() - cpu) / count
    after = cpu_seconds(pids)
    worker_cpu = float("inf") if before is None or after is None else 1e6 * (after - before) / count
    return rate, main_cpu, worker_cpu


def _start_method() -> str:
    import torch.multiprocessing

    return str(torch.multiprocessing.get_start_method())


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--per-shard", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--legacy-python", default=os.environ.get("ATDATA_LEGACY_PYTHON"))
    parser.add_argument(
        "--busy", type=int, default=0, help="CPU-bound processes to run beside the readers (default 0)"
    )
    parser.add_argument("--no-loader", action="store_true", help="skip the torch DataLoader table")
    parser.add_argument(
        "--loader-only", action="store_true", help="only the DataLoader table (no readers, no busy processes)"
    )
    parser.add_argument("--loader-batch", type=int, default=64, help="DataLoader batch size (default 64)")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    busy: list[subprocess.Popen[bytes]] = []
    timed_loaders: dict[int, LoaderResult] | None = None
    unsent_loaders: dict[int, LoaderResult] | None = None
    speeds_before = speeds_after = None
    floor_loaders: dict[int, LoaderResult] | None = None
    with tempfile.TemporaryDirectory(prefix="atdata-bench-") as tmp:
        pattern, paths = write_shards(Path(tmp), args.samples, args.per_shard)
        size_mb = sum(p.stat().st_size for p in paths) / 1e6
        raw_bytes(paths, args.samples)()  # into the page cache
        busy = [] if args.loader_only else start_busy(args.busy)
        best: dict[str, tuple[float, float | None]] = {}
        readers: list[tuple[str, Measure | None, str]] = []
        try:
            if not args.loader_only:
                best, readers = run_readers(args, pattern, paths)
            if not args.no_loader:
                signal_all(busy, signal.SIGSTOP)
                speeds_before = core_speeds()
                both = loaders(pattern, (1, 2), args.repeat, args.loader_batch)
                timed_loaders, unsent_loaders = both if both is not None else (None, None)
                one_worker_cpu = timed_loaders[1][2] if timed_loaders else None
                if one_worker_cpu is not None:
                    items = -(-args.samples // args.loader_batch)
                    floor_loaders = torch_floor(items, one_worker_cpu, (1, 2), args.repeat, args.loader_batch)
                speeds_after = core_speeds()
                signal_all(busy, signal.SIGCONT)
        finally:
            for proc in busy:
                proc.kill()
                proc.wait()
    load_after = os.getloadavg()[0]

    print(f"load average {load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} CPUs")
    if readers:
        floor = best["(b)  webdataset + msgpack"][0]
        print(
            f"read throughput: {args.samples:,} samples (one 64x64 float32 array + 6 scalar fields) in "
            f"{len(paths)} shards ({size_mb:.0f} MB); best of {args.repeat} interleaved runs"
        )
        print(
            f"setup: {args.busy} CPU-bound busy process(es) running beside the readers"
            if args.busy
            else "setup: no busy process started (pass --busy 1 to read beside a CPU-bound process)"
        )
        print(f"{'reader':38s} {'samples/s':>12s} {'vs (b)':>8s} {'CPU us/sample':>14s}")
        for name, measure, note in readers:
            if measure is None:
                print(f"{name:38s} {'-':>12s} {'-':>8s}  {note}")
            else:
                rate, cpu = best[name]
                spent = "-" if cpu is None else f"{cpu:.2f}"
                print(f"{name:38s} {rate:12,.0f} {rate / floor:7.1f}x {spent:>14s}")
        print(
            "CPU us/sample: every thread of this process, least of the runs (the busy process not "
            "counted); less sensitive to other load than samples/s"
        )
        print("goal (issue 18): first read >= 3.0x, later epochs >= 5.0x (b), beside a busy process")
    if not args.no_loader:
        if readers:
            print()
        print(
            f"torch DataLoader over the same {args.samples:,} samples in {len(paths)} shards: "
            f"to_torch(batch_size={args.loader_batch}, tensors=True) in DataLoader(batch_size=None), "
            f"persistent workers, start method {_start_method() if timed_loaders else '-'}; best of "
            f"{args.repeat} epochs after a warm-up (median: the ratio of the median epochs), the loaders' "
            "epochs taken in turns; busy processes paused"
        )
        if timed_loaders is None:
            print("skipped: torch is not installed (pip install 'atdata[torch]')")
        else:
            one, two = timed_loaders[1], timed_loaders[2]
            print(
                f"{'loader':38s} {'samples/s':>12s} {'vs 1':>8s} {'median':>8s} {'main CPU/batch':>15s} "
                f"{'workers CPU/batch':>18s}"
            )
            for label, rows in (
                ("(f)  DataLoader", timed_loaders),
                ("(g)  torch alone", floor_loaders),
                ("(h)  (f), batches not sent", unsent_loaders),
            ):
                if rows is None:
                    continue
                base, base_median = rows[1][0], rows[1][3]
                for w, (rate, main_cpu, worker_cpu, median) in rows.items():
                    name = f"{label}, {w} worker{'s' if w > 1 else ''}"
                    spent = "-" if worker_cpu is None else f"{worker_cpu:,.0f} us"
                    print(
                        f"{name:38s} {rate:12,.0f} {rate / base:7.2f}x {median / base_median:7.2f}x "
                        f"{main_cpu:12,.0f} us {spent:>18s}"
                    )
            if one[2] is not None:
                # Two workers and the main process share two cores: per batch, a worker's CPU W and
                # the main process's M, so two workers reach at most 2W / (W + M) of one.
                bound = 2 * one[2] / (one[2] + two[1])
                print(
                    f"CPU per batch, least of the epochs: one worker {one[2]:,.0f} us, the main process "
                    f"beside two {two[1]:,.0f} us: two workers on 2 cores reach at most {bound:.2f}x"
                )
            if floor_loaders is not None:
                print(
                    f"(g): items that are bare integers, each {one[2]:,.0f} us of a Python loop in its "
                    "worker (one batch of (f)'s one worker, on an unslowed core): torch's own work per "
                    "item in the main process, and what two workers reach over it on this machine"
                )
            if unsent_loaders is not None:
                print(
                    "(h): (f)'s workers making the same batches, each dropped in its worker and its size "
                    "(a bare integer) sent instead: what (f)'s workers reach with nothing to hand over, "
                    "taken in turns with (f)"
                )
            print(_speeds_line(speeds_before, speeds_after))
            print("goal (issue 18): 2 workers >= 1.70x one worker")
    return 0


def run_readers(
    args: argparse.Namespace, pattern: str, paths: list[Path]
) -> tuple[dict[str, tuple[float, float | None]], list[tuple[str, Measure | None, str]]]:
    legacy_measure, legacy_note = legacy(args.legacy_python, pattern)
    folder = paths[0].parent / "many"
    folder.mkdir()
    many_pattern, many = write_shards(folder, args.samples, max(1, args.per_shard // 4))
    raw_bytes(many, args.samples)()  # into the page cache
    readers: list[tuple[str, Measure | None, str]] = [
        ("(a)  atdata ordered(), first read", timed(ours(pattern), forget_verified), ""),
        ("(a') atdata ordered(), later epochs", timed(ours(pattern)), ""),
        (f"(a2) first read, {len(many)} shards", timed(ours(many_pattern), forget_verified), ""),
        ("(b)  webdataset + msgpack", timed(webdataset_floor(pattern)), ""),
        ("(c)  atdata 0.7.0b1 (py3.12)", legacy_measure, legacy_note),
        ("(d)  atdata ordered(batch_size=64)", timed(ours_batched(pattern), forget_verified), ""),
        ("(e)  raw shard bytes, page cache", timed(raw_bytes(paths, args.samples)), ""),
    ]
    # Round-robin, best of each: a burst of load elsewhere on the machine then spoils one run
    # of every reader rather than every run of one.
    best: dict[str, tuple[float, float | None]] = {name: (0.0, None) for name, _, _ in readers}
    for _ in range(args.repeat):
        for name, measure, _ in readers:
            if measure is not None:
                rate, cpu = measure()
                least = best[name][1]
                best[name] = (
                    max(best[name][0], rate),
                    cpu if least is None else least if cpu is None else min(least, cpu),
                )
    return best, readers


if __name__ == "__main__":
    sys.exit(main())
