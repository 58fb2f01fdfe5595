"""Lens sources that attack the parsers, at the sizes that crashed or stalled them (issue 13).

Each is a ``(name, source, reason)``: ``reason`` is a fragment of the refusal the gate gives.
"""

from __future__ import annotations

DEEP = "brackets nest more than"
CHAIN = "operators"


def fstring_field(depth: int, opener: str = "(") -> str:
    closer = {"(": ")", "[": "]", "{": "}"}[opener]
    return "def get(source):\n    return {'x': f'{" + opener * depth + "1" + closer * depth + "}'}\n"


def format_spec(depth: int, opener: str = "(") -> str:
    closer = {"(": ")", "[": "]", "{": "}"}[opener]
    inner = opener * depth + "3" + closer * depth
    return "def get(source):\n    return {'x': f'{source.t:>{" + inner + "}}'}\n"


def fstring_chain(terms: int) -> str:
    return "def get(source):\n    t = source.t\n    return {'x': f'{" + "+".join(["t"] * terms) + "}'}\n"


ATTACKS: list[tuple[str, str, str]] = [
    ("parens-1300-in-fstring", fstring_field(1300, "("), DEEP),
    ("brackets-1500-in-fstring", fstring_field(1500, "["), DEEP),
    ("parens-1300-in-format-spec", format_spec(1300, "("), DEEP),
    ("brackets-1500-in-format-spec", format_spec(1500, "["), DEEP),
    ("chain-20000-in-fstring", fstring_chain(20_000), CHAIN),
    ("chain-2000-in-fstring", fstring_chain(2_000), CHAIN),
]
