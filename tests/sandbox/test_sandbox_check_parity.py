"""The two checks of lens code agree on the whole sandbox corpus.

Lens code is checked twice: by the libcst dialect check (``validate_source``) and again by the
runtime's compiler on CPython's own tree (``instrument``), so that code the two parsers read
differently cannot slip past. The corpus is every lens program the sandbox tests use: the clean
example, the refused constructs, the escape attempts (static and runtime), the parser attacks and
one program per whitelisted numpy name. What one check accepts the other accepts; and every
program the libcst check refuses for a construct the compiler also guards (statement kinds,
dunder names, underscore attributes, imports, decorators, bare excepts) the compiler refuses too.
"""

from __future__ import annotations

import re

import pytest
from lens_source_attacks import ATTACKS
from test_sandbox_escapes import RUNTIME, STATIC
from test_sandbox_numpy_whitelist import NUMPY_CALLS
from test_sandbox_validator import CLEAN, REFUSED_SNIPPETS

from atdata.errors import LensValidationError
from atdata.sandbox import validate_source
from atdata.sandbox.instrument import instrument

# libcst refusals for constructs the runtime's compiler refuses on its own as well.
GUARDED_BY_BOTH = (
    "class definitions",
    "global statements",
    "nonlocal statements",
    "with statements",
    "match statements",
    "except* is not allowed",
    "bare except",
    "yield",
    "await is not allowed",
    "async",
    "decorators are not allowed",
    "from-imports",
    "import of",
    "dunder names",
    "starts with an underscore",
)


def _filled(code: str) -> str:
    # The escape attempts name the test world's files and ports as @PLACEHOLDERS@; any value does.
    return re.sub(r"@[A-Z_]+@", "0", code)


def _corpus() -> list[tuple[str, str]]:
    wrap = "import numpy as np\nimport math\ndef get(source):\n    {}\n    return {{}}\n"
    programs = [("clean", CLEAN)]
    programs += [(f"refused:{s}", wrap.format(s)) for s, _ in REFUSED_SNIPPETS]
    programs += [(f"escape:{c.id}", _filled(c.code)) for c in STATIC + RUNTIME]
    programs += [(f"attack:{name}", source) for name, source, _ in ATTACKS]
    programs += [(f"numpy:{n}", wrap.format(f"x = {call}")) for n, call in NUMPY_CALLS.items()]
    return programs


CORPUS = _corpus()


def _runtime_accepts(source: str) -> bool:
    try:
        instrument(source, "<lens parity>")
    except LensValidationError:
        return False
    return True


def test_the_corpus_is_the_whole_sandbox_corpus() -> None:
    assert len(CORPUS) >= 300


@pytest.mark.parametrize(("name", "source"), CORPUS, ids=[n for n, _ in CORPUS])
def test_both_checks_agree_on_the_program(name: str, source: str) -> None:
    reasons = [v.reason for v in validate_source(source)]
    runtime = _runtime_accepts(source)
    if not reasons:
        assert runtime, f"{name}: the dialect check accepts it but the runtime's compiler refuses it"
    elif any(fragment in r for r in reasons for fragment in GUARDED_BY_BOTH):
        assert not runtime, f"{name}: the dialect check refuses it ({reasons}) but the compiler accepts it"
