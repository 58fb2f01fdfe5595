"""Rows of a pandas DataFrame into shards: ``ShardWriter.write_dataframe`` against writing samples.

A tidy Visual Behavior-like table (float64, int64 and str columns, as ``build_tidy_cell_df`` plus
its metadata columns gives) is written three ways in the same run:

- baseline: samples built beforehand from plain Python values, then ``ShardWriter.write`` each;
- construction from numpy scalars (``df.iloc``-style values), each converted losslessly on the way in;
- ``write_dataframe(df)``: column lists, construction and writing together.

The ratios say what the lossless conversion and the DataFrame path cost over writing ready samples.

    python benchmarks/dataframe_rows.py [--rows 20000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import atdata


@atdata.packable
class Row:
    timestamps: float
    dff: float
    events: float
    cell_roi_id: int
    cell_specimen_id: int
    imaging_depth: int
    targeted_structure: str
    sex: str


def table(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "timestamps": 10.5 + 0.093 * np.arange(n),
            "dff": rng.normal(size=n),
            "events": np.zeros(n),
            "cell_roi_id": rng.integers(10**9, 2 * 10**9, size=n),
            "cell_specimen_id": rng.integers(10**9, 2 * 10**9, size=n),
            "imaging_depth": np.full(n, 275),
            "targeted_structure": "VISp",
            "sex": "M",
        }
    )


def timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    n = parser.parse_args().rows
    df = table(n)
    plain = df.to_dict("records")  # numpy scalars for int columns, Python floats and str
    python_rows = [{k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()} for r in plain]
    numpy_rows = [{c: df[c].to_numpy()[i] for c in df.columns} for i in range(n)]
    with tempfile.TemporaryDirectory() as tmp:
        ready = [Row(**r) for r in python_rows]

        def write_ready() -> None:
            with atdata.ShardWriter(str(Path(tmp) / "a-%04d.tar")) as w:
                for s in ready:
                    w.write(s)

        def build_python() -> None:
            for r in python_rows:
                Row(**r)

        def build_numpy() -> None:
            for r in numpy_rows:
                Row(**r)

        def write_frame() -> None:
            with atdata.ShardWriter(str(Path(tmp) / "b-%04d.tar"), sample_type=Row) as w:
                w.write_dataframe(df)

        base = timed(write_ready)
        figures = [
            ("write ready samples (baseline)", base),
            ("construct from Python values", timed(build_python)),
            ("construct from numpy scalars", timed(build_numpy)),
            ("write_dataframe(df)", timed(write_frame)),
        ]
    print(f"{n} rows")
    print(f"{'path':<34} {'rows/s':>12} {'x baseline time':>16}")
    for name, seconds in figures:
        print(f"{name:<34} {n / seconds:>12,.0f} {seconds / base:>16.2f}")


if __name__ == "__main__":
    main()
