"""atdata: typed samples, WebDataset shards, publishable schemas and the lenses between them.

The public API is what this module exports; everything else is private.
"""

from __future__ import annotations

from atdata import errors
from atdata.config import configure
from atdata.dataset import Dataset
from atdata.lenses import Lens
from atdata.lenses.decorators import lens
from atdata.resolve import resolve
from atdata.schema import compatibility, from_schema, schema_of
from atdata.shards import ShardWriter
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
    "from_schema",
    "lens",
    "packable",
    "resolve",
    "schema_of",
]
