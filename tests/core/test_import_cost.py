"""What a fresh process pays to import atdata: public names load on first use, libcst only where lens
code is parsed (``benchmarks/resolve_latency.py`` measures the time)."""

from __future__ import annotations

import json
import subprocess
import sys

import atdata


def _modules_after(code: str) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_import_atdata_loads_none_of_the_heavy_dependencies() -> None:
    loaded = _modules_after("import atdata")
    assert not loaded & {"numpy", "pydantic", "httpx", "libcst", "atproto_core", "msgpack"}


def test_every_public_name_is_there_when_first_used() -> None:
    for name in atdata.__all__:
        assert getattr(atdata, name) is not None, name
    assert callable(atdata.resolve)  # the function, though atdata.resolve is also a module
    from atdata.resolve import schema_ref  # noqa: F401

    assert callable(atdata.resolve)


def test_a_process_that_checks_lens_code_leaves_libcst_to_the_checker_child() -> None:
    loaded = _modules_after(
        "from atdata.sandbox import validate_source\n"
        "assert validate_source('def get(s):\\n    return {}\\n') == []"
    )
    assert "libcst" not in loaded
