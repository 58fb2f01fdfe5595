"""One file of someone else's git repository, at exactly the commit a record names.

atdata 0.7 publishes lens code as a git reference (repository, commit, path). Every part of it is a
stranger's word, so :func:`fetch_file` treats it as hostile:

- the repository must be an ``https://`` or ``http://`` URL (``file://`` only when the caller allows
  it); ``ext::`` and other transport helpers, scp-like ``host:path`` and anything that could be read
  as an option (``--upload-pack=...``) are refused before git runs, and git itself is told the same
  (``protocol.allow``, ``GIT_ALLOW_PROTOCOL``, ``--`` before the URL);
- the host is checked with the location guard's rule (:func:`atdata.network.guard.address_rule`):
  loopback, private, link-local and other non-public addresses are refused unless the caller allows
  that host; git connects to the address that was checked (``http.curloptResolve``) and follows no
  redirect, so DNS rebinding and redirects cannot reach the machine's own network;
- the commit must be a full commit id (a branch or tag can move under a record); one commit is
  fetched, shallow, into a fresh temporary bare repository that is deleted afterwards, under a
  timeout and a size limit (a file-size rlimit on git's processes and a watch on the directory);
  git runs with no user or system configuration, no hooks, no submodules, no credential prompts,
  and checks every object it receives (``transfer.fsckObjects``);
- what was fetched must be that commit (``git rev-parse FETCH_HEAD``); the path must be relative
  with no ``..``, and name a regular file in that commit's tree (a symlink is refused, whatever it
  points to: nothing is checked out, so nothing outside the repository is ever read), of at most
  ``max_bytes``, in UTF-8.

Errors (:class:`~atdata.errors.CodeReferenceError`, :class:`~atdata.errors.LocationRefusedError`)
name the repository, commit and path, and what failed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from atdata.errors import CodeReferenceError, LocationRefusedError

MAX_FILE_BYTES = 1 << 20
"""Largest file read (a lens module is a few kilobytes)."""
MAX_FETCH_BYTES = 64 << 20
"""Largest download: the shallow fetch brings the whole tree of the commit."""
TIMEOUT = 60.0
"""Seconds a fetch may take."""

_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class GitFile:
    """A file read from a repository at a commit that git confirmed."""

    repository: str
    commit: str
    path: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.repository} at commit {self.commit}, path {self.path}"


def check_commit(commit: str, where: str) -> str:
    """The commit id in lower case; CodeReferenceError unless it is a full SHA-1 or SHA-256 id."""
    if not isinstance(commit, str) or not _COMMIT.fullmatch(commit.lower()):
        raise CodeReferenceError(
            f"{where}: commit {_quoted(commit)} is not a full commit id (40 or 64 hex digits); a "
            "branch, tag or abbreviated id can change under the record, so it is not fetched"
        )
    return commit.lower()


def check_path(path: str, where: str) -> str:
    """A path inside the repository: relative, no ``..``, no empty or control characters."""
    bad = (
        not isinstance(path, str)
        or not path
        or len(path) > 4096
        or not path.isprintable()
        or "\\" in path
        or path.startswith("/")
    )
    parts = PurePosixPath(path).parts if not bad else ()
    if bad or any(p in ("..", ".") for p in path.split("/")) or not parts:
        raise CodeReferenceError(
            f"{where}: path {_quoted(path)} is not a relative path inside the repository "
            "(no leading /, no .. or . components, no backslashes or control characters)"
        )
    return "/".join(parts)


def check_repository(repository: str, *, allow_file: bool = False) -> tuple[str, str, int] | None:
    """``(scheme, host, port)`` of an http(s) repository URL, None for an allowed ``file://`` one.

    Refuses (LocationRefusedError, rule ``scheme``) everything else: transport helpers (``ext::``),
    scp-like addresses, options, other schemes.
    """
    schemes = ("https", "http", "file") if allow_file else ("https", "http")
    shown = _quoted(repository)
    if (
        not isinstance(repository, str)
        or not repository
        or not repository.isprintable()
        or any(c.isspace() for c in repository)
        or repository.startswith("-")
        or "::" in repository
    ):
        raise LocationRefusedError(
            f"refused the repository {shown} (rule: scheme; a repository is an "
            f"{' or '.join(s + '://' for s in schemes)} URL, never a transport helper, option or command)",
            rule="scheme",
        )
    try:
        parts = urlsplit(repository)
        port = parts.port
    except ValueError:
        parts, port = None, None
    scheme = parts.scheme.lower() if parts is not None else ""
    if parts is None or scheme not in schemes or "://" not in repository:
        extra = "" if allow_file else " (file:// only when allowed explicitly)"
        raise LocationRefusedError(
            f"refused the repository {shown} (rule: scheme; only "
            f"{', '.join(s + '://' for s in schemes)} repositories are fetched{extra})",
            rule="scheme",
        )
    if scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise LocationRefusedError(
                f"refused the repository {shown} (rule: scheme; a file:// repository is an absolute "
                "local path)",
                rule="scheme",
            )
        return None
    host = (parts.hostname or "").lower()
    if not host:
        raise LocationRefusedError(f"refused the repository {shown}: it names no host", rule="scheme")
    return scheme, host, port or (443 if scheme == "https" else 80)


def fetch_file(
    repository: str,
    commit: str,
    path: str,
    *,
    allow_hosts: Iterable[str] = (),
    allow_file: bool = False,
    max_bytes: int = MAX_FILE_BYTES,
    max_fetch_bytes: int = MAX_FETCH_BYTES,
    timeout: float = TIMEOUT,
) -> GitFile:
    """The file at ``path`` in ``repository`` at exactly ``commit`` (see the module docstring)."""
    from atdata.network.guard import Guard

    where = f"repository {_quoted(repository)}"
    commit = check_commit(commit, where)
    path = check_path(path, f"{where} at commit {commit}")
    origin = check_repository(repository, allow_file=allow_file)
    config = _config(allow_file)
    if origin is not None:
        scheme, host, port = origin
        guard = Guard.of(allow_hosts=allow_hosts)
        if not guard.host_allowed(scheme, host, port):
            try:
                address = guard.addresses(host, port)[0]
            except LocationRefusedError as e:
                raise LocationRefusedError(
                    f"refused to fetch {where}: {host} is a {e.rule} address, which is not reached on "
                    "a record's word (pass --allow-host HOST to allow it)",
                    rule=e.rule,
                ) from None
            except OSError as e:
                raise CodeReferenceError(f"cannot fetch {where}: {e}") from None
            shown = f"[{address}]" if ":" in address else address
            config += ["-c", f"http.curloptResolve={host}:{port}:{shown}"]
    git = shutil.which("git")
    if git is None:
        raise CodeReferenceError(f"cannot fetch {where}: git is not installed (it is needed to fetch code)")
    where = f"{where} at commit {commit}"
    with tempfile.TemporaryDirectory(prefix="atdata-git-") as tmp:
        repo = Path(tmp) / "repo"
        env = _environment(tmp, allow_file)
        _run([git, "init", "--quiet", "--bare", str(repo)], env, where, timeout=timeout)
        base = [git, "-C", str(repo), *config]
        fetch = [*base, "fetch", "--quiet", "--depth=1", "--no-tags", "--no-recurse-submodules"]
        _fetch([*fetch, "--", repository, commit], env, Path(tmp), where, max_fetch_bytes, timeout)
        fetched = _run([*base, "rev-parse", "--verify", "FETCH_HEAD^{commit}"], env, where).strip()
        if fetched.decode("ascii", "replace") != commit:
            raise CodeReferenceError(
                f"{where}: the repository sent commit {fetched[:64].decode('ascii', 'replace')}, not the "
                "one the record names"
            )
        listing = _run([*base, "ls-tree", "--long", "-z", commit, "--", path], env, where)
        entry = next((e for e in listing.split(b"\0") if e.endswith(b"\t" + path.encode())), None)
        if entry is None:
            raise CodeReferenceError(f"{where}: no file {path!r} in that commit")
        mode, kind, oid, size = entry.split(b"\t", 1)[0].split()
        if kind != b"blob" or mode not in (b"100644", b"100755"):
            what = "a symlink" if mode == b"120000" else "a submodule" if kind == b"commit" else "not a file"
            raise CodeReferenceError(
                f"{where}: {path!r} is {what} in that commit (mode {mode.decode()}); only a regular file "
                "is read"
            )
        if int(size) > max_bytes:
            raise CodeReferenceError(
                f"{where}: {path!r} is {int(size)} bytes, more than the limit of {max_bytes}"
            )
        data = _run([*base, "cat-file", "blob", oid.decode()], env, where)
    if len(data) > max_bytes:
        raise CodeReferenceError(f"{where}: {path!r} is larger than the limit of {max_bytes} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CodeReferenceError(f"{where}: {path!r} is not UTF-8 (byte {e.start})") from None
    return GitFile(repository, commit, path, text)


def _config(allow_file: bool) -> list[str]:
    """``-c`` options that make git fetch and nothing else, whatever the repository holds."""
    settings = {
        "protocol.allow": "never",
        "protocol.https.allow": "always",
        "protocol.http.allow": "always",
        "protocol.file.allow": "always" if allow_file else "never",
        "protocol.version": "2",  # fetch by commit id without the server's allowAnySHA1InWant
        "http.followRedirects": "false",
        "core.hooksPath": os.devnull,
        "core.askPass": "",
        "credential.helper": "",
        "core.fsmonitor": "false",
        "fetch.recurseSubmodules": "false",
        "submodule.recurse": "false",
        "transfer.fsckObjects": "true",
        "gc.auto": "0",
        "maintenance.auto": "false",
    }
    return [arg for k, v in settings.items() for arg in ("-c", f"{k}={v}")]


def _environment(home: str, allow_file: bool) -> dict[str, str]:
    """A clean environment: no user or system git configuration, no prompts, no inherited GIT_*."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "LANG": "C",
        "LC_ALL": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_ALLOW_PROTOCOL": "https:http" + (":file" if allow_file else ""),
        "GIT_PROTOCOL_FROM_USER": "0",
        "GIT_LITERAL_PATHSPECS": "1",
    }


def _run(args: list[str], env: dict[str, str], where: str, *, timeout: float = 30.0) -> bytes:
    try:
        done = subprocess.run(args, env=env, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise CodeReferenceError(f"{where}: git {args[-1]} took longer than {timeout:g}s") from None
    if done.returncode != 0:
        raise CodeReferenceError(f"{where}: git failed: {_said(done.stderr)}")
    return done.stdout


def _fetch(
    args: list[str], env: dict[str, str], tmp: Path, where: str, max_bytes: int, timeout: float
) -> None:
    """Run ``git fetch`` under a timeout and a size limit on what it writes."""

    # No file git writes grows past the limit (ulimit -f counts 512-byte blocks); set by a shell
    # rather than preexec_fn, which is not safe in a process with threads.
    blocks = str(max(1, max_bytes // 512))
    limited = ["/bin/sh", "-c", 'ulimit -f "$0" && exec "$@"', blocks, *args]
    log = tmp / "fetch.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            limited,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        failure = ""
        while proc.poll() is None:
            if time.monotonic() > deadline:
                failure = f"the fetch took longer than {timeout:g}s"
            elif _size(tmp / "repo") > max_bytes:
                failure = f"the fetch grew past the limit of {max_bytes} bytes"
            if failure:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
                break
            time.sleep(0.05)
    if failure:
        raise CodeReferenceError(f"{where}: {failure}")
    if proc.returncode == -signal.SIGXFSZ or proc.returncode == 128 + signal.SIGXFSZ:
        raise CodeReferenceError(f"{where}: the fetch grew past the limit of {max_bytes} bytes")
    if proc.returncode != 0:
        said = _said(log.read_bytes()[-4000:])
        if f"died of signal {int(signal.SIGXFSZ)}" in said or "file size limit" in said.lower():
            raise CodeReferenceError(f"{where}: the fetch grew past the limit of {max_bytes} bytes")
        raise CodeReferenceError(f"{where}: cannot fetch that commit: {said}")


def _size(root: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with contextlib.suppress(OSError):  # a temporary file git just renamed
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


def _said(stderr: bytes) -> str:
    """What git said, as one printable line (the server's words included: shown, never obeyed)."""
    text = stderr.decode("utf-8", "replace")
    text = " ".join(
        "".join(c if c.isprintable() else " " for c in line).strip() for line in text.splitlines()
    )
    text = text.strip() or "no message"
    return text if len(text) <= 400 else text[:397] + "..."


def _quoted(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:197] + "..."
