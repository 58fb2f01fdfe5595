"""``ShardWriter.write_dataframe``: the rows of a pandas DataFrame as samples of the writer's type."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import atdata
from atdata.errors import DatasetError, RowError


@atdata.packable
class Cell:
    cell_id: int
    area: float
    valid: bool
    created: dt.datetime
    note: str | None = None


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": np.array([10, 11, 12], dtype=np.int64),
            "area": np.array([1.5, 2.0, 3.25], dtype=np.float32),
            "valid": [True, False, True],
            "created": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"], utc=True),
            "note": ["a", np.nan, None],
            "unused": ["x", "y", "z"],
        },
        index=[100, 101, 102],
    )


def _read(tmp_path: Path) -> list[Cell]:
    return list(atdata.Dataset[Cell](str(tmp_path / "cells-0000.tar")))


def test_rows_become_samples_with_columns_matched_by_name_and_mapping(tmp_path: Path) -> None:
    with atdata.ShardWriter(str(tmp_path / "cells-%04d.tar"), sample_type=Cell) as w:
        assert w.write_dataframe(_frame(), columns={"id": "cell_id"}) == 3
    got = _read(tmp_path)
    assert [c.cell_id for c in got] == [10, 11, 12]
    assert [c.area for c in got] == [1.5, 2.0, 3.25]
    assert [c.note for c in got] == ["a", None, None]
    assert got[1].created == dt.datetime(2024, 1, 2, tzinfo=dt.UTC)


def test_a_bad_row_names_its_index_column_and_value(tmp_path: Path) -> None:
    df = _frame()
    df["area"] = df["area"].astype(object)
    df.loc[101, "area"] = "2.0"
    w = atdata.ShardWriter(str(tmp_path / "cells-%04d.tar"), sample_type=Cell)
    with w, pytest.raises(RowError, match=r"row 101 .*column 'area'.*'2\.0'") as err:
        w.write_dataframe(df, columns={"id": "cell_id"})
    assert (err.value.row, err.value.column, err.value.value) == (101, "area", "'2.0'")


def test_a_lossy_value_is_a_bad_row(tmp_path: Path) -> None:
    df = _frame()
    df["id"] = [10.0, 11.5, 12.0]
    w = atdata.ShardWriter(str(tmp_path / "cells-%04d.tar"), sample_type=Cell)
    with w, pytest.raises(RowError, match=r"row 101 .*column 'id'.*11\.5"):
        w.write_dataframe(df, columns={"id": "cell_id"})


def test_on_error_skip_logs_and_skips_bad_rows(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    df = _frame()
    df["valid"] = ["t", False, True]  # CAVE's text booleans are not bools
    w = atdata.ShardWriter(str(tmp_path / "cells-%04d.tar"), sample_type=Cell)
    with caplog.at_level(logging.WARNING, logger="atdata.shards"), w:
        assert w.write_dataframe(df, columns={"id": "cell_id"}, on_error="skip") == 2
    assert [c.cell_id for c in _read(tmp_path)] == [11, 12]
    assert "row 100" in caplog.text and "column 'valid'" in caplog.text


def test_a_required_field_without_a_column_is_refused_before_writing(tmp_path: Path) -> None:
    with atdata.ShardWriter(str(tmp_path / "cells-%04d.tar"), sample_type=Cell) as w:
        with pytest.raises(DatasetError, match=r"Cell\.cell_id is required but the DataFrame has no column"):
            w.write_dataframe(_frame())
        assert w.count == 0


def test_a_mapping_to_an_unknown_field_or_column_is_refused(tmp_path: Path) -> None:
    with atdata.ShardWriter(str(tmp_path / "cells-%04d.tar"), sample_type=Cell) as w:
        with pytest.raises(DatasetError, match="not a field of Cell"):
            w.write_dataframe(_frame(), columns={"id": "cell"})
        with pytest.raises(DatasetError, match="no column 'ident'"):
            w.write_dataframe(_frame(), columns={"ident": "cell_id"})


def test_the_writer_needs_a_sample_type(tmp_path: Path) -> None:
    w = atdata.ShardWriter(str(tmp_path / "cells-%04d.tar"))
    with w, pytest.raises(DatasetError, match="sample_type=MyType"):
        w.write_dataframe(_frame())
