"""``atdata lens check FILE``: violations as FILE:line:col: reason, and the exit status."""

from __future__ import annotations

from pathlib import Path

import pytest

from atdata.cli.main import main


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_clean_file_exits_zero_and_prints_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(
        tmp_path, "ok.py", "import numpy as np\ndef get(source):\n    return {'m': np.mean(source.x)}\n"
    )
    assert main(["lens", "check", str(path)]) == 0
    assert capsys.readouterr().out == ""


def test_violations_are_printed_as_file_line_col_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "bad.py", "import os\ndef get(source):\n    return eval('1')\n")
    assert main(["lens", "check", str(path)]) == 1
    assert capsys.readouterr().out.splitlines() == [
        f"{path}:1:7: import of 'os' is not allowed; allowed: `import numpy as np`, `import math`",
        f"{path}:3:11: 'eval' is not available in lens code",
    ]


def test_any_bad_file_among_several_fails_the_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = write(tmp_path, "good.py", "def get(source):\n    return {}\n")
    bad = write(tmp_path, "bad.py", "class A:\n    pass\n")
    assert main(["lens", "check", str(good), str(bad)]) == 1
    out = capsys.readouterr().out
    assert str(good) not in out and f"{bad}:1:0: class definitions are not allowed" in out


def test_non_utf8_file_is_a_violation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "latin1.py"
    path.write_bytes("def get(source):\n    return {'x': 'é'}\n".encode("latin-1"))
    assert main(["lens", "check", str(path)]) == 1
    assert "must be UTF-8" in capsys.readouterr().out


def test_missing_file_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lens", "check", str(tmp_path / "nope.py")]) == 1
    assert "cannot read" in capsys.readouterr().err
