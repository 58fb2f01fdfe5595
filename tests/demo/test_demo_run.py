"""`atdata demo` end to end: real PDS and PLC, a real appview, two authors, HTTP-served shards."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from atdata_registry.demo import run

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    out = tmp_path_factory.mktemp("demo")
    report = run(out, frames=120)
    return out, dict(report.lines)


def test_the_trusted_path_is_the_three_hop_catalog_chain(demo: tuple[Path, dict[str, str]]) -> None:
    _, report = demo
    assert report["path taken (trusted)"].startswith("3 hop(s): frame_to_imaging_frame (alice.test)")
    assert "mallory" not in report["path taken (trusted)"]


def test_the_untrusted_rival_is_the_shortest_path_overall(demo: tuple[Path, dict[str, str]]) -> None:
    _, report = demo
    assert report["shortest path, any author"] == "1 hop(s): frame_to_bath_application (mallory.test)"


def test_every_served_frame_arrives_as_a_bath_application_frame(demo: tuple[Path, dict[str, str]]) -> None:
    _, report = demo
    assert report["samples read"].startswith("120 in ")
    assert report["compounds"] == str({"baclofen": 60, "tacpd": 60})
    assert report["first sample"].startswith("BathApplicationFrame(applied_compound='baclofen'")


def test_the_picture_shows_every_schema_on_the_path(demo: tuple[Path, dict[str, str]]) -> None:
    out, report = demo
    assert Path(report["picture"]) == out / "path.svg"
    picture = (out / "path.svg").read_text()
    for name in ("Frame", "ImagingFrame", "AstrocyteRecordingFrame", "BathApplicationFrame"):
        assert f">{name}<" in picture


def test_the_demo_leaves_the_callers_configuration_as_it_was(demo: tuple[Path, dict[str, str]]) -> None:
    from atdata.config import settings

    assert settings().appview is None or "127.0.0.1" not in settings().appview
    assert os.environ.get("ATDATA_CONFIG_DIR") != str(demo[0] / "config")


def test_the_hive_reads_both_experiments_as_one_stream_of_the_shared_frame_type(
    demo: tuple[Path, dict[str, str]],
) -> None:
    _, report = demo
    assert report["hive source 1"] == (
        "bath-application-demo: Frame@1.0.0 -> frame_to_imaging_frame@1.0.0 (1 hop(s), 120 samples)"
    )
    assert report["hive source 2"] == (
        "uncaging-demo: UncagingFrame@1.0.0 -> uncaging_to_imaging_frame@1.0.0 (1 hop(s), 60 samples)"
    )
    assert report["hive samples read"].startswith("180 of 180 in ")
    assert report["hive mix"] == str({"bath-application-demo": 120, "uncaging-demo": 60})
