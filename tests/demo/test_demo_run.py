"""`atdata demo` end to end: real PDS and PLC, a real appview, two authors, HTTP-served shards."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from support.svg_geometry import boxes, crossings

from atdata_registry.demo import main, run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("demo")
    assert main(out, frames=120) == 0
    return out, json.loads((out / "report.json").read_text())


def test_the_trusted_path_is_the_three_hop_catalog_chain(demo: tuple[Path, dict[str, Any]]) -> None:
    _, report = demo
    taken = report["path taken (trusted)"]
    assert [(h["lens"], h["author"]) for h in taken] == [
        ("frame_to_imaging_frame", "alice.test"),
        ("imaging_to_recording_frame", "alice.test"),
        ("recording_to_bath_application", "alice.test"),
    ]


def test_the_untrusted_rival_is_the_shortest_path_overall(demo: tuple[Path, dict[str, Any]]) -> None:
    _, report = demo
    rival = report["shortest path, any author"]
    assert [(h["lens"], h["author"]) for h in rival] == [("frame_to_bath_application", "mallory.test")]


def test_every_served_frame_arrives_as_a_bath_application_frame(demo: tuple[Path, dict[str, Any]]) -> None:
    _, report = demo
    assert report["samples read"]["count"] == 120
    assert report["compounds"] == {"baclofen": 60, "tacpd": 60}
    assert report["first sample"]["type"] == "BathApplicationFrame"
    assert report["first sample"]["applied_compound"] == "baclofen"
    assert report["first sample"]["image"]["shape"] == [64, 64]  # 2-D (y, x), as the toolkit's frames


def test_the_report_holds_json_values_not_reprs(demo: tuple[Path, dict[str, Any]]) -> None:
    _, report = demo
    from atdata.catalog import CATALOG_LENSES, CATALOG_TYPES, SHORTCUT_LENSES

    published_lenses = len(CATALOG_LENSES) - len(SHORTCUT_LENSES)  # the trusted author leaves them out
    assert report["records"] == {"schemas": len(CATALOG_TYPES), "lenses": published_lenses}
    assert report["shards"]["samples"] == 120
    for value in report.values():
        assert not (isinstance(value, str) and re.match(r"^[\[{(]|^\w+\(", value)), value


def test_the_picture_shows_every_schema_on_the_path(demo: tuple[Path, dict[str, Any]]) -> None:
    out, report = demo
    assert Path(report["picture"]) == out / "path.svg"
    picture = (out / "path.svg").read_text()
    for name in ("Frame", "ImagingFrame", "AstrocyteRecordingFrame", "BathApplicationFrame"):
        assert f">{name}<" in picture


def test_the_picture_draws_the_rival_dashed_named_with_its_author_and_untrusted(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    out, _ = demo
    picture = (out / "path.svg").read_text()
    rival = re.search(r'<path class="lens untrusted" d="([^"]+)"[^>]*stroke-dasharray', picture)
    assert rival is not None
    assert ">frame_to_bath_application by mallory.test (untrusted)<" in picture
    assert "untrusted lens (not used)" in picture  # the legend
    # The rival's straight runs (between its rounded corners) cross no box.
    assert crossings(rival.group(1), boxes(picture)) == []


def test_every_box_is_wide_enough_for_its_label(demo: tuple[Path, dict[str, Any]]) -> None:
    from atdata.drawing import text_width

    out, _ = demo
    picture = (out / "path.svg").read_text()
    widths = [w for _, _, w, _ in boxes(picture)]
    names = re.findall(r'font-size="13" font-weight="bold">([^<]+)<', picture)
    assert len(names) == len(widths) == 4
    for name, width in zip(names, widths):
        assert text_width(name, 13) + 20 <= width


def test_the_demo_leaves_the_callers_configuration_as_it_was(demo: tuple[Path, dict[str, Any]]) -> None:
    from atdata.config import settings

    assert settings().appview is None or "127.0.0.1" not in settings().appview
    assert os.environ.get("ATDATA_CONFIG_DIR") != str(demo[0] / "config")


def test_the_hive_reads_both_experiments_as_one_stream_of_the_shared_frame_type(
    demo: tuple[Path, dict[str, Any]],
) -> None:
    _, report = demo
    first, second = report["hive source 1"], report["hive source 2"]
    assert (first["dataset"], first["stored_type"], first["samples"]) == (
        "bath-application-demo",
        "Frame@1.0.0",
        120,
    )
    assert first["path"] == ["frame_to_imaging_frame@1.0.0"]
    assert (second["dataset"], second["stored_type"], second["samples"]) == (
        "uncaging-demo",
        "UncagingFrame@1.0.0",
        60,
    )
    assert second["path"] == ["uncaging_to_imaging_frame@1.0.0"]
    assert (report["hive samples read"]["count"], report["hive samples read"]["of"]) == (180, 180)
    assert report["hive mix"] == {"bath-application-demo": 120, "uncaging-demo": 60}
    assert report["hive protocols"] == {"bath application": 120, "uncaging": 60}


@pytest.mark.slow
def test_the_demo_passes_again_on_the_same_machine(demo: tuple[Path, dict[str, Any]], tmp_path: Path) -> None:
    # A second network in the same output folder, with the same caches: nothing the first run left
    # (its appview's index, its config, names it cached) may leak into the second.
    again = tmp_path / "again"
    shutil.copytree(demo[0], again)
    report = dict(run(again, frames=60).lines)
    assert [h["author"] for h in report["path taken (trusted)"]] == ["alice.test"] * 3
