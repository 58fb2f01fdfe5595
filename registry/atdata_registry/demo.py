"""``atdata demo``: the whole network on one machine, in one command.

1. Start the official PDS and PLC directory on loopback (installed on first use).
2. Create two accounts: ``alice.test``, who publishes the starter catalog (without its shortcut
   lenses), and ``mallory.test``, an untrusted author who publishes a competing one-hop lens from
   ``Frame`` straight to ``BathApplicationFrame`` between Alice's schemas.
3. Start an appview on SQLite that follows the PDS's firehose and indexes, verifies and graphs it all.
4. Write shards of the generic ``Frame`` type, serve them over loopback HTTP, and publish a dataset
   record for them from Alice's repository.
5. As a consumer who trusts Alice only: resolve ``BathApplicationFrame``, open the dataset by its
   at-uri and read it as ``BathApplicationFrame``. Mallory's one-hop lens is the shortest path
   overall, but it is untrusted, so the trusted three-hop path
   ``Frame -> ImagingFrame -> AstrocyteRecordingFrame -> BathApplicationFrame`` is taken.
6. Print a report and write a picture of the path taken; stop everything.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import http.server
import json
import os
import secrets
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from atdata.errors import AtdataError

TRUSTED_HANDLE = "alice.test"
UNTRUSTED_HANDLE = "mallory.test"
DATASET_NAME = "bath-application-demo"
TARGET = "BathApplicationFrame"


class DemoError(AtdataError):
    """A step of the demo failed; the message names the step."""


@dataclass
class Report:
    lines: list[tuple[str, str]] = field(default_factory=list)

    def add(self, key: str, value: object) -> None:
        self.lines.append((key, str(value)))
        print(f"  {key:<28} {value}", flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _step(title: str) -> Iterator[None]:
    print(f"\n== {title}", flush=True)
    started = time.perf_counter()
    try:
        yield
    except AtdataError as e:
        raise DemoError(f"{title}: {e}") from e
    print(f"   ({time.perf_counter() - started:.1f} s)", flush=True)


@contextlib.contextmanager
def _serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` over HTTP on loopback (the shards' "remote" host)."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="shard server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def _appview(db: Path, pds: str, plc: str, log_file: Path) -> Iterator[str]:
    """Run ``atdata appview serve`` as its own process, following the PDS."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [
        sys.executable, "-m", "atdata.cli.main", "appview", "serve",
        "--db", f"sqlite:///{db}", "--port", str(port), "--pds", pds, "--plc", plc,
    ]  # fmt: skip
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_for(lambda: _answers(f"{url}/xrpc/dev.atdata.describeService"), 60, "the appview to start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")


def _indexed(appview: str, lenses: int, datasets: int) -> bool:
    try:
        counts = httpx.get(f"{appview}/xrpc/dev.atdata.describeService", timeout=2).json().get("counts", {})
    except (httpx.HTTPError, ValueError):
        return False
    return int(counts.get("lenses", 0)) >= lenses and int(counts.get("datasets", 0)) >= datasets


def run(out: Path, *, frames: int = 240, frames_per_shard: int = 60, size: int = 64) -> Report:
    """Run the demo, writing shards, databases, logs and the picture under ``out``."""
    import atdata
    from atdata.catalog import SHORTCUT_LENSES, examples, select
    from atdata.lenses import Lens
    from atdata.lenses.extract import extract_source
    from atdata.trust import TrustPolicy
    from atdata_registry.devstack import stack as devstack
    from atdata_registry.publish import Publisher
    from atdata_registry.session import create_session

    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    # The demo keeps its config (trust list, caches) to itself, never touching the user's.
    os.environ["ATDATA_CONFIG_DIR"] = str(out / "config")
    os.environ["ATDATA_CACHE_DIR"] = str(out / "cache")
    report = Report()
    stack = None
    try:
        with _step("starting the official PDS and PLC directory on loopback"):
            stack = devstack.start(out / "devstack")
            report.add("PDS", stack.pds)
            report.add("PLC directory", stack.plc)

        passwords = {h: secrets.token_urlsafe(16) for h in (TRUSTED_HANDLE, UNTRUSTED_HANDLE)}
        with _step("creating two authors"):
            dids = {h: stack.create_account(h, passwords[h]) for h in passwords}
            for h, did in dids.items():
                report.add(h, did)

        with _step("starting the appview (SQLite) following the PDS"), contextlib.ExitStack() as services:
            pass  # opened below so that it outlives this step

        services = contextlib.ExitStack()
        with services:
            appview = services.enter_context(
                _appview(out / "appview.db", stack.pds, stack.plc, out / "appview.log")
            )
            report.add("appview", appview)
            atdata.configure(appview=appview, plc=stack.plc, pds=stack.pds)

            alice = services.enter_context(
                create_session(TRUSTED_HANDLE, passwords[TRUSTED_HANDLE], pds=stack.pds, plc=stack.plc)
            )
            with _step(f"{TRUSTED_HANDLE} publishes the starter catalog (without shortcuts)"):
                types, lenses = select(shortcuts=False)
                publisher = Publisher(alice, progress=False)
                for cls in types:
                    publisher.publish_schema(cls)
                for lens in lenses:
                    publisher.publish_lens(lens)
                report.add("records published", len({p.uri for p in publisher.results}))

            with _step("writing Frame shards and serving them over loopback HTTP"):
                shard_dir = out / "shards"
                shard_dir.mkdir(exist_ok=True)
                for old in shard_dir.glob("frames-*"):
                    old.unlink()
                samples = examples.bath_application_frames(
                    movies=max(1, frames // 60), frames_per_movie=min(frames, 60), size=size
                )
                with atdata.ShardWriter(str(shard_dir / "frames-%06d.tar"), maxcount=frames_per_shard) as sink:
                    for sample in samples:
                        sink.write(sample)
                n_shards = len(list(shard_dir.glob("frames-*.tar")))
                host = services.enter_context(_serve_directory(shard_dir))
                pattern = f"{host}/frames-{{{0:06d}..{n_shards - 1:06d}}}.tar"
                report.add("shards", f"{n_shards} x {frames_per_shard} samples at {pattern}")
                frame_cls = next(c for c in types if c.__name__ == "Frame")
                dataset = publisher.publish_dataset(name=DATASET_NAME, schema=frame_cls, urls=pattern)
                report.add("dataset record", dataset.uri)

            mallory = services.enter_context(
                create_session(UNTRUSTED_HANDLE, passwords[UNTRUSTED_HANDLE], pds=stack.pds, plc=stack.plc)
            )
            with _step(f"{UNTRUSTED_HANDLE} publishes a competing one-hop lens between Alice's schemas"):
                alice_frame = atdata.resolve(f"{TRUSTED_HANDLE}/Frame")
                alice_bath = atdata.resolve(f"{TRUSTED_HANDLE}/{TARGET}")
                shortcut = next(lens for lens in SHORTCUT_LENSES if lens.target.__name__ == TARGET)
                competing = Lens.from_source(
                    extract_source(shortcut), source=alice_frame, target=alice_bath, name=shortcut.name
                )
                published = Publisher(mallory, progress=False).publish_lens(competing)
                report.add("competing lens", published.uri)

            with _step("waiting for the appview to index both repositories"):
                _wait_for(lambda: _indexed(appview, len(lenses) + 1, 1), 60, "the appview to index")

            with _step(f"a consumer who trusts {TRUSTED_HANDLE} reads the dataset as {TARGET}"):
                policy = TrustPolicy().with_author(dids[TRUSTED_HANDLE], TRUSTED_HANDLE)
                target = atdata.resolve(TARGET, trust=policy)
                report.add("resolved", f"{target.__name__} {target.__atdata_ref__['uri']}")
                ds = atdata.Dataset(dataset.uri)
                coerced = ds.as_type(target, trust=policy)
                started = time.perf_counter()
                compounds: collections.Counter[str] = collections.Counter()
                count = 0
                first = None
                for sample in coerced.ordered(batch_size=None):
                    first = first or sample
                    compounds[sample.applied_compound] += 1
                    count += 1
                elapsed = time.perf_counter() - started
                report.add("samples read", f"{count} in {elapsed:.2f} s ({count / elapsed:,.0f} samples/s)")
                report.add("compounds", dict(sorted(compounds.items())))
                report.add("first sample", first)
                hops = coerced.lens_path if hasattr(coerced, "lens_path") else []
                report.add("path taken", " -> ".join(h for h in hops) or "(see the picture)")

            with _step("writing a picture of the path taken"):
                picture = out / "path.svg"
                _write_path_picture(appview, dataset, target, policy, picture)
                report.add("picture", picture)
    finally:
        if stack is not None:
            with _step("stopping the PDS and PLC directory"):
                devstack.stop(out / "devstack")
    return report


def _write_path_picture(appview: str, dataset: Any, target: type, policy: Any, picture: Path) -> None:
    raise NotImplementedError


def main(out: Path) -> int:
    report = run(out)
    (out / "report.json").write_text(json.dumps(dict(report.lines), indent=2) + "\n", encoding="utf-8")
    return 0
