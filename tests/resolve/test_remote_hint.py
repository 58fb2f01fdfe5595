"""Coercion with no local lens path and no appview says how to search the network (pure)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from resolve_world import Frame, Out

import atdata
from atdata.errors import LensPathError


def test_without_an_appview_a_missing_path_suggests_configuring_one(tmp_path: Path) -> None:
    with atdata.ShardWriter(str(tmp_path / "f-%06d.tar")) as writer:
        writer.write(Frame(t=0.0, signal=np.ones(1), label="x"))
    ds: atdata.Dataset[Any] = atdata.Dataset(str(tmp_path / "f-000000.tar"), sample_type=Frame)
    with pytest.raises(LensPathError, match=r"configure an appview \(.*atdata.configure\(appview=URL\)"):
        ds.as_type(Out)
