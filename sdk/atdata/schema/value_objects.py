"""Constant values (field defaults, table entries) as ``dev.atdata.defs#value`` objects.

Records cannot hold floats, so a float travels as text: the shortest decimal that reads back to
the same IEEE 754 binary64 value (Python's ``repr``: ``0.1``, ``1e-07``, ``-0.0``), plus ``inf``,
``-inf`` and ``nan``. That spelling is exact, readable, parsed by any language's standard float
parser, and canonical (one spelling per value, so content hashes are stable). ``float.hex`` would
be exact too, but unreadable in a published record.

Each value object has exactly one key, naming the kind: ``null``, ``boolean``, ``integer``,
``float``, ``string``, ``bytes`` (base64), ``datetime`` (ISO 8601 text as Python's ``isoformat``
writes it), ``list`` or ``json`` (a dict as canonical JSON text).
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
import math
import re
from typing import Any

VALUE_KINDS = ("null", "boolean", "integer", "float", "string", "bytes", "datetime", "list", "json")

_FLOAT_TEXT = re.compile(r"-?(?:inf|nan|\d+\.\d+(?:e[+-]\d+)?|\d+e[+-]\d+)")


def format_float(x: float) -> str:
    """The canonical text of a float (see the module docstring)."""
    if math.isnan(x):
        return "nan"
    return repr(x)  # repr gives 'inf'/'-inf' for infinities and the shortest round-trip decimal otherwise


def parse_float(text: str) -> float:
    """Read canonical float text; ``ValueError`` for anything else (e.g. '1.50', '0x1p0', ' 1.0')."""
    if not _FLOAT_TEXT.fullmatch(text) or text == "-nan":
        raise ValueError(
            f"{text!r} is not a float in canonical form (Python repr, e.g. '0.1', '1e-07', 'inf')"
        )
    x = float(text)
    if format_float(x) != text:
        raise ValueError(f"{text!r} is not the canonical spelling of {x!r}; write {format_float(x)!r}")
    return x


def parse_datetime(text: Any) -> _dt.datetime:
    """Read a ``datetime`` value's text; ``ValueError`` unless it is ISO 8601 as ``isoformat`` spells it."""
    if not isinstance(text, str):
        raise ValueError("'datetime' must be ISO 8601 text")
    try:
        when = _dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"'datetime' {text[:64]!r} is not ISO 8601 text") from None
    if when.isoformat() != text:
        raise ValueError(f"'datetime' {text!r} is not in canonical form; write {when.isoformat()!r}")
    return when


def _json_text(value: dict[str, Any]) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True)


def encode_value(value: Any) -> dict[str, Any]:
    """A Python constant as a value object; ``TypeError`` for what cannot be a record constant."""
    if value is None:
        return {"null": True}
    if isinstance(value, bool):
        return {"boolean": value}
    if isinstance(value, int):
        return {"integer": value}
    if isinstance(value, float):
        return {"float": format_float(value)}
    if isinstance(value, str):
        return {"string": value}
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, _dt.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, list):
        return {"list": [encode_value(v) for v in value]}
    if isinstance(value, dict):
        return {"json": _json_text(value)}
    raise TypeError(f"a {type(value).__name__} cannot be written as a constant in a schema record")


def decode_value(obj: Any) -> Any:
    """The Python constant a value object stands for; ``ValueError`` says what is wrong with it."""
    if not isinstance(obj, dict):
        raise ValueError("a value must be an object with exactly one of: " + ", ".join(VALUE_KINDS))
    kinds = [k for k in obj if k in VALUE_KINDS]
    if len(kinds) != 1:
        raise ValueError(
            f"a value needs exactly one of {', '.join(VALUE_KINDS)}; got {', '.join(kinds) or 'none'}"
        )
    kind = kinds[0]
    v = obj[kind]
    if kind == "null":
        if v is not True:
            raise ValueError("'null' must be true")
        return None
    if kind == "boolean":
        if not isinstance(v, bool):
            raise ValueError("'boolean' must be true or false")
        return v
    if kind == "integer":
        if isinstance(v, bool) or not isinstance(v, int):
            raise ValueError("'integer' must be an integer")
        return v
    if kind == "float":
        if not isinstance(v, str):
            raise ValueError("'float' must be a string such as '0.5' (records cannot hold floats)")
        return parse_float(v)
    if kind == "string":
        if not isinstance(v, str):
            raise ValueError("'string' must be a string")
        return v
    if kind == "bytes":
        if not isinstance(v, str):
            raise ValueError("'bytes' must be base64 text")
        try:
            data = base64.b64decode(v, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("'bytes' is not valid padded base64") from None
        if base64.b64encode(data).decode("ascii") != v:
            raise ValueError("'bytes' is not in canonical base64 form")
        return data
    if kind == "datetime":
        return parse_datetime(v)
    if kind == "list":
        if not isinstance(v, list):
            raise ValueError("'list' must be an array of values")
        return [decode_value(item) for item in v]
    if not isinstance(v, str):
        raise ValueError("'json' must be JSON text")
    try:
        data = json.loads(v)
    except json.JSONDecodeError as e:
        raise ValueError(f"'json' is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise ValueError("'json' must hold a JSON object")
    if _json_text(data) != v:
        raise ValueError("'json' is not in canonical form (sorted keys, no whitespace)")
    return data
