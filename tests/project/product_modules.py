"""The product's modules, found from its source tree: what the project tests walk.

The product is the three packages ``pyproject.toml`` installs (``sdk/atdata``,
``registry/atdata_registry``, ``appview/atdata_appview``); everything else in the repository (tests,
benchmarks, CI) is not shipped.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "atdata": ROOT / "sdk" / "atdata",
    "atdata_registry": ROOT / "registry" / "atdata_registry",
    "atdata_appview": ROOT / "appview" / "atdata_appview",
}


def source_files() -> dict[str, Path]:
    """Every product module's dotted name -> its source file."""
    found: dict[str, Path] = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            if parts and parts[-1] == "__main__":
                continue  # runs the CLI when imported
            found[".".join([package, *parts])] = path
    return found


def import_all() -> dict[str, ModuleType]:
    """Import every product module (what a user could import), by dotted name."""
    return {name: importlib.import_module(name) for name in source_files()}
