"""pyproject.toml declares every package the product imports, and nothing it does not; what only one
optional feature imports comes with an extra, and its absence is an error naming the install.

Imports are read from the source (``ast``, every ``import`` at any depth, so lazy imports count);
the standard library is ``sys.stdlib_module_names``; import names map to distributions through
``importlib.metadata.packages_distributions()`` of the environment the tests run in.
"""

from __future__ import annotations

import ast
import functools
import importlib.metadata
import re
import subprocess
import sys
import tomllib

import pytest
from product_modules import PACKAGES, ROOT, import_all, source_files

from atdata.extras import EXTRAS
from atdata.shards.urls import _DRIVERS

# Extras the product works with without importing them: fsspec loads its storage drivers by URL
# scheme, and write_dataframe reads the user's own pandas DataFrame.
NOT_IMPORTED_EXTRAS = {**{extra: (driver,) for extra, driver in _DRIVERS.items()}, "pandas": ("pandas",)}
TOOLING_EXTRAS = {"test"}  # for working on atdata, not for running it


def _dist(requirement: str) -> str:
    return _normal(re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0])


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared() -> tuple[set[str], dict[str, set[str]]]:
    project = _project()
    core = {_dist(r) for r in project["dependencies"]}  # type: ignore[attr-defined]
    extras = {
        name: {_dist(r) for r in reqs}
        for name, reqs in project["optional-dependencies"].items()  # type: ignore[attr-defined]
        if name not in TOOLING_EXTRAS
    }
    return core, extras


@functools.cache
def imported() -> dict[str, set[str]]:
    """Third-party top-level import name -> the product modules importing it."""
    found: dict[str, set[str]] = {}
    for module, path in source_files().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top not in PACKAGES:
                    found.setdefault(top, set()).add(module)
    return found


@functools.cache
def _installed() -> dict[str, list[str]]:
    return importlib.metadata.packages_distributions()


def distributions_of(import_name: str) -> set[str]:
    dists = _installed().get(import_name)
    assert dists, f"{import_name} is imported by the product but no installed distribution provides it"
    return {_normal(d) for d in dists}


def test_every_product_module_imports() -> None:
    modules = import_all()
    assert "atdata.lenses.laws" in modules and "atdata_appview.store.postgres" in modules


def test_every_imported_package_is_declared() -> None:
    core, extras = declared()
    every = core.union(*extras.values())
    undeclared = {
        name: sorted(users) for name, users in imported().items() if not distributions_of(name) & every
    }
    assert undeclared == {}, f"imported but not declared in pyproject.toml: {undeclared}"


def test_every_dependency_is_imported_by_the_product() -> None:
    core, _ = declared()
    used = set().union(*(distributions_of(name) for name in imported()))
    assert sorted(core - used) == [], "declared dependencies the product never imports"


def test_what_only_an_optional_feature_imports_is_its_extra() -> None:
    core, extras = declared()
    for name in imported():
        dists = distributions_of(name)
        if dists & core:
            continue
        owners = [extra for extra, members in extras.items() if dists & members]
        assert len(owners) == 1, f"{name} is in no extra or in several: {owners}"
        assert name in EXTRAS[owners[0]][1], f"atdata.extras.EXTRAS[{owners[0]!r}] does not name {name}"


def test_every_extra_is_imported_by_its_feature_or_loaded_for_the_user() -> None:
    _, extras = declared()
    assert set(extras) == set(EXTRAS) | set(NOT_IMPORTED_EXTRAS)
    for extra, (_, import_names) in EXTRAS.items():
        for name in import_names:
            assert distributions_of(name) & extras[extra], f"extra {extra!r} does not install {name}"
            assert name in imported(), f"atdata.extras names {name} for {extra!r}, but nothing imports it"
    for extra, dists in NOT_IMPORTED_EXTRAS.items():
        assert {_normal(d) for d in dists} <= extras[extra], extra


def _without(package: str, code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter in which ``package`` cannot be imported (as if absent)."""
    prelude = f"import sys; sys.modules[{package!r}] = None\n"
    return subprocess.run(
        [sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )


def test_a_plain_install_imports_without_any_extra() -> None:
    blocked = sorted({name for _, names in EXTRAS.values() for name in names})
    prelude = "".join(f"sys.modules[{n!r}] = None; " for n in blocked)
    product = "import atdata, atdata.cli.main, atdata_registry, atdata_appview.xrpc.server"
    code = f"import sys; {prelude}\n{product}"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("package", "extra", "code"),
    [
        ("hypothesis", "laws", "import atdata.lenses.laws"),
        ("torch", "torch", "import atdata.dataset.torch_adapter"),
        (
            "psycopg",
            "postgres",
            "from atdata_appview.store.postgres import PostgresStore; PostgresStore('postgresql://x@127.0.0.1/db')",
        ),
    ],
)
def test_a_missing_extra_names_the_pip_install(package: str, extra: str, code: str) -> None:
    done = _without(
        package,
        f"""
from atdata.errors import MissingExtraError
try:
    {code}
except MissingExtraError as e:
    print(e)
else:
    print("no error")
""",
    )
    assert done.returncode == 0, done.stderr
    assert f"pip install 'atdata[{extra}]'" in done.stdout and package in done.stdout, done.stdout
