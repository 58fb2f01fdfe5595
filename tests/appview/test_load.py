"""50 concurrent clients on findLensPath and resolveSchema for 30 s against `atdata appview serve`."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from appview_world import World
from support.appview_process import start

from atdata.lexicon import nsid as N

CLIENTS = 50
SECONDS = 30.0


@pytest.mark.integration
@pytest.mark.slow
def test_fifty_concurrent_clients_for_thirty_seconds_get_no_errors(
    world: World, db_url: str, tmp_path: Path
) -> None:
    names = [f"T{i}" for i in range(30)]
    refs = [world.schema(f"a{i % 3}.test", name) for i, name in enumerate(names)]
    rng = random.Random(0)
    for j in range(60):
        s, t = rng.sample(refs, 2)
        world.lens(f"a{j % 3}.test", f"l{j}", s, t)
    appview = start(db_url, log_file=tmp_path / "serve.log")
    base = appview.url
    outcomes: Counter[str] = Counter()
    lock = threading.Lock()
    try:

        def client(seed: int) -> None:
            r = random.Random(seed)
            with httpx.Client(base_url=base, timeout=30) as http:
                end = time.monotonic() + SECONDS
                while time.monotonic() < end:
                    if r.random() < 0.5:
                        s, t = r.sample(refs, 2)
                        params = {"source": s["uri"], "target": t["uri"]}
                        nsid = N.FIND_LENS_PATH
                    else:
                        params, nsid = {"name": r.choice(names)}, N.RESOLVE_SCHEMA
                    try:
                        status = str(http.get(f"/xrpc/{nsid}", params=params).status_code)
                    except httpx.HTTPError as e:
                        status = type(e).__name__
                    with lock:
                        outcomes[status] += 1

        threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        appview.stop()
    assert set(outcomes) == {"200"}, f"{outcomes}\n{appview.log(2000)}"
    assert outcomes["200"] > CLIENTS
