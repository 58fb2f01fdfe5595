"""`atdata lens import AT_URI`: an atdata 0.7 lens record on a real PDS, its code fetched from a real
git repository at exactly the record's commit, translated into a module of this dialect.

The record is the one atdata 0.7.0b1's LensPublisher wrote (tests/fixtures/atdata07/lens.json) with
the repository and commit only this test knows filled in, created in a dev-stack account as 0.7's
client does; the repository is made with ``git`` and served by ``git http-backend`` on loopback.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fixtures07 import FIXTURES
from git_http import LENS07, git, serve_git
from resolve_world import Author, new_author

from atdata.cli.main import main
from atdata.lenses.translate07 import import_record, translate
from atdata.network.predecessor import ALT_LENS
from atdata_registry.devstack import DevStack

pytestmark = pytest.mark.integration

RECORD_REPO = "https://github.com/example/lenses"
RECORD_COMMIT = "0123456789abcdef0123456789abcdef01234567"


LATER = LENS07.read_text().replace("import numpy as np", "import numpy as np\nimport os")
"""The file at a later commit: one import outside the dialect."""


@dataclass
class Served:
    author: Author
    url: str  # the repository
    commit: str
    tip: str


def lens_record(repository: str, commit: str, path: str = "lenses/full_to_view.py") -> dict[str, Any]:
    """0.7's lens record (lens.json) pointing at ``repository`` at ``commit``."""
    text = (FIXTURES / "lens.json").read_text()
    text = text.replace(RECORD_REPO, repository).replace(RECORD_COMMIT, commit)
    text = text.replace("lenses/full_to_view.py:", path + ":")
    text = text.replace("{{SCHEMA_URI}}", "at://did:plc:fixture/science.alt.dataset.schema/r1")
    value: dict[str, Any] = json.loads(text)
    return value


def publish(author: Author, value: dict[str, Any]) -> tuple[str, str]:
    answer = author.publisher.session.procedure(
        "com.atproto.repo.createRecord",
        {"repo": author.did, "collection": ALT_LENS, "record": value, "validate": False},
    )
    return str(answer["uri"]), str(answer["cid"])


@pytest.fixture(scope="module")
def served(dev_stack: DevStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path_factory.mktemp("git-lenses")
    work = root / "lenses"
    (work / "lenses").mkdir(parents=True)
    git(work, "init", "--quiet")
    shutil.copy(LENS07, work / "lenses" / "full_to_view.py")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "the lens")
    commit = git(work, "rev-parse", "HEAD")
    (work / "lenses" / "full_to_view.py").write_text(LATER)
    git(work, "commit", "--quiet", "-am", "later")
    with serve_git(root) as url:
        yield Served(new_author(dev_stack, "lens07"), f"{url}/lenses", commit, git(work, "rev-parse", "HEAD"))


@pytest.fixture
def configured(dev_stack: DevStack, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATDATA_PLC", dev_stack.plc)
    monkeypatch.setenv("ATDATA_PDS", dev_stack.pds)


def test_a_record_imports_as_the_module_of_its_file_at_its_commit(served: Served, configured: None) -> None:
    uri, cid = publish(served.author, lens_record(served.url, served.commit))
    imported = import_record(uri, allow_hosts=["127.0.0.1"])
    assert (imported.uri, imported.cid) == (uri, cid)
    assert (imported.code.repository, imported.code.commit) == (served.url, served.commit)
    assert (imported.code.function, imported.putter and imported.putter.function) == (
        "full_to_view",
        "full_to_view_put",
    )
    assert imported.translation.blockers == []
    assert imported.translation.source == translate(LENS07.read_text()).source


def test_the_command_writes_the_module_headed_by_where_it_came_from(
    served: Served, configured: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uri, cid = publish(served.author, lens_record(served.url, served.commit))
    out = tmp_path / "lens.py"
    assert main(["lens", "import", uri, "--allow-host", "127.0.0.1", "-o", str(out)]) == 0
    module, err = out.read_text(), capsys.readouterr().err
    for fact in (uri, cid, served.url, served.commit, "lenses/full_to_view.py"):
        assert fact in module.split("\n\n", 1)[0] and fact in err
    assert "def get(s: Full) -> View:" in module and "def put(v: View, s: Full) -> Full:" in module


def test_what_blocks_the_file_is_listed_with_its_line(
    served: Served, configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    uri, _ = publish(served.author, lens_record(served.url, served.tip))
    assert main(["lens", "import", uri, "--allow-host", "127.0.0.1"]) == 1
    err = capsys.readouterr().err
    line = LATER.splitlines().index("import os") + 1
    assert f"lenses/full_to_view.py:{line}: imports os; lens code may import only numpy and math" in err
    assert f"commit: {served.tip}" in err


def test_a_repository_on_loopback_is_refused_without_allow_host_naming_the_record(
    served: Served, configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    uri, cid = publish(served.author, lens_record(served.url, served.commit))
    assert main(["lens", "import", uri]) == 1
    err = capsys.readouterr().err
    assert uri in err and cid in err and "loopback" in err and "--allow-host" in err


def test_a_commit_the_repository_lacks_fails_naming_record_repository_and_commit(
    served: Served, configured: None
) -> None:
    missing = "fedcba9876543210fedcba9876543210fedcba98"
    uri, _ = publish(served.author, lens_record(served.url, missing))
    done = subprocess.run(
        [sys.executable, "-m", "atdata.cli.main", "lens", "import", uri, "--allow-host", "127.0.0.1"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    for fact in (uri, served.url, missing, "cannot fetch that commit"):
        assert fact in done.stderr


def test_a_record_naming_a_transport_helper_runs_nothing(
    served: Served, configured: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = tmp_path / "pwned"
    uri, _ = publish(served.author, lens_record(f"ext::sh -c touch% {marker}", served.commit))
    assert main(["lens", "import", uri, "--allow-host", "127.0.0.1"]) == 1
    assert "rule: scheme" in capsys.readouterr().err and not marker.exists()


def test_a_record_path_escaping_the_repository_is_refused(
    served: Served, configured: None, capsys: pytest.CaptureFixture[str]
) -> None:
    uri, _ = publish(served.author, lens_record(served.url, served.commit, path="../../etc/passwd"))
    assert main(["lens", "import", uri, "--allow-host", "127.0.0.1"]) == 1
    assert "not a relative path inside the repository" in capsys.readouterr().err
