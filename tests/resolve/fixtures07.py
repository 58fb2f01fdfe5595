"""The atdata 0.7 fixtures (``tests/fixtures/atdata07``, written by atdata 0.7.0b1: see generate.py there)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

FIXTURES = Path(__file__).parents[1] / "fixtures" / "atdata07"
SHARDS = sorted(FIXTURES.glob("recording-*.tar"))


def record(name: str, **fill: str) -> dict[str, Any]:
    """A fixture record with its ``{{PLACEHOLDERS}}`` filled in (``SCHEMA_URI=...``)."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    for key, value in fill.items():
        text = text.replace("{{" + key + "}}", value)
    value: dict[str, Any] = json.loads(text)
    return value


def expected(i: int) -> dict[str, Any]:
    """The values generate.py gave sample ``i``."""
    return {
        "image": np.arange(12, dtype=np.float32).reshape(3, 4) + i,
        "label": f"rec-{i}",
        "t_index": i,
        "t": i * 0.5,
        "flag": i % 2 == 0,
        "raw": bytes([i, 7]),
        "channels": ["gcamp", f"c{i}"],
        "mask": [True, i % 2 == 1] if i < 2 else None,
        "note": None if i % 2 else f"note {i}",
    }


def check_sample(sample: Any, i: int) -> None:
    want = expected(i)
    assert np.array_equal(sample.image, want["image"]) and sample.image.dtype == np.float32
    mask = None if sample.mask is None else sample.mask.tolist()
    assert mask == want["mask"]
    for name in ("label", "t_index", "t", "flag", "raw", "channels", "note"):
        assert getattr(sample, name) == want[name], name
