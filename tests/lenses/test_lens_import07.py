"""`atdata lens import`: an atdata 0.7 lens file (tests/fixtures/atdata07/lens_full_to_view.py, which
generate.py runs under atdata 0.7.0b1) as a lens module of this project's dialect, or what blocks it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

import atdata
from atdata.lenses.translate07 import translate

LENS07 = Path(__file__).parents[1] / "fixtures" / "atdata07" / "lens_full_to_view.py"


@atdata.packable
class Full:
    x: NDArray
    label: str


@atdata.packable
class View:
    peak: float
    label: str


def test_the_translated_getter_and_putter_behave_as_in_0_7() -> None:
    result = translate(LENS07.read_text())
    assert result.blockers == [] and result.source is not None
    lens = atdata.Lens.from_source(result.source, source=Full, target=View, isolation="process")
    full = Full(x=np.array([1.0, 3.0]), label="a")
    view = lens.get(full)
    assert (view.peak, view.label) == (3.0, "A")
    assert lens.put(View(peak=3.0, label="B"), full).label == "b"


def test_the_0_7_sample_classes_are_dropped_and_named() -> None:
    assert translate(LENS07.read_text()).types == ["Full", "View"]


def test_an_import_outside_the_dialect_is_a_blocker_naming_it() -> None:
    text = LENS07.read_text().replace("import numpy as np", "import numpy as np\nimport os")
    result = translate(text)
    assert any("imports os" in b for b in result.blockers)


def test_code_outside_the_dialect_is_a_blocker() -> None:
    text = LENS07.read_text().replace("return float(np.max(a))", "return open(a).read()")
    assert translate(text).blockers


def test_a_file_without_a_lens_says_so() -> None:
    assert any("no function decorated" in b for b in translate("x = 1\n").blockers)


def test_the_command_prints_the_module_and_exits_0(tmp_path: Path) -> None:
    out = tmp_path / "lens.py"
    done = subprocess.run(
        [sys.executable, "-m", "atdata.cli.main", "lens", "import", str(LENS07), "-o", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "def get(s" in out.read_text()


def test_the_command_lists_blockers_and_exits_1(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(LENS07.read_text().replace("import numpy as np", "import subprocess"))
    done = subprocess.run(
        [sys.executable, "-m", "atdata.cli.main", "lens", "import", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "subprocess" in done.stderr


def test_a_blocker_names_the_line_of_the_0_7_file_and_its_construct() -> None:
    text = LENS07.read_text().replace("return float(np.max(a))", "return open(a).read()")
    line = text.splitlines().index("    return open(a).read()") + 1
    assert any(b.startswith(f"{line}: `return open(a).read()`: ") for b in translate(text).blockers)


def test_the_getter_and_putter_the_record_names_are_chosen_among_several_lenses() -> None:
    other = "\n\n@atdata.lens\ndef other(s: Full) -> View:\n    return View(peak=0.0, label='')\n"
    result = translate(LENS07.read_text() + other, getter="full_to_view", putter="full_to_view_put")
    assert result.blockers == [] and result.source is not None
    assert "def get(s: Full)" in result.source and "def other" not in result.source
