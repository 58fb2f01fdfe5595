"""The one lens-graph renderer (``atdata.drawing``), as the catalog, the demo and the appview use it:
full labels, a highlighted path left to right, untrusted lenses dashed and labelled, lenses that skip
columns never crossing a box, and text from records escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from support.svg_geometry import boxes, crossings

from atdata.drawing import Arrow, Box, render, text_width

SVG = "{http://www.w3.org/2000/svg}"

# The demo's picture: a three-hop trusted path and a one-hop untrusted rival between its ends.
BOXES = [
    Box("Frame", "Frame", "alice.test \u00b7 6 fields", "alice.test"),
    Box("ImagingFrame", "ImagingFrame", "alice.test \u00b7 9 fields", "alice.test"),
    Box("AstrocyteRecordingFrame", "AstrocyteRecordingFrame", "alice.test \u00b7 12 fields", "alice.test"),
    Box("BathApplicationFrame", "BathApplicationFrame", "alice.test \u00b7 14 fields", "alice.test"),
]
PATH = [
    Arrow("frame_to_imaging_frame", "Frame", "ImagingFrame"),
    Arrow("imaging_to_recording_frame", "ImagingFrame", "AstrocyteRecordingFrame"),
    Arrow("recording_to_bath_application", "AstrocyteRecordingFrame", "BathApplicationFrame"),
]
RIVAL = Arrow("frame_to_bath_application by mallory.test", "Frame", "BathApplicationFrame", untrusted=True)


def _picture() -> str:
    return render(BOXES, [*PATH, RIVAL], highlight=[a.key for a in PATH])


def test_every_box_is_wide_enough_for_its_full_label() -> None:
    picture = _picture()
    names = re.findall(r'font-size="13" font-weight="bold">([^<]+)<', picture)
    widths = [w for _, _, w, _ in boxes(picture)]
    assert sorted(names) == sorted(b.title for b in BOXES) and len(widths) == len(BOXES)
    for name, width in zip(names, widths):
        assert text_width(name, 13) + 20 <= width


def test_the_highlighted_path_runs_left_to_right() -> None:
    root = ET.fromstring(_picture())
    highlighted = [p for p in root.iter(f"{SVG}path") if "highlighted" in p.get("class", "")]
    assert sorted(p.find(f"{SVG}title").text.split(":")[0] for p in highlighted) == sorted(
        a.key for a in PATH
    )
    xs = {g.get("id"): float(g.find(f"{SVG}rect").get("x")) for g in root.iter(f"{SVG}g")}
    assert [xs[f"type-{b.key}"] for b in BOXES] == sorted(xs[f"type-{b.key}"] for b in BOXES)


def test_an_untrusted_lens_is_dashed_labelled_in_full_and_in_the_legend() -> None:
    picture = _picture()
    assert re.search(r'<path class="lens untrusted" d="[^"]+"[^>]*stroke-dasharray', picture)
    assert ">frame_to_bath_application by mallory.test (untrusted)<" in picture
    assert "untrusted lens (not used)" in picture


def test_a_lens_that_skips_columns_crosses_no_box() -> None:
    picture = _picture()
    rival = re.search(r'<path class="lens untrusted" d="([^"]+)"', picture)
    assert rival is not None
    assert rival.group(1).count(" L") >= 4  # routed down a gap and along the lane below the boxes
    assert crossings(rival.group(1), boxes(picture)) == []


def test_text_from_records_is_escaped_and_the_picture_stays_well_formed() -> None:
    evil = '<script>alert("x")</script>&"'
    picture = render(
        [Box("at://did:plc:a/s/1", evil, evil, evil, evil)],
        [Arrow(evil, "at://did:plc:a/s/1", evil, evil, untrusted=True)],
        focus="at://did:plc:a/s/1",
        title=evil,
    )
    root = ET.fromstring(picture)  # well-formed: every text and attribute escaped
    assert "<script" not in picture and not list(root.iter(f"{SVG}script"))
    assert evil in "".join(root.itertext())


def test_a_lens_that_cannot_run_is_drawn_dashed_and_never_highlighted() -> None:
    git = Arrow("at://did:plc:a/lens/1", "A", "B", "old lens: code by git reference", runnable=False)
    picture = render([], [git], highlight=[git.key])
    assert 'class="lens git-reference"' in picture and "highlighted" not in picture
    assert picture.count('<g class="type"') == 2  # ends no box named get one, titled with their key


def test_the_focus_box_is_marked() -> None:
    picture = render([Box("a", "A@1.0.0"), Box("b", "B@1.0.0")], [Arrow("l", "a", "b")], focus="a")
    assert picture.count('<g class="type focus" id="type-a">') == 1


def test_the_crossing_check_sees_a_run_through_a_box() -> None:
    assert crossings("M0,10 L100,10", [(40.0, 0.0, 20.0, 20.0)]) != []
    assert crossings("M0,30 L100,30", [(40.0, 0.0, 20.0, 20.0)]) == []
