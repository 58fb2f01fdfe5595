"""DataLoader workers over types built from schema records (from_schema): every sample once, under
fork and spawn; a type a worker cannot send back fails in the main process instead of hanging."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

import atdata
from atdata.errors import DatasetError

torch = pytest.importorskip("torch")


@atdata.packable
class Site:
    name: str


@atdata.packable
class ZScoredTrace:
    trace: NDArray[np.float32]
    cell: int
    site: Site


# The record as it would be published; the class the tests use is built from it, as a consumer would.
RECORD = atdata.schema_of(ZScoredTrace)


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> tuple[type, str]:
    cls = atdata.from_schema(RECORD)
    site = cls.__atdata_spec__.field_index["site"].type.cls
    folder = tmp_path_factory.mktemp("traces")
    with atdata.ShardWriter(str(folder / "t-%04d.tar"), maxcount=5) as sink:
        for i in range(20):
            sink.write(cls(trace=np.full(3, i, dtype=np.float32), cell=i, site=site(name=f"s{i % 2}")))
    return cls, str(folder / "t-{0000..0003}.tar")


def test_a_class_from_a_schema_record_pickles_to_the_same_class() -> None:
    cls = atdata.from_schema(RECORD)
    assert pickle.loads(pickle.dumps(cls)) is cls


@pytest.mark.parametrize("context", ["fork", "spawn"])
def test_workers_yield_every_sample_of_a_from_schema_class_once(
    traced: tuple[type, str], context: str
) -> None:
    cls, pattern = traced
    loader = torch.utils.data.DataLoader(
        atdata.Dataset[Any](pattern, sample_type=cls).to_torch(),
        batch_size=None,
        num_workers=2,
        multiprocessing_context=context,
        collate_fn=_keep,
        timeout=120,
    )
    samples = list(loader)
    assert sorted(s.cell for s in samples) == list(range(20))
    assert all(type(s) is cls for s in samples)
    assert {s.site.name for s in samples} == {"s0", "s1"}


def test_a_type_a_worker_cannot_send_back_fails_in_the_main_process(tmp_path: Path) -> None:
    @atdata.packable
    class Unnamed:  # defined in a function: pickle cannot name it
        value: int

    with atdata.ShardWriter(str(tmp_path / "u-%04d.tar"), maxcount=2) as sink:
        for i in range(4):
            sink.write(Unnamed(value=i))
    loader = torch.utils.data.DataLoader(
        atdata.Dataset[Any](str(tmp_path / "u-{0000..0001}.tar"), sample_type=Unnamed).to_torch(),
        batch_size=None,
        num_workers=2,
        multiprocessing_context="fork",
        collate_fn=_keep,
        timeout=60,
    )
    with pytest.raises(DatasetError, match="cannot be sent from a DataLoader worker"):
        list(loader)


def _keep(x: object) -> object:
    return x
