"""A git repository served over loopback HTTP by git's own smart-HTTP server, ``git http-backend``.

``serve_git(root)`` runs a small WSGI server (wsgiref) in a thread that hands every request to
``git http-backend`` as CGI, the way a real forge's web server does, and yields its base URL: the
repository ``root/NAME`` (a directory with a ``.git``, or bare) is at ``URL/NAME``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from support.loopback_http import serving

LENS07 = Path(__file__).parents[1] / "fixtures" / "atdata07" / "lens_full_to_view.py"
"""A lens written against atdata 0.7's API (generate.py there runs it under 0.7.0b1)."""


def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` as a test author (no user configuration); its output."""
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t.test"}
    env |= {"GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t.test", "GIT_CONFIG_GLOBAL": os.devnull}
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def _backend() -> str:
    exec_path = subprocess.run(["git", "--exec-path"], capture_output=True, text=True, check=True)
    return str(Path(exec_path.stdout.strip()) / "git-http-backend")


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def _app(root: Path, backend: str) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        env = {
            "GIT_PROJECT_ROOT": str(root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "HOME": str(root),
            "PATH": "/usr/bin:/bin",
        }
        if environ.get("HTTP_GIT_PROTOCOL"):
            env["GIT_PROTOCOL"] = environ["HTTP_GIT_PROTOCOL"]
        if environ.get("HTTP_CONTENT_ENCODING"):
            env["HTTP_CONTENT_ENCODING"] = environ["HTTP_CONTENT_ENCODING"]
        out = subprocess.run([backend], input=body, env=env, capture_output=True, check=False).stdout
        head, _, payload = out.partition(b"\r\n\r\n")
        status = "200 OK"
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name, value.strip()))
        start_response(status, headers)
        return [payload]

    return app


@contextmanager
def serve_git(root: Path) -> Iterator[str]:
    """``git http-backend`` serving the repositories under ``root`` on a loopback port; the base URL."""
    backend = _backend()
    if not Path(backend).exists() or shutil.which("git") is None:
        raise RuntimeError("git http-backend is not installed")
    server = make_server(
        "127.0.0.1", 0, _app(root, backend), server_class=_ThreadingServer, handler_class=_Quiet
    )
    with serving(server) as port:
        yield f"http://127.0.0.1:{port}"
