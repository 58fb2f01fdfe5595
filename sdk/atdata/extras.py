"""The optional parts of atdata: which extra installs each, and the error when one is missing.

Everything the product imports is a dependency of every install except what only one optional
feature needs; those packages come with an extra (``pip install 'atdata[torch]'``) so that a plain
install stays small. Modules import an optional package through :func:`require`, which turns its
absence into a :class:`~atdata.errors.MissingExtraError` naming the command to run.
``pyproject.toml``'s extras and :data:`EXTRAS` are the same list (``tests/project`` checks both
against what the source imports).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from atdata.errors import MissingExtraError

# extra -> (what it enables, the import names it provides). fsspec's storage drivers are loaded by
# fsspec itself, by URL scheme (see atdata.shards.urls.driver_hint).
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "laws": ("the lens laws checker (atdata lens laws, atdata.lenses.laws)", ("hypothesis",)),
    "postgres": ("the appview's PostgreSQL store", ("psycopg", "psycopg_pool")),
    "torch": ("Dataset.to_torch", ("torch",)),
}


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` (provided by ``extra``), or raise MissingExtraError naming the install."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as e:
        top = module.split(".")[0]
        if e.name is None or e.name.split(".")[0] != top:
            raise  # the package is there but something it imports is not: not ours to rename
        raise missing(extra, top) from None


def missing(extra: str, package: str) -> MissingExtraError:
    """The error for ``package`` (of ``extra``) not being installed."""
    feature = EXTRAS[extra][0]
    return MissingExtraError(
        f"{feature} needs {package}, which is not installed: run pip install 'atdata[{extra}]'",
        extra=extra,
        package=package,
    )
