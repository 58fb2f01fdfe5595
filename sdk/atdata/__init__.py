"""atdata: typed samples, WebDataset shards, publishable schemas and the lenses between them.

The public API is what this module exports; everything else is private.
"""

from __future__ import annotations

from atdata import errors
from atdata.config import configure
from atdata.dataset import Dataset
from atdata.dataset.interleave import interleave
from atdata.dataset.provenance import provenance
from atdata.lenses import Lens
from atdata.lenses.decorators import lens
from atdata.resolve import resolve
from atdata.schema import compatibility, from_schema, schema_of
from atdata.shards import ShardWriter
from atdata.sources import find_datasets
from atdata.types.fields import Array, Doc, Unit
from atdata.types.packable import packable

__version__ = "0.1.0"

__all__ = [
    "Array",
    "Dataset",
    "Doc",
    "Lens",
    "ShardWriter",
    "Unit",
    "__version__",
    "compatibility",
    "configure",
    "errors",
    "find_datasets",
    "from_schema",
    "interleave",
    "lens",
    "packable",
    "provenance",
    "resolve",
    "schema_of",
]
