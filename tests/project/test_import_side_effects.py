"""Importing the product registers nothing globally: a module that wants its lenses (or anything
else) in a process-wide registry says so in a function the caller chooses to call
(``atdata.catalog.register()``), so importing a module never changes what another part of the program
finds."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

# A fresh interpreter, so that no other test's registrations are counted.
PROBE = """
import json, sys
sys.path.insert(0, {here!r})
from atdata.lenses import default_registry
before = [lens.name for lens in default_registry.lenses()]
from product_modules import import_all
modules = import_all()
after = [lens.name for lens in default_registry.lenses()]
print(json.dumps({{"modules": len(modules), "before": before, "after": after}}))
"""


def _probe(code: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.splitlines()[-1])
    return result


def test_importing_every_product_module_leaves_the_global_lens_registry_empty() -> None:
    seen = _probe(PROBE.format(here=str(HERE)))
    assert isinstance(seen["modules"], int) and seen["modules"] > 100
    assert seen["before"] == [] and seen["after"] == [], f"registered on import: {seen['after']}"


def test_the_catalog_registers_its_lenses_only_when_asked() -> None:
    seen = _probe(
        "import json\n"
        "import atdata.catalog\n"
        "from atdata.lenses import default_registry\n"
        "before = len(default_registry.lenses())\n"
        "atdata.catalog.register()\n"
        "print(json.dumps({'before': before, 'after': len(default_registry.lenses()),"
        " 'catalog': len(atdata.catalog.CATALOG_LENSES)}))\n"
    )
    assert seen["before"] == 0 and seen["after"] == seen["catalog"]
