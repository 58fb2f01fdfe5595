"""The static check of lens code against the dialect (see :mod:`atdata.sandbox.dialect`).

:func:`validate_source` is pure: it never runs the code and never raises on bad code; it returns
every :class:`~atdata.errors.Violation` it finds. A tokenizer pass bounds size, nesting and
operator chains *before* anything parses the code (:mod:`atdata.sandbox.gate`), and libcst then
parses it in a locked-down child process (:mod:`atdata.sandbox.checker`), because libcst's native
parser has crashed whole processes on pathological input instead of raising. The tree check
itself is :mod:`atdata.sandbox.dialect_tree`, imported only where it runs (libcst is a fifth of a
fresh process's resolve).
"""

from __future__ import annotations

import hashlib

from atdata.errors import LensValidationError, Violation
from atdata.sandbox.checker import tree_violations
from atdata.sandbox.gate import gate_text

# sha-256 of sources found clean in this process (each check costs a round trip to the checker child)
_clean: set[bytes] = set()
_MAX_CLEAN = 4096


def validate_source(source: str, *, filename: str = "<lens>") -> list[Violation]:
    """Every place ``source`` leaves the lens dialect, sorted by position; empty when it is clean.

    The lexical gate runs here; the parse and tree check run in the checker child
    (:mod:`atdata.sandbox.checker`), whose crash or timeout is reported as a violation.
    """
    del filename  # kept in the signature so callers can name the file in future messages
    digest = hashlib.sha256(source.encode("utf-8", "surrogatepass")).digest()
    if digest in _clean:
        return []
    gate, fatal = gate_text(source)
    if fatal:
        return gate
    found = sorted(set(gate + tree_violations(source)), key=lambda v: (v.line, v.column, v.reason))
    if not found:
        # The check is a pure function of the text: code found clean once is clean. Only clean
        # answers are kept, since a checker that timed out on a loaded machine says nothing lasting.
        if len(_clean) >= _MAX_CLEAN:
            _clean.clear()
        _clean.add(digest)
    return found


def check_source(source: str, *, filename: str = "<lens>") -> None:
    """Raise :class:`~atdata.errors.LensValidationError` listing every violation, if any."""
    violations = validate_source(source, filename=filename)
    if violations:
        raise LensValidationError(filename, violations)
