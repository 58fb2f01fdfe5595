"""The `atdata` command as text: a version, and help that reads as plain text (no reST markup)."""

from __future__ import annotations

import argparse
import importlib.metadata
import re

import pytest

from atdata.cli.main import build_parser, main, plain_text

MARKUP = re.compile(r"``|:(?:py:)?(?:func|class|meth|mod|attr|data|exc|obj):`")


def _all_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                found += _all_parsers(child)
    return found


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"atdata {importlib.metadata.version('atdata')}"


def test_every_help_page_is_plain_text() -> None:
    parsers = _all_parsers(build_parser())
    assert len(parsers) > 20
    for parser in parsers:
        text = parser.format_help()
        assert not MARKUP.search(text), f"{parser.prog} --help shows markup:\n{text}"


def test_plain_text_keeps_the_words_of_roles_and_literals() -> None:
    assert plain_text("see :func:`atdata.resolve` and ``Name@1.2.0``") == "see resolve and Name@1.2.0"
    assert plain_text(":class:`~atdata.Dataset`") == "Dataset"
