"""Lens source that attacks the parsers is refused before any parse, through every entry point.

libcst crashed the calling process (SIGSEGV) on brackets nested about 1,300 deep inside an f-string
or its format spec, and ran for minutes on a 20,000-term operator chain inside one. The lexical gate
refuses these before anything parses them, and the libcst check itself runs in a child whose crash
or timeout is a refusal: the test process surviving every case below is part of what is checked.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lens_source_attacks import ATTACKS, fstring_chain, fstring_field

import atdata
from atdata.errors import LensValidationError
from atdata.sandbox import checker, validate_source
from atdata.sandbox.gate import gate_text

IDS = [name for name, _, _ in ATTACKS]


@atdata.packable
class Tick:
    t: float


@atdata.packable
class Label:
    x: str


@pytest.mark.parametrize(("name", "source", "reason"), ATTACKS, ids=IDS)
def test_the_gate_refuses_each_parser_attack_without_parsing(name: str, source: str, reason: str) -> None:
    violations, fatal = gate_text(source)
    assert fatal and any(reason in v.reason for v in violations)


@pytest.mark.parametrize(("name", "source", "reason"), ATTACKS, ids=IDS)
def test_validate_source_refuses_each_parser_attack(name: str, source: str, reason: str) -> None:
    assert any(reason in v.reason for v in validate_source(source))


@pytest.mark.parametrize("isolation", ["inline", "process"])
@pytest.mark.parametrize(("name", "source", "reason"), ATTACKS, ids=IDS)
def test_from_source_refuses_each_parser_attack_naming_the_lens(
    name: str, source: str, reason: str, isolation: str
) -> None:
    with pytest.raises(LensValidationError, match=reason) as e:
        atdata.Lens.from_source(source, source=Tick, target=Label, isolation=isolation, name=name)  # type: ignore[arg-type]
    assert name in str(e.value)


@pytest.mark.parametrize(("name", "source", "reason"), ATTACKS, ids=IDS)
def test_lens_check_refuses_each_parser_attack_and_keeps_running(
    name: str, source: str, reason: str, tmp_path: Path
) -> None:
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    atdata_cli = [
        sys.executable,
        "-c",
        "import sys; from atdata.cli.main import main; sys.exit(main(sys.argv[1:]))",
    ]
    done = subprocess.run(
        [*atdata_cli, "lens", "check", str(path)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 1, done.stderr
    assert f"{path}:" in done.stdout and reason in done.stdout


def test_fullwidth_names_inside_an_fstring_are_refused_statically() -> None:
    for name in ("ｅｘｅｃ", "ｇｉ_ｆｒａｍｅ"):
        source = "def get(source):\n    return {'x': f'{" + name + "}'}\n"
        assert any("not ASCII" in v.reason for v in validate_source(source))


def test_brackets_inside_an_fstring_count_with_those_around_it() -> None:
    inside = "(" * 20 + "1" + ")" * 20
    source = "def get(source):\n    return {'x': " + "(" * 20 + "f'{" + inside + "}'" + ")" * 20 + "}\n"
    assert any("brackets nest more than" in v.reason for v in validate_source(source))


def test_a_shallow_fstring_with_a_nested_format_spec_is_clean() -> None:
    source = (
        "def get(source):\n    w = 3\n"
        "    return {'x': f'{source.t!r:>{w + 1}} {(source.t, [1, 2])[0]:.2f}'}\n"
    )
    assert validate_source(source) == []


def test_a_parser_crash_in_the_checker_child_is_a_refusal_and_the_next_check_works() -> None:
    # Past the gate on purpose: the child must contain what the gate would have stopped.
    refused = checker.tree_violations(fstring_field(1400))
    assert len(refused) == 1
    assert "the dialect check crashed" in refused[0].reason or "too deeply nested" in refused[0].reason
    assert checker.tree_violations("def get(source):\n    return {}\n") == []


@pytest.mark.slow
def test_a_parser_stall_in_the_checker_child_is_refused_at_its_limit() -> None:
    refused = checker.tree_violations(fstring_chain(20_000))
    assert len(refused) == 1
    assert "ran longer than" in refused[0].reason or "CPU" in refused[0].reason
    assert checker.tree_violations("def get(source):\n    return {}\n") == []


@pytest.mark.parametrize(("name", "source", "reason"), ATTACKS, ids=IDS)
def test_lens_import_of_an_07_file_refuses_each_parser_attack_before_parsing(
    name: str, source: str, reason: str
) -> None:
    from atdata.lenses.translate07 import translate

    result = translate(source, filename=name)
    assert result.source is None and any(reason in b for b in result.blockers)


_H = "def get(source):\n    return {'x': "
_T = "}\n"
OTHER_SHAPES = {
    "implicit-concatenation": (_H + " ".join(["'a'"] * 5000) + _T, "operators"),
    "not-chain": (_H + "not " * 5000 + "1" + _T, "operators"),
    "unary-chain": (_H + "-" * 20000 + "1" + _T, "operators"),
    "attribute-chain": (_H + "source" + ".a" * 10000 + _T, "operators"),
    "call-chain": (_H + "len" + "()" * 10000 + _T, "operators"),
    "subscript-chain": (_H + "source" + "[0]" * 10000 + _T, "operators"),
    "comparison-chain": (_H + "<".join(["1"] * 10000) + _T, "operators"),
    "lambda-chain": (_H + "lambda: " * 3000 + "1" + _T, "operators"),
    "conditional-chain": (_H + "1 if 1 else " * 3000 + "1" + _T, "operators"),
    "brackets-outside-strings": (_H + "(" * 1500 + "1" + ")" * 1500 + _T, "brackets nest more than"),
    "huge-display": (_H + "{" + ",".join(f"{i}:{i}" for i in range(6000)) + "}" + _T, "tokens"),
    "elif-chain": (
        "def get(source):\n    x = 1\n    if x == 0:\n        pass\n"
        + "".join(f"    elif x == {i}:\n        pass\n" for i in range(1, 300))
        + "    return {}\n",
        "elif branches",
    ),
    "deep-blocks": (
        "def get(source):\n"
        + "".join("    " * (i + 1) + "if 1:\n" for i in range(100))
        + "    " * 101
        + "pass\n",
        "blocks nest more than",
    ),
}


@pytest.mark.parametrize("shape", list(OTHER_SHAPES))
def test_the_gate_refuses_every_shape_that_deepens_a_parse_tree(shape: str) -> None:
    source, reason = OTHER_SHAPES[shape]
    violations, fatal = gate_text(source)
    assert fatal and any(reason in v.reason for v in violations), violations
