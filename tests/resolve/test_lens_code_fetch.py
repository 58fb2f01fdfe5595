"""One file of a stranger's git repository at exactly the commit a 0.7 lens record names
(:mod:`atdata.network.gitfetch`), and every way a record can try to make that fetch act on this machine.

The repository is a real one (``git init``, commits by git) served over loopback by git's own smart
HTTP server (``git http-backend``, :mod:`git_http`); loopback is a private address, so the tests
that fetch allow it explicitly, as a user would with ``--allow-host``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from git_http import LENS07, git, serve_git

from atdata.errors import CodeReferenceError, LocationRefusedError
from atdata.network.gitfetch import fetch_file

LOOPBACK = ("127.0.0.1",)


@dataclass
class Repo:
    url: str
    path: Path
    first: str  # the commit with the 0.7 lens file
    second: str  # a later commit: the file changed, a symlink out of the repository, a large file


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Repo]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = tmp_path_factory.mktemp("git-served")
    work = root / "lenses"
    work.mkdir()
    git(work, "init", "--quiet", "--initial-branch=main")
    git(work, "config", "http.receivepack", "false")
    (work / "lenses").mkdir()
    shutil.copy(LENS07, work / "lenses" / "full_to_view.py")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "a 0.7 lens")
    first = git(work, "rev-parse", "HEAD")
    (work / "lenses" / "full_to_view.py").write_text("# changed after the record was published\n")
    os.symlink("/etc/passwd", work / "lenses" / "outside.py")
    os.symlink("../..", work / "up")
    (work / "lenses" / "huge.py").write_bytes(b"#" * (2 << 20))
    git(work, "add", ".")
    git(work, "update-index", "--add", "--cacheinfo", f"160000,{first},lenses/sub.py")  # a submodule
    git(work, "commit", "--quiet", "-m", "later")
    second = git(work, "rev-parse", "HEAD")
    with serve_git(root) as url:
        yield Repo(f"{url}/lenses", work, first, second)


def test_the_file_is_read_at_the_commit_the_record_names_not_the_tip(repo: Repo) -> None:
    got = fetch_file(repo.url, repo.first, "lenses/full_to_view.py", allow_hosts=LOOPBACK)
    assert got.text == LENS07.read_text()
    assert (got.commit, got.path) == (repo.first, "lenses/full_to_view.py")


def test_a_commit_the_repository_does_not_have_is_an_error_naming_repository_and_commit(repo: Repo) -> None:
    missing = "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(CodeReferenceError, match=f"{repo.url}.*{missing}.*cannot fetch that commit"):
        fetch_file(repo.url, missing, "lenses/full_to_view.py", allow_hosts=LOOPBACK)


def test_a_branch_name_or_short_id_is_not_a_commit(repo: Repo) -> None:
    for commit in ("main", repo.first[:12], "--upload-pack=touch"):
        with pytest.raises(CodeReferenceError, match="not a full commit id"):
            fetch_file(repo.url, commit, "lenses/full_to_view.py", allow_hosts=LOOPBACK)


def test_a_file_missing_from_the_commit_is_an_error_naming_the_path(repo: Repo) -> None:
    with pytest.raises(CodeReferenceError, match=r"no file 'lenses/absent.py' in that commit"):
        fetch_file(repo.url, repo.first, "lenses/absent.py", allow_hosts=LOOPBACK)


@pytest.mark.parametrize(
    "path", ["../lenses/full_to_view.py", "lenses/../../etc/passwd", "/etc/passwd", "lenses\\x.py", "a\nb"]
)
def test_a_path_escaping_the_repository_is_refused_before_git_runs(repo: Repo, path: str) -> None:
    with pytest.raises(CodeReferenceError, match="not a relative path inside the repository"):
        fetch_file(repo.url, repo.first, path, allow_hosts=LOOPBACK)


def test_a_symlink_pointing_outside_the_repository_is_refused(repo: Repo) -> None:
    with pytest.raises(CodeReferenceError, match=r"'lenses/outside.py' is a symlink"):
        fetch_file(repo.url, repo.second, "lenses/outside.py", allow_hosts=LOOPBACK)


def test_a_submodule_is_not_a_file(repo: Repo) -> None:
    with pytest.raises(CodeReferenceError, match=r"'lenses/sub.py' is a submodule"):
        fetch_file(repo.url, repo.second, "lenses/sub.py", allow_hosts=LOOPBACK)


def test_a_path_through_a_symlinked_directory_finds_nothing(repo: Repo) -> None:
    with pytest.raises(CodeReferenceError, match="no file"):
        fetch_file(repo.url, repo.second, "up/etc/passwd", allow_hosts=LOOPBACK)


def test_a_file_over_the_size_limit_is_refused_naming_its_size(repo: Repo) -> None:
    with pytest.raises(CodeReferenceError, match=r"'lenses/huge.py' is 2097152 bytes, more than the limit"):
        fetch_file(repo.url, repo.second, "lenses/huge.py", allow_hosts=LOOPBACK)


def test_a_fetch_over_the_download_limit_is_stopped(repo: Repo, tmp_path: Path) -> None:
    noise = tmp_path / "noise"
    shutil.copytree(repo.path, noise, symlinks=True)
    (noise / "noise.bin").write_bytes(os.urandom(3 << 20))  # incompressible
    git(noise, "add", ".")
    git(noise, "commit", "--quiet", "-m", "noise")
    commit = git(noise, "rev-parse", "HEAD")
    with serve_git(tmp_path) as url, pytest.raises(CodeReferenceError, match="grew past the limit"):
        fetch_file(
            f"{url}/noise", commit, "lenses/full_to_view.py", allow_hosts=LOOPBACK, max_fetch_bytes=1 << 20
        )


def test_a_repository_at_a_loopback_address_is_refused_without_allow_host(repo: Repo) -> None:
    with pytest.raises(LocationRefusedError, match=r"127\.0\.0\.1 is a loopback address.*--allow-host"):
        fetch_file(repo.url, repo.first, "lenses/full_to_view.py")


def test_a_name_that_resolves_to_loopback_is_refused(repo: Repo) -> None:
    url = repo.url.replace("127.0.0.1", "localhost")
    with pytest.raises(LocationRefusedError) as refused:
        fetch_file(url, repo.first, "lenses/full_to_view.py")
    assert refused.value.rule == "loopback"


@pytest.mark.parametrize(
    "repository",
    [
        "ext::sh -c touch% {marker}",
        "ext::sh",
        "--upload-pack=touch {marker}",
        "-uxx",
        "git@example.com:lenses.git",
        "ssh://example.com/lenses.git",
        "fd::0",
        "file://{repo}",
        "{repo}",
        "at://did:plc:abc/sh.tangled.repo/lenses",
    ],
)
def test_transports_other_than_http_are_refused_and_run_nothing(
    repo: Repo, tmp_path: Path, repository: str
) -> None:
    marker = tmp_path / "pwned"
    repository = repository.format(marker=marker, repo=repo.path)
    with pytest.raises(LocationRefusedError, match="rule: scheme") as refused:
        fetch_file(repository, repo.first, "lenses/full_to_view.py", allow_hosts=LOOPBACK)
    assert refused.value.rule == "scheme" and not marker.exists()


def test_a_file_repository_is_read_only_when_allowed_explicitly(repo: Repo) -> None:
    got = fetch_file(f"file://{repo.path}", repo.first, "lenses/full_to_view.py", allow_file=True)
    assert got.text == LENS07.read_text()


def test_a_redirect_elsewhere_is_not_followed(repo: Repo, tmp_path: Path) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    class Redirect(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(302)
            self.send_header("Location", repo.url + self.path.removeprefix("/moved"))
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/moved"
        with pytest.raises(CodeReferenceError, match="cannot fetch that commit"):
            fetch_file(url, repo.first, "lenses/full_to_view.py", allow_hosts=LOOPBACK)
    finally:
        server.shutdown()
        server.server_close()


def test_a_server_that_never_answers_is_given_up_on_at_the_timeout(repo: Repo) -> None:
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()  # accepts connections, never answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/lenses"
        with pytest.raises(CodeReferenceError, match="took longer than 1s"):
            fetch_file(url, repo.first, "lenses/full_to_view.py", allow_hosts=LOOPBACK, timeout=1)
    finally:
        listener.close()
