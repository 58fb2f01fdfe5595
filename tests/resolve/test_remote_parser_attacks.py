"""A published lens record whose code attacks the parsers is refused by the record fetcher, and the
reader's process keeps running (libcst crashed it with SIGSEGV before the lexical gate saw f-strings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_remote_checks import mid_dataset, proposed

from atdata.errors import LensPathError
from atdata.trust import TrustPolicy

DEEP_FSTRING = "def get(s):\n    return {'label': f'{" + "(" * 1300 + "1" + ")" * 1300 + "}'}\n"
DEEP_FORMAT_SPEC = (
    "def get(s):\n    return {'label': f'{s.label:>{" + "[" * 1500 + "3" + "]" * 1500 + "}}'}\n"
)
LONG_CHAIN = "def get(s):\n    t = s.time_s\n    return {'label': f'{" + "+".join(["t"] * 20_000) + "}'}\n"
ATTACKS = {
    "deep-fstring": (DEEP_FSTRING, "brackets nest more than"),
    "deep-format-spec": (DEEP_FORMAT_SPEC, "brackets nest more than"),
    "long-chain": (LONG_CHAIN, "operators"),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("strict", [False, True], ids=["default-policy", "strict-policy"])
def test_a_lens_record_that_attacks_the_parser_is_refused_by_the_fetcher(
    attack: str, strict: bool, tmp_path: Path
) -> None:
    code, reason = ATTACKS[attack]
    with proposed(code) as (mid, out), pytest.raises(LensPathError) as e:
        mid_dataset(tmp_path, mid).as_type(out, trust=TrustPolicy(strict=strict))
    assert reason in str(e.value) or (strict and "not trusted" in str(e.value))
