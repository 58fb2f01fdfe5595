"""``atdata demo``: the whole network on one machine, in one command.

1. Start the official PDS and PLC directory on loopback (installed on first use).
2. Create two accounts: ``alice.test``, who publishes the starter catalog (without its shortcut
   lenses), and ``mallory.test``, an untrusted author who publishes a competing one-hop lens from
   ``Frame`` straight to ``BathApplicationFrame`` between Alice's schemas.
3. Start an appview on SQLite that follows the PDS's firehose and indexes, verifies and graphs it all.
4. Write shards of the generic ``Frame`` type and of ``UncagingFrame`` (a second experiment, stored
   in another type), serve them over loopback HTTP, and publish a dataset record for each from
   Alice's repository.
5. As a consumer who trusts Alice only: resolve ``BathApplicationFrame``, open the dataset by its
   at-uri and read it as ``BathApplicationFrame``. Mallory's one-hop lens is the shortest path
   overall, but it is untrusted, so the trusted three-hop path
   ``Frame -> ImagingFrame -> AstrocyteRecordingFrame -> BathApplicationFrame`` is taken.
6. Write a picture of the path taken.
7. The hive: ``atdata.find_datasets`` lists every dataset readable as the shared ``ImagingFrame``
   through trusted lenses (the Frames and the uncaging frames, one hop each), and
   ``atdata.interleave`` reads both as one stream; each sample's ``atdata.provenance`` gives the mix.
8. Print a report; stop everything.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import http.server
import json
import os
import secrets
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
from atdata.lexicon.nsid import DESCRIBE_SERVICE
from atdata.network.loopback import free_port
from atdata.network.refs import AtUri

TRUSTED_HANDLE = "alice.test"
UNTRUSTED_HANDLE = "mallory.test"
DATASET_NAME = "bath-application-demo"
UNCAGING_DATASET = "uncaging-demo"
TARGET = "BathApplicationFrame"
SHARED = "ImagingFrame"
"""The frame type both demo datasets reach: read together, they are one stream of it."""
UNCAGED = ("gaba", "glu", "laser_only")


class DemoError(AtdataError):
    """A step of the demo failed; the message names the step."""


@dataclass
class Report:
    """What the demo found: each entry a JSON value (``report.json``), printed as it is added."""

    lines: list[tuple[str, Any]] = field(default_factory=list)

    def add(self, key: str, value: object, text: str | None = None) -> None:
        self.lines.append((key, _jsonable(value)))
        print(f"  {key:<28} {text if text is not None else value}", flush=True)


def _jsonable(value: object) -> Any:
    """A JSON value for ``value``: containers element-wise, a sample as its fields (arrays by dtype and
    shape), a path as text."""
    import numpy as np

    from atdata.types.packable import is_packable, spec_of

    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, np.ndarray):
        return {"dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if is_packable(type(value)):
        return {f.name: _jsonable(getattr(value, f.name)) for f in spec_of(value).fields}
    return str(value)


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


def _wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise DemoError(f"timed out after {timeout:.0f} s waiting for {what}")


@contextlib.contextmanager
def _appview_serving(db: str, log_file: Path, *, pds: str, plc: str) -> Iterator[str]:
    """``atdata appview serve`` in a child process on a free loopback port, following ``pds``; its URL
    once it answers, stopped (SIGTERM) afterwards."""
    url = f"http://127.0.0.1:{free_port()}"
    cmd = [sys.executable, "-m", "atdata.cli.main", "appview", "serve", "--db", db]
    cmd += ["--port", url.rsplit(":", 1)[1], "--pds", pds, "--plc", plc, "--handle-resolver", pds]
    with open(log_file, "ab") as log:
        process = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    try:

        def answers() -> bool:
            if process.poll() is not None:
                tail = log_file.read_text(errors="replace")[-2000:]
                raise DemoError(f"the appview exited with {process.returncode}; its log ends:\n{tail}")
            try:
                return httpx.get(f"{url}/xrpc/{DESCRIBE_SERVICE}", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        _wait_for(answers, 60, f"the appview at {url} (log: {log_file})")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
    from atdata.config import configured
    from atdata.lenses import Lens
    from atdata.lenses.extract import extract_source
    from atdata.network.appview_client import AppviewClient
    from atdata.resolve import schema_ref
    from atdata.trust import TrustPolicy
    from atdata_registry.devstack import stack as devstack
    from atdata_registry.publish import Publisher
    from atdata_registry.session import create_session

    out = out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    _forget_previous_run(out)
    report = Report()
    with contextlib.ExitStack() as services:
        # The demo keeps its config (trust list, caches of names) to itself, never touching the user's.
        services.callback(_restore_env, "ATDATA_CONFIG_DIR", os.environ.get("ATDATA_CONFIG_DIR"))
        os.environ["ATDATA_CONFIG_DIR"] = str(out / "config")
        with _step("starting the official PDS and PLC directory on loopback"):
            stack = devstack.start(out / "devstack")
            services.callback(devstack.stop, out / "devstack")
            report.add("PDS", stack.pds)
            report.add("PLC directory", stack.plc)

        passwords = {h: secrets.token_urlsafe(16) for h in (TRUSTED_HANDLE, UNTRUSTED_HANDLE)}
        with _step("creating two authors"):
            dids = {h: stack.create_account(h, passwords[h]) for h in passwords}
            for h, did in dids.items():
                report.add(h, did)
            sessions = {
                h: services.enter_context(create_session(h, passwords[h], pds=stack.pds, plc=stack.plc))
                for h in passwords
            }

        with _step("starting the appview (SQLite), following the PDS's firehose"):
            appview = services.enter_context(
                _appview_serving(
                    f"sqlite:///{out / 'appview.db'}", out / "appview.log", pds=stack.pds, plc=stack.plc
                )
            )
            services.enter_context(configured(appview=appview, plc=stack.plc, pds=stack.pds))
            report.add("appview", appview)

        with _step(f"{TRUSTED_HANDLE} publishes the starter catalog (without its shortcut lenses)"):
            types, lenses = select(shortcuts=False)
            publisher = Publisher(sessions[TRUSTED_HANDLE], progress=False)
            for cls in types:
                publisher.publish_schema(cls)
            for lens in lenses:
                publisher.publish_lens(lens)
            report.add(
                "records",
                {"schemas": len(types), "lenses": len(lenses)},
                f"{len(types)} schemas and {len(lenses)} lenses",
            )

        with _step("writing Frame shards and serving them over loopback HTTP"):
            shard_dir = out / "shards"
            shard_dir.mkdir(exist_ok=True)
            for old in shard_dir.glob("frames-*"):
                old.unlink()
            per_movie = 60
            samples = examples.bath_application_frames(
                movies=max(1, frames // per_movie), frames_per_movie=per_movie, size=size
            )
            with atdata.ShardWriter(str(shard_dir / "frames-%06d.tar"), maxcount=frames_per_shard) as sink:
                for sample in samples:
                    sink.write(sample)
            n_shards = len(list(shard_dir.glob("frames-*.tar")))
            host = services.enter_context(_serve_directory(shard_dir))
            pattern = f"{host}/frames-{{{0:06d}..{n_shards - 1:06d}}}.tar"
            report.add(
                "shards",
                {"count": n_shards, "samples": len(samples), "type": "Frame", "urls": pattern},
                f"{n_shards} shards, {len(samples)} Frame samples, {pattern}",
            )
            frame_cls = next(c for c in types if c.__name__ == "Frame")
            dataset = publisher.publish_dataset(name=DATASET_NAME, schema=frame_cls, urls=pattern)
            report.add("dataset record", dataset.uri)

        with _step("writing a second experiment, stored as UncagingFrame, and publishing it"):
            for old in shard_dir.glob("uncaging-*"):
                old.unlink()
            uncaging_cls = next(c for c in types if c.__name__ == "UncagingFrame")
            movie = examples.bath_application_frames(
                movies=1, frames_per_movie=max(1, frames // 2), size=size
            )
            with atdata.ShardWriter(str(shard_dir / "uncaging-%06d.tar"), maxcount=frames_per_shard) as sink:
                for i, f in enumerate(movie):
                    sink.write(
                        uncaging_cls(
                            uncaged_compound=UNCAGED[i * len(UNCAGED) // len(movie)],
                            image=f.image,
                            t_index=i,
                            t=i * 0.5,
                            t_intervention=5.0,
                        )
                    )
            n_uncaging = len(list(shard_dir.glob("uncaging-*.tar")))
            uncaging_pattern = f"{host}/uncaging-{{{0:06d}..{n_uncaging - 1:06d}}}.tar"
            report.add("uncaging shards", f"{n_uncaging} shards, {len(movie)} UncagingFrame samples")
            uncaging = publisher.publish_dataset(
                name=UNCAGING_DATASET, schema=uncaging_cls, urls=uncaging_pattern, license="CC-BY-4.0"
            )
            report.add("uncaging dataset record", uncaging.uri)

        with _step(f"{UNTRUSTED_HANDLE} publishes a competing one-hop lens between Alice's schemas"):
            _wait_for(lambda: _indexed(appview, len(lenses), 2), 60, "the appview to index the catalog")
            alice_frame = atdata.resolve(f"{TRUSTED_HANDLE}/Frame")
            alice_target = atdata.resolve(f"{TRUSTED_HANDLE}/{TARGET}")
            shortcut = next(lens for lens in SHORTCUT_LENSES if lens.target.__name__ == TARGET)
            competing = Lens.from_source(
                extract_source(shortcut), source=alice_frame, target=alice_target, name=shortcut.name
            )
            rival = Publisher(sessions[UNTRUSTED_HANDLE], progress=False).publish_lens(competing)
            report.add("competing lens", rival.uri)
            _wait_for(lambda: _indexed(appview, len(lenses) + 1, 2), 60, "the appview to index it")

        policy = TrustPolicy().with_author(dids[TRUSTED_HANDLE], TRUSTED_HANDLE)
        with _step(f"a consumer who trusts only {TRUSTED_HANDLE} reads the dataset as {TARGET}"):
            target = atdata.resolve(TARGET, trust=policy)
            report.add(
                "resolved",
                {"type": target.__name__, **(schema_ref(target) or {})},
                f"{target.__name__} from {schema_ref(target)['uri']}",
            )
            ds = atdata.Dataset(dataset.uri)
            coerced = ds.as_type(target, trust=policy)
            started = time.perf_counter()
            compounds: collections.Counter[str] = collections.Counter()
            first = None
            for sample in coerced.ordered(batch_size=None):
                first = first or sample
                compounds[sample.applied_compound] += 1
            elapsed = time.perf_counter() - started
            count = sum(compounds.values())
            report.add(
                "samples read",
                {"count": count, "seconds": round(elapsed, 3), "per_second": round(count / elapsed)},
                f"{count} in {elapsed:.2f} s ({count / elapsed:,.0f} samples/s)",
            )
            report.add("compounds", dict(sorted(compounds.items())))
            report.add("first sample", {"type": type(first).__name__, **_jsonable(first)}, str(first))

        with _step("the paths the appview offers, and a picture of the one taken"):
            with AppviewClient(appview) as client:
                source_uri, target_uri = dataset.record["schema"]["uri"], schema_ref(target)["uri"]
                anyone = client.find_lens_path(source_uri, target_uri)
                trusted = client.find_lens_path(source_uri, target_uri, trusted=[dids[TRUSTED_HANDLE]])
                names = {
                    s.lens.uri: client.get_lens(s.lens.uri).name for s in (*anyone.steps, *trusted.steps)
                }
            taken = list(trusted.steps)
            report.add(
                "shortest path, any author",
                _hops(anyone.steps, names, dids),
                _describe(anyone.steps, names, dids),
            )
            report.add("path taken (trusted)", _hops(taken, names, dids), _describe(taken, names, dids))
            picture = out / "path.svg"
            picture.write_text(_picture(anyone.steps, taken, names, dids), encoding="utf-8")
            report.add("picture", str(picture))

        with _step(f"the hive: every dataset readable as {SHARED}, read as one stream"):
            shared = atdata.resolve(f"{TRUSTED_HANDLE}/{SHARED}", trust=policy)
            sources = atdata.find_datasets(shared, trust=policy)
            for i, source in enumerate(sources, 1):
                path = " -> ".join(source.path_names) or "(stored as it)"
                report.add(
                    f"hive source {i}",
                    {
                        "dataset": source.dataset.name,
                        "uri": source.dataset.uri,
                        "stored_type": source.stored_type,
                        "path": list(source.path_names),
                        "samples": source.samples,
                    },
                    f"{source.dataset.name}: {source.stored_type} -> {path} "
                    f"({source.hops} hop(s), {source.samples} samples)",
                )
            hive = atdata.interleave(sources, seed=0)
            by_uri = {source.dataset.uri: source.dataset.name for source in sources}
            mix: collections.Counter[str] = collections.Counter()
            protocols: collections.Counter[str] = collections.Counter()
            started = time.perf_counter()
            for batch in hive.shuffled(batch_size=32, seed=0):
                for sample in batch.samples:
                    mix[by_uri[atdata.provenance(sample).dataset_uri or ""]] += 1
                    protocols[str((sample.metadata or {}).get("protocol", "bath application"))] += 1
            elapsed = time.perf_counter() - started
            count = sum(mix.values())
            report.add(
                "hive samples read",
                {"count": count, "of": len(hive), "seconds": round(elapsed, 3), "as": SHARED},
                f"{count} of {len(hive)} in {elapsed:.2f} s as {SHARED}",
            )
            report.add("hive mix", dict(sorted(mix.items())))
            report.add("hive protocols", dict(sorted(protocols.items())))
    return report


def _forget_previous_run(out: Path) -> None:
    """Each run starts a new network: the appview's index and the config of an earlier run in ``out``
    describe a network that no longer exists (its DIDs resolve nowhere), so they go."""
    import shutil

    for old in out.glob("appview.db*"):
        old.unlink()
    shutil.rmtree(out / "config", ignore_errors=True)


def _restore_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _author(uri: str) -> str:
    return AtUri.parse(uri).repo


def _handle(did: str, dids: dict[str, str]) -> str:
    return next((h for h, d in dids.items() if d == did), did)


def _hops(steps: Any, names: dict[str, str], dids: dict[str, str]) -> list[dict[str, str]]:
    return [
        {"lens": names[s.lens.uri], "author": _handle(_author(s.lens.uri), dids), "uri": s.lens.uri}
        for s in steps
    ]


def _describe(steps: Any, names: dict[str, str], dids: dict[str, str]) -> str:
    if not steps:
        return "(none)"
    hops = " -> ".join(f"{names[s.lens.uri]} ({_handle(_author(s.lens.uri), dids)})" for s in steps)
    return f"{len(steps)} hop(s): {hops}"


def _picture(anyone: Any, taken: Any, names: dict[str, str], dids: dict[str, str]) -> str:
    """Both candidate paths, left to right: the one taken highlighted, the untrusted rival dashed and
    labelled with its author, routed around the boxes."""
    import atdata
    from atdata.catalog import overview
    from atdata.types.packable import spec_of

    def schema(uri: str) -> str:
        return uri.rsplit("/", 1)[-1].split(":", 1)[0]

    def lens(step: Any) -> str:
        return f"{names[step.lens.uri]} by {_handle(_author(step.lens.uri), dids)}"

    rivals = [s for s in anyone if s not in taken]
    steps = [*taken, *rivals]
    uris = {u for s in steps for u in (s.source.uri, s.target.uri)}
    nodes = {
        schema(u): overview.Node(
            schema(u), _handle(_author(u), dids), len(spec_of(atdata.resolve(u)).fields), u
        )
        for u in sorted(uris)
    }
    edges = [overview.Edge(lens(s), schema(s.source.uri), schema(s.target.uri)) for s in steps]
    return overview.picture(
        overview.CatalogGraph(nodes, edges),
        highlight=[lens(s) for s in taken],
        untrusted=[lens(s) for s in rivals],
        title="atdata demo: the lens path taken (trusted authors only)",
    )


def main(out: Path, *, frames: int = 240) -> int:
    report = run(out, frames=frames)
    (out / "report.json").write_text(
        json.dumps(dict(report.lines), indent=2, allow_nan=False) + "\n", encoding="utf-8"
    )
    print(f"\nreport: {out / 'report.json'}")
    return 0
