"""The `atdata` subcommands are the installed ``atdata.commands`` entry points, and only those."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
import tomllib
from pathlib import Path

import pytest

from atdata.cli.main import COMMAND_GROUP, build_parser, command_entry_points, main

ROOT = Path(__file__).resolve().parents[2]


def _commands(parser: argparse.ArgumentParser) -> set[str]:
    (sub,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return set(sub.choices)


def _plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, entry: str, module: str = "") -> None:
    """A second installed distribution on sys.path, declaring one ``atdata.commands`` entry point."""
    dist = tmp_path / "atdata_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: atdata-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[{COMMAND_GROUP}]\n{entry}\n")
    if module:
        (tmp_path / "atdata_plugin_cmd.py").write_text(module)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()


def test_every_command_in_help_comes_from_an_entry_point() -> None:
    names = {ep.name for ep in command_entry_points()}
    assert names, "no atdata.commands entry points installed: run .ci/setup (pip install -e .)"
    assert _commands(build_parser()) == names


def test_each_entry_point_adds_exactly_the_command_it_is_named_for() -> None:
    for ep in command_entry_points():
        sub = argparse.ArgumentParser().add_subparsers()
        ep.load()(sub)
        assert set(sub.choices) == {ep.name}, f"entry point {ep.name} = {ep.value} adds {set(sub.choices)}"


def test_the_installed_entry_points_are_the_ones_pyproject_declares() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["entry-points"][COMMAND_GROUP]
    installed = {ep.name: ep.value for ep in command_entry_points()}
    assert installed == declared, "installed entry points are stale: reinstall (.ci/setup, pip install -e .)"


def test_another_distribution_adds_a_command_through_the_same_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _plugin(
        tmp_path,
        monkeypatch,
        "hello = atdata_plugin_cmd:register",
        "def register(sub):\n"
        "    sub.add_parser('hello', help='say hello').set_defaults(func=lambda args: print('hello') or 0)\n",
    )
    monkeypatch.delitem(sys.modules, "atdata_plugin_cmd", raising=False)
    assert "hello" in _commands(build_parser())
    assert main(["hello"]) == 0
    assert capsys.readouterr().out == "hello\n"


def test_a_command_whose_module_is_missing_is_left_out_with_a_warning_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _plugin(tmp_path, monkeypatch, "broken = atdata_no_such_module:register")
    commands = _commands(build_parser())
    assert "broken" not in commands and "publish" in commands
    err = capsys.readouterr().err
    assert "'broken'" in err and "atdata_no_such_module:register" in err and "atdata-plugin" in err
