"""Modules are named for what they hold: no two product modules share a file name unless they mirror
each other by design (docs/architecture.md, "Module names").

The one kind of mirror: a command module (``atdata/cli``, ``atdata_registry/commands``,
``atdata_appview/commands``) is named for the command it adds, and a command named for a concept
shares that concept module's name (``atdata publish`` in ``commands/publish.py`` drives
``atdata_registry/publish.py``). Beside those, each protocol package's server is its ``server.py``.
Every allowed pair is listed here by path; any other shared name fails.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from product_modules import ROOT, source_files

MIRRORS: set[frozenset[str]] = {
    frozenset(group)
    for group in (
        # command module <-> the concept it drives
        ("sdk/atdata/cli/codegen.py", "sdk/atdata/schema/codegen.py"),
        ("sdk/atdata/cli/lens.py", "sdk/atdata/lenses/lens.py"),
        ("sdk/atdata/cli/trust.py", "sdk/atdata/trust.py"),
        ("registry/atdata_registry/commands/demo.py", "registry/atdata_registry/demo.py"),
        ("registry/atdata_registry/commands/identity.py", "sdk/atdata/network/identity.py"),
        ("registry/atdata_registry/commands/migrate.py", "registry/atdata_registry/migrate.py"),
        ("registry/atdata_registry/commands/publish.py", "registry/atdata_registry/publish.py"),
        # each protocol package's server: MCP for agents, XRPC over HTTP for the appview
        ("sdk/atdata/mcp/server.py", "appview/atdata_appview/xrpc/server.py"),
    )
}

def shared_names() -> dict[str, set[str]]:
    by_name: dict[str, set[str]] = defaultdict(set)
    for path in source_files().values():
        if path.name != "__init__.py":
            by_name[path.name].add(path.relative_to(ROOT).as_posix())
    return {name: paths for name, paths in by_name.items() if len(paths) > 1}


def test_no_two_product_modules_share_a_name_unless_they_mirror_each_other() -> None:
    unexpected = {
        name: sorted(paths)
        for name, paths in shared_names().items()
        if frozenset(paths) not in MIRRORS
    }
    assert unexpected == {}, (
        f"modules sharing a file name: {unexpected}; rename one for what it holds, or (a command module "
        "named for its concept) list the pair in MIRRORS"
    )


def test_each_listed_mirror_pairs_files_of_one_name() -> None:
    # A pair whose file was since renamed stops mattering (its files no longer share a name).
    for group in MIRRORS:
        assert len(group) == 2 and len({Path(p).name for p in group}) == 1, sorted(group)


def test_the_walk_sees_a_shared_name_when_there_is_one() -> None:
    names = shared_names()
    assert frozenset(names["publish.py"]) in MIRRORS
    assert all(isinstance(p, str) and Path(p).suffix == ".py" for paths in names.values() for p in paths)
