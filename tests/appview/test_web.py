"""The web page in headless Chromium: pages load, search works, the lens-graph picture renders."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from appview_world import BAD_LENS_SOURCE, World
from support.appview_process import running

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """SQLite only: the page does not depend on the backend, and Chromium runs are slow."""
    return f"sqlite:///{tmp_path / 'appview.db'}"


@pytest.fixture
def site(world: World, db_url: str, tmp_path: Path) -> Iterator[tuple[str, dict[str, dict[str, str]]]]:
    refs = {
        "frame": world.schema(
            "alice.test", "Frame", fields=("image", "t_index"), doc="Raw microscope frames."
        ),
        "bath": world.schema("alice.test", "BathApplicationFrame", fields=("applied_compound",)),
        "summary": world.schema("bob.test", "Summary", doc="<script>alert('x')</script> mean values"),
    }
    refs["to_bath"] = world.lens("alice.test", "frame_to_bath", refs["frame"], refs["bath"])
    refs["to_summary"] = world.lens("bob.test", "bath_to_summary", refs["bath"], refs["summary"])
    refs["leaky"] = world.lens("bob.test", "leaky", refs["frame"], refs["summary"], code=BAD_LENS_SOURCE)
    world.dataset("alice.test", "frames", refs["frame"])
    world.attest("alice.test", refs["to_summary"], "tested")
    with running(db_url, log_file=tmp_path / "serve.log") as appview:
        yield appview.url, refs


def chromium(*args: str) -> str:
    assert CHROMIUM, "Chromium is not installed: apt-get install chromium"
    run = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *args],
        capture_output=True,
        timeout=120,
        check=True,
    )
    return run.stdout.decode()


def dom(url: str) -> str:
    return chromium("--dump-dom", url)


def test_the_home_page_lists_schemas_and_search_finds_by_field_name(site: tuple[str, dict]) -> None:
    base, _ = site
    assert dom(base + "/").count('class="schema-link"') == 3
    found = dom(base + "/?" + urlencode({"q": "compound"}))
    assert "BathApplicationFrame@1.0.0" in found and found.count('class="schema-link"') == 1
    assert 'id="no-results"' in dom(base + "/?q=nothing-like-this")


def test_the_schema_page_draws_the_graph_with_the_shortest_path_highlighted(
    site: tuple[str, dict], tmp_path: Path
) -> None:
    base, refs = site
    url = base + "/schema?" + urlencode({"uri": refs["frame"]["uri"], "target": refs["summary"]["uri"]})
    page = dom(url)
    assert 'id="fields"' in page and "t_index" in page and "frames" in page
    assert "frame_to_bath" in page and "leaky" in page  # lenses out, the refused one included
    assert page.count('class="lens highlighted"') == 2 and "Shortest path: 2 lens(es)." in page
    shot = tmp_path / "schema-page.png"
    chromium(f"--screenshot={shot}", "--window-size=1280,1400", url)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000


def test_the_lens_page_shows_code_author_attestations_and_the_validation_report(
    site: tuple[str, dict],
) -> None:
    base, refs = site
    good = dom(base + "/lens?" + urlencode({"uri": refs["to_summary"]["uri"]}))
    assert "passed this appview" in good and "tested by alice.test" in good and "bob.test" in good
    bad = dom(base + "/lens?" + urlencode({"uri": refs["leaky"]["uri"]}))
    assert "Refused by the sandbox validator" in bad and "import os" in bad


def test_the_schema_page_lists_the_datasets_readable_as_its_type_with_their_lens_paths(
    site: tuple[str, dict],
) -> None:
    base, refs = site
    summary = dom(base + "/schema?" + urlencode({"uri": refs["summary"]["uri"]}))
    section = summary.split('id="readable"', 1)[1].split("<h2", 1)[0]
    assert "frames" in section and "by alice.test" in section and "Frame@1.0.0" in section
    assert "frame_to_bath" in section and "bath_to_summary" in section and "(2 hops)" in section
    assert "leaky" not in section  # refused by the validator: no path goes through it
    frame = dom(base + "/schema?" + urlencode({"uri": refs["frame"]["uri"]}))
    assert "No dataset of another type has a lens path to this one." in frame


def test_text_from_records_is_shown_never_run(site: tuple[str, dict]) -> None:
    base, refs = site
    page = dom(base + "/schema?" + urlencode({"uri": refs["summary"]["uri"]}))
    assert "&lt;script&gt;alert" in page and "<script>" not in page


def test_an_unknown_schema_is_a_404_page(site: tuple[str, dict]) -> None:
    base, _ = site
    resp = httpx.get(base + "/schema", params={"uri": "at://did:plc:nobody/dev.atdata.schema/X:1.0.0"})
    assert resp.status_code == 404 and "Not found" in resp.text
