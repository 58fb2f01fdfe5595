"""``atdata.provenance(sample)``: where a sample read through a ``Dataset`` came from.

Every sample a :class:`~atdata.Dataset` decodes carries one extra entry in its ``__dict__``: a pair
of the shard's :class:`Origin` (made once per shard, shared by all its samples) and the sample's
key. That costs one dict store per sample, so the plain read path stays as fast as it was
(``benchmarks/hive.py`` measures it). A lens chain copies the pair onto each output sample,
with an :class:`Origin` extended by the chain's lens names. The entry is not a field: equality,
``repr``, ``model_dump`` and encoding ignore it; pickling keeps it, so provenance survives the
trip from a DataLoader worker.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from atdata.errors import DatasetError

ATTR = "__atdata_origin__"
"""The ``__dict__`` key holding ``(Origin, key)`` on a sample read through a Dataset."""


@dataclass(frozen=True)
class Origin:
    """What the samples of one shard, read through one lens path, have in common."""

    dataset_uri: str | None
    dataset_cid: str | None
    shard: str
    lens_path: tuple[str, ...] = ()
    lenses: tuple[str, ...] = ()

    def through(self, names: tuple[str, ...], uris: tuple[str, ...]) -> Origin:
        return replace(self, lens_path=self.lens_path + names, lenses=self.lenses + uris)


@dataclass(frozen=True)
class Provenance:
    """Where one sample came from.

    ``dataset_uri``/``dataset_cid``: the dataset record it was published in (None for shards opened
    by URL); ``shard``: the shard URL (credentials removed); ``key``: the sample's key in the
    shard; ``lens_path``: the names of the lenses it went through, in order (empty when read as
    stored); ``lenses``: the at-uris of those lenses when they were published records.
    """

    dataset_uri: str | None
    dataset_cid: str | None
    shard: str
    key: str
    lens_path: tuple[str, ...]
    lenses: tuple[str, ...]


def provenance(sample: Any) -> Provenance:
    """Where ``sample`` came from: dataset record (uri + CID), shard URL, sample key and lens path.

    Works for samples read through :class:`~atdata.Dataset` (also ``as_type`` and
    :func:`atdata.interleave`), and those in a :class:`~atdata.dataset.Batch` (``batch.samples``).
    Raises :class:`~atdata.errors.DatasetError` for a sample that was made in code, not read.
    """
    found = getattr(sample, "__dict__", {}).get(ATTR)
    if found is None:
        raise DatasetError(
            f"{type(sample).__name__} sample has no provenance: it was not read through atdata.Dataset "
            "(samples made in code, or copied field by field, have none)"
        )
    origin, key = found
    return Provenance(
        origin.dataset_uri, origin.dataset_cid, origin.shard, key, origin.lens_path, origin.lenses
    )


def carry(sources: list[Any], outputs: list[Any], names: tuple[str, ...], uris: tuple[str, ...]) -> None:
    """Give each output sample its source's provenance, extended by the lens path ``names``."""
    extended: dict[int, Origin] = {}
    for src, out in zip(sources, outputs):
        found = src.__dict__.get(ATTR)
        if found is None:
            continue
        origin = found[0]
        ext = extended.get(id(origin))
        if ext is None:
            ext = extended[id(origin)] = origin.through(names, uris)
        out.__dict__[ATTR] = (ext, found[1])
