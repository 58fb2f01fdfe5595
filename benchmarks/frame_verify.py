"""CPU per firehose frame verified, in the ingest's own functions, without the websocket or the store.

The replay is ``appview_ingest.py``'s (real signed repositories: secp256k1 keys, MST, CAR, DAG-CBOR;
by default the ours-heavy mix, 20,000 events from 200 authors). DID documents come from a PLC
directory on loopback through the appview's ``IdentityResolver``, fetched once before timing (the
ingest caches them per DID). Each row is one pass over every frame on this thread, best of
``--repeat``, with the long-lived objects frozen out of the collector as the ingest process does.

Baseline in the same run: atproto's own parser (``Frame.from_bytes``, then its pydantic model of each
frame the ingest would read further), which the ingest used before ``parse_frame``. The floor:
``libipld``'s decode of the frame's two DAG-CBOR values.

    python benchmarks/frame_verify.py [--events 20000] [--authors 200] [--mix ours-heavy] [--repeat 5]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import libipld
from atproto_firehose import parse_subscribe_repos_message
from atproto_subscription.frames import Frame

from atdata.network.identity import IdentityResolver
from atdata_appview.ingest.events import SkippedEvent
from atdata_appview.ingest.frames import parse_frame, verify_frame

sys.path.insert(0, str(Path(__file__).resolve().parent))
from appview_ingest import MIXES, Network, build_replay


def best_cpu(run: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--authors", type=int, default=200)
    parser.add_argument("--mix", choices=sorted(MIXES), default="ours-heavy")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    frames, docs, _ = build_replay(args.events, args.authors, MIXES[args.mix])
    # The frames atproto's models were asked to parse: those parse_frame does not skip unread.
    read_further = [raw for raw in frames if not isinstance(parse_frame(raw), SkippedEvent)]
    network = Network(frames, docs)
    identities = IdentityResolver(network.directory)
    try:
        for did in docs:
            identities.resolve(did)
        gc.collect()
        gc.freeze()

        def atproto_parser() -> None:
            for raw in frames:
                Frame.from_bytes(raw)
            for raw in read_further:
                parse_subscribe_repos_message(Frame.from_bytes(raw))  # type: ignore[arg-type]

        def each(step: Callable[[bytes], object]) -> Callable[[], None]:
            def run() -> None:
                for raw in frames:
                    step(raw)

            return run

        rows = [
            ("floor: libipld decode of each frame", each(libipld.decode_dag_cbor_multi)),
            ("baseline: atproto's parser (Frame + models)", atproto_parser),
            ("parse_frame", each(parse_frame)),
            (
                "parse_frame + verify_frame (every check)",
                each(lambda raw: verify_frame(parse_frame(raw), identities)),
            ),
        ]
        results = [(label, best_cpu(run, args.repeat)) for label, run in rows]
    finally:
        identities.close()
        network.close()
    base = results[1][1]
    print(f"\n{args.mix}: {len(frames)} frames, {len(read_further)} read past the header and op paths")
    print(f"{'path':<46} {'CPU s':>7} {'µs/frame':>9} {'frames/CPU-s':>13} {'vs base':>8}")
    for label, cpu in results:
        print(
            f"{label:<46} {cpu:>7.3f} {cpu / len(frames) * 1e6:>9.2f} {len(frames) / cpu:>13,.0f} "
            f"{base / cpu:>7.2f}x"
        )
    print(f"\nbest of {args.repeat} passes; load average (1, 5, 15 min): {os.getloadavg()}")


if __name__ == "__main__":
    main()
