"""atdata: typed samples, WebDataset shards, publishable schemas and the lenses between them.

The public API is what this module exports; everything else is private.

The names below are imported on first use (PEP 562), so ``import atdata`` costs almost nothing and
a process that needs one part (a sandbox or checker child, a CLI command, an MCP tool) never pays
for numpy, pydantic, httpx and atproto it does not use.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_EXPORTS = {
    "Array": "atdata.types.fields",
    "Dataset": "atdata.dataset",
    "Doc": "atdata.types.fields",
    "Lens": "atdata.lenses",
    "ShardWriter": "atdata.shards",
    "Unit": "atdata.types.fields",
    "compatibility": "atdata.schema",
    "configure": "atdata.config",
    "find_datasets": "atdata.sources",
    "from_schema": "atdata.schema",
    "interleave": "atdata.dataset.interleave",
    "lens": "atdata.lenses.decorators",
    "packable": "atdata.types.packable",
    "provenance": "atdata.dataset.provenance",
    "resolve": "atdata.resolve",
    "schema_of": "atdata.schema",
}

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


def __getattr__(name: str) -> Any:
    home = _EXPORTS.get(name)
    if home is None:
        if name.startswith("__"):
            raise AttributeError(f"module 'atdata' has no attribute {name!r}")
        # A submodule reached as an attribute (atdata.errors, atdata.schema, ...), as before.
        try:
            return importlib.import_module(f"atdata.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"atdata.{name}":
                raise
            raise AttributeError(f"module 'atdata' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    def __setattr__(self, name: str, value: Any) -> None:
        # Importing the submodule atdata.resolve sets it as an attribute here; the public name is
        # the function (as when this module imported it eagerly), found by __getattr__.
        if name == "resolve" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
