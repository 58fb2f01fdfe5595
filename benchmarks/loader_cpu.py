"""Where a torch DataLoader's time goes on this machine: CPU, sleeps and preemptions per process.

    python benchmarks/loader_cpu.py [--epochs 6]

Issue 18 asks two DataLoader workers for 1.7x one. This shows what stands between them, with the
same workload as ``read_throughput.py``'s table (20,000 samples in 10 shards,
``to_torch(batch_size=64, tensors=True)``, ``DataLoader(batch_size=None)``, persistent workers):

  baseline  the workers' own work outside a DataLoader: one process running
            ``Dataset.ordered(batch_size=64)`` over half the shards, then two such processes at
            once over a half each. Their CPU per batch says whether two readers slow each other
            on these cores at all.
  loader    the DataLoader with 1 and 2 workers, its epochs taken in turns. Per epoch and process,
            read from ``/proc``: CPU time, how often the process's main thread went to sleep
            (voluntary switches: for a worker, waiting for its next index while torch delivers in
            order) and how often a process was preempted (involuntary switches: mostly the main
            process's wake-ups on the workers' cores). Medians over the epochs.

The CPU columns come from ``/proc/<pid>/stat`` in clock ticks (10 ms), summed over an epoch.
Linux only.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import atdata

sys.path.insert(0, str(Path(__file__).parent))
from read_throughput import Frame, cpu_seconds, write_shards  # the same samples, shards, /proc reading


def _counts(pid: int) -> tuple[float, int, int]:
    """CPU seconds of process ``pid`` so far, how often any of its threads was preempted, and how
    often its main thread went to sleep."""
    cpu = cpu_seconds([pid])
    if cpu is None:
        raise RuntimeError(f"cannot read /proc/{pid}/stat")
    preempted = sleeps = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                status = dict(line.split(":\t", 1) for line in f.read().splitlines() if ":\t" in line)
        except OSError:  # the thread ended meanwhile
            continue
        preempted += int(status["nonvoluntary_ctxt_switches"])
        if tid == str(pid):
            sleeps = int(status["voluntary_ctxt_switches"])
    return cpu, preempted, sleeps


def _read_batches(pattern: str, rounds: int, out: Any) -> None:
    dataset = atdata.Dataset[Frame](pattern)
    for _ in dataset.ordered(batch_size=64):  # warm: mapped and verified
        pass
    best = float("inf")
    for _ in range(rounds):
        cpu, n = time.process_time(), 0
        for _ in dataset.ordered(batch_size=64):
            n += 1
        best = min(best, (time.process_time() - cpu) / n)
    out.put(best * 1e6)


def baseline(folder: Path, shards: int, rounds: int) -> tuple[float, list[float]]:
    """CPU us per batch of one batched reader alone, and of two at once (least of ``rounds``)."""
    context = multiprocessing.get_context("fork")
    half = shards // 2
    first = str(folder / f"frames-{{000000..{half - 1:06d}}}.tar")
    second = str(folder / f"frames-{{{half:06d}..{shards - 1:06d}}}.tar")
    out = context.Queue()
    alone = context.Process(target=_read_batches, args=(first, rounds, out))
    alone.start()
    alone.join()
    one = out.get()
    pair = [context.Process(target=_read_batches, args=(p, rounds, out)) for p in (first, second)]
    for p in pair:
        p.start()
    for p in pair:
        p.join()
    return one, [out.get(), out.get()]


Row = dict[str, list[float]]


def loader_epochs(pattern: str, epochs: int) -> dict[int, Row]:
    from torch.utils.data import DataLoader

    source = atdata.Dataset[Frame](pattern).to_torch(batch_size=64, tensors=True)
    loads = {w: DataLoader(source, batch_size=None, num_workers=w, persistent_workers=True) for w in (1, 2)}
    rows: dict[int, Row] = {w: {} for w in loads}
    for epoch in range(epochs + 1):
        for w, load in loads.items():
            batches = iter(load)
            pids = [os.getpid(), *(p.pid for p in batches._workers)]
            before = [_counts(p) for p in pids]
            start, count = time.perf_counter(), 0
            for _ in batches:
                count += 1
            wall = time.perf_counter() - start
            after = [_counts(p) for p in pids]
            if not epoch:  # the warm-up
                continue
            row = rows[w]
            row.setdefault("wall ms", []).append(1e3 * wall)
            row.setdefault("batches", []).append(count)
            names = ["main process", *(f"worker {i}" for i in range(w))]
            for name, b, a in zip(names, before, after, strict=True):
                row.setdefault(f"{name} CPU ms", []).append(1e3 * (a[0] - b[0]))
                row.setdefault(f"{name} main-thread sleeps", []).append(a[2] - b[2])
                row.setdefault(f"{name} preemptions", []).append(a[1] - b[1])
    del loads
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=20_000)
    parser.add_argument("--per-shard", type=int, default=2_000)
    parser.add_argument("--epochs", type=int, default=6)
    args = parser.parse_args()
    if not os.path.isdir("/proc/self/task"):
        print("needs Linux's /proc")
        return 1
    with tempfile.TemporaryDirectory(prefix="atdata-bench-") as tmp:
        pattern, paths = write_shards(Path(tmp), args.samples, args.per_shard)
        one, two = baseline(Path(tmp), len(paths), args.epochs)
        try:
            rows = loader_epochs(pattern, args.epochs)
        except ModuleNotFoundError:
            rows = None
    print(f"load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs")
    print(
        f"baseline: ordered(batch_size=64) over {len(paths) // 2} shards, "
        f"CPU per batch (least of {args.epochs})"
    )
    print(f"  one process alone            {one:7.0f} us")
    print(
        f"  two processes at once        {two[0]:7.0f} us / {two[1]:.0f} us  "
        f"({max(two) / one:.2f}x the one alone)"
    )
    if rows is None:
        print("loader: skipped, torch is not installed")
        return 0
    print(f"DataLoader, medians of {args.epochs} epochs each (taken in turns)")
    for w, row in rows.items():
        print(f"  {w} worker{'s' if w > 1 else ''}")
        for name, values in row.items():
            print(f"    {name:34s} {statistics.median(values):10,.0f}")
    one_cpu = statistics.median(rows[1]["worker 0 CPU ms"])
    two_cpu = sum(statistics.median(rows[2][f"worker {i} CPU ms"]) for i in (0, 1))
    print(
        f"workers' CPU for the epoch: {one_cpu:,.0f} ms with one, {two_cpu:,.0f} ms with two "
        f"({two_cpu / one_cpu:.2f}x): what two workers spend beyond one on the same batches"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
