"""`atdata catalog list` and `atdata catalog publish`."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from atdata.catalog import CATALOG_LENSES, CATALOG_TYPES
from atdata.cli.main import main
from atdata.lexicon import LENS

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(autouse=True)
def private_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test sees (or writes) the user's real session."""
    monkeypatch.setenv("ATDATA_CONFIG_DIR", str(tmp_path / "config"))


def test_list_prints_every_type_and_lens(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list"]) == 0
    out = capsys.readouterr().out
    for cls in CATALOG_TYPES:
        assert cls.__name__ in out
    for lens in CATALOG_LENSES:
        assert lens.name in out
    assert "3 hops:" in out


def test_list_shows_the_three_hop_path_without_shortcuts(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--without-shortcuts", "--path", "Frame", "BathApplicationFrame"]) == 0
    out = capsys.readouterr().out
    assert "fewest hops from Frame to BathApplicationFrame (3):" in out
    assert "[imaging_to_recording_frame] AstrocyteRecordingFrame" in out


def test_list_draws_the_graph_as_svg_with_the_path_highlighted(tmp_path: Path) -> None:
    picture = tmp_path / "catalog.svg"
    path = ["--path", "Frame", "BathApplicationFrame"]
    assert main(["catalog", "list", "--without-shortcuts", *path, "--svg", str(picture)]) == 0
    root = ET.parse(picture).getroot()
    types = root.findall(f"{SVG}g[@class='type']")
    lenses = root.findall(f"{SVG}path")
    highlighted = [p for p in lenses if "highlighted" in p.get("class", "")]
    assert len(types) == len(CATALOG_TYPES)
    assert len([p for p in lenses if p.get("class", "").startswith("lens")]) == len(CATALOG_LENSES) - 2
    assert [p.find(f"{SVG}title").text.split(":")[0] for p in highlighted] == [
        "frame_to_imaging_frame",
        "imaging_to_recording_frame",
        "recording_to_bath_application",
    ]


def test_an_unknown_type_in_path_is_an_error_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--path", "Frame", "Neuron"]) == 1
    assert "'Neuron' is not a catalog type" in capsys.readouterr().err


def test_a_missing_path_lists_what_is_reachable(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "list", "--path", "MicronsSynapse", "CellTrace"]) == 1
    err = capsys.readouterr().err
    assert "no lens path from MicronsSynapse to CellTrace" in err
    assert "Connection" in err


def test_publish_without_a_session_asks_to_log_in(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "publish"]) == 1
    assert "atdata login" in capsys.readouterr().err


def test_publish_dry_run_validates_every_record_and_sends_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "publish", "--dry-run"]) == 0
    lines = capsys.readouterr().out.splitlines()
    lens_lines = [ln for ln in lines if ln.startswith("would publish") and f"/{LENS}/" in ln]
    assert len(lens_lines) == len(CATALOG_LENSES)
    assert lines[-1].startswith(f"catalog: {len(CATALOG_TYPES)} types and {len(CATALOG_LENSES)} lenses")


def test_publish_only_one_lens_brings_its_two_schemas(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "publish", "--dry-run", "--only", "frame_to_bath_application"]) == 0
    records = [ln.split()[2] for ln in capsys.readouterr().out.splitlines() if ln.startswith("would publish")]
    assert [uri.rsplit("/", 1)[-1].split(":")[0] for uri in records] == [
        "Frame",
        "BathApplicationFrame",
        "frame_to_bath_application",
    ]


def test_publish_only_an_unknown_name_lists_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "publish", "--dry-run", "--only", "frame_to_neuron"]) == 1
    assert "no catalog lens named 'frame_to_neuron'" in capsys.readouterr().err


@pytest.mark.integration
def test_publish_is_idempotent_on_a_real_pds(dev_stack, capsys: pytest.CaptureFixture[str]) -> None:
    from atdata_registry.session import login

    handle, password = f"c{uuid.uuid4().hex[:10]}.test", f"pw-{uuid.uuid4().hex}"
    dev_stack.create_account(handle, password)
    login(handle, password, pds=dev_stack.pds, plc=dev_stack.plc).close()
    statuses = []
    for _ in range(2):
        assert main(["catalog", "publish", "--without-shortcuts"]) == 0
        lines = capsys.readouterr().out.splitlines()[:-1]
        statuses.append({ln.split()[1]: ln.split()[0] for ln in lines})
    first, second = statuses
    assert len(first) == len(CATALOG_TYPES) + len(CATALOG_LENSES) - 2
    assert set(first.values()) == {"published"}
    assert second == dict.fromkeys(first, "unchanged")
