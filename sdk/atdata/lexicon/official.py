"""The official ``@atproto/lexicon`` validator (the one the PDS uses), run from Python.

Used by tests and available to other checks: it cross-examines atdata's lexicon documents and
example values with the reference implementation. The npm package is installed on first use into
the user's cache dir (never into the repository), pinned to one version; node must be on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from atdata.errors import AtdataError

PACKAGE = "@atproto/lexicon"
VERSION = "0.7.18"
# An ES module; it runs from the install dir, whose package.json says "type": "module". (Named .js
# so that the package data rules ship it.)
_SCRIPT = Path(__file__).with_name("official_check.js")


@dataclass(frozen=True)
class Case:
    """One value to validate: ``kind`` is ``record``, ``params`` or ``output`` of method/record ``nsid``."""

    kind: str
    nsid: str
    value: Any


@dataclass(frozen=True)
class Verdict:
    ok: bool
    error: str | None


@dataclass(frozen=True)
class OfficialReport:
    doc_errors: list[str]  # documents the official schema of lexicon documents rejects
    ref_errors: list[str]  # refs that do not resolve to a definition
    verdicts: list[Verdict]  # one per case, in order


def install_dir() -> Path:
    return Path(platformdirs.user_cache_dir("atdata")) / "node" / "lexicon"


def ensure_installed() -> Path:
    """Install the pinned package into the cache dir unless it is already there; returns the dir."""
    target = install_dir()
    manifest = target / "node_modules" / "@atproto" / "lexicon" / "package.json"
    if manifest.is_file() and json.loads(manifest.read_text(encoding="utf-8")).get("version") == VERSION:
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise AtdataError("npm is not on PATH; the official lexicon validator needs node and npm")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Install next to the target and move it into place, so an interrupted install leaves nothing half-done.
    staging = Path(tempfile.mkdtemp(prefix="lexicon-", dir=target.parent))
    try:
        (staging / "package.json").write_text(
            json.dumps({"name": "atdata-lexicon-check", "private": True, "type": "module"}), encoding="utf-8"
        )
        proc = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", f"{PACKAGE}@{VERSION}"],
            cwd=staging,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if proc.returncode != 0:
            raise AtdataError(f"npm install {PACKAGE}@{VERSION} failed:\n{proc.stderr[-2000:]}")
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def run(docs: Sequence[dict[str, Any]], cases: Sequence[Case]) -> OfficialReport:
    """Load ``docs`` into the official ``Lexicons`` and validate every case with it."""
    node = shutil.which("node")
    if node is None:
        raise AtdataError("node is not on PATH; the official lexicon validator needs it")
    where = ensure_installed()
    script = where / _SCRIPT.name
    if not script.is_file() or script.read_bytes() != _SCRIPT.read_bytes():
        shutil.copyfile(_SCRIPT, script)  # ESM resolves packages next to the script, so it runs from there
    payload = {
        "docs": list(docs),
        "cases": [{"kind": c.kind, "nsid": c.nsid, "value": c.value} for c in cases],
    }
    proc = subprocess.run(
        [node, str(script)], input=json.dumps(payload), capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        raise AtdataError(f"the official lexicon validator failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout)
    return OfficialReport(
        out["docErrors"], out["refErrors"], [Verdict(r["ok"], r["error"]) for r in out["results"]]
    )
