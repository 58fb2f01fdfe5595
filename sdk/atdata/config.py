"""Where atdata keeps its files, and the user's settings.

Settings come, strongest first, from :func:`configure` in this process, environment variables
(``ATDATA_APPVIEW``, ``ATDATA_PLC``), the config file ``config.json`` in the config dir, and defaults.
The config dir is ``ATDATA_CONFIG_DIR`` or the platform's user config dir; files there are written
0600 because the same folder holds the session file.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from atdata.errors import AtdataError

CONFIG_FILE = "config.json"
DEFAULT_PLC = "https://plc.directory"

_overrides: dict[str, Any] = {}


def config_dir() -> Path:
    return Path(os.environ.get("ATDATA_CONFIG_DIR") or platformdirs.user_config_dir("atdata"))


def cache_dir() -> Path:
    return Path(os.environ.get("ATDATA_CACHE_DIR") or platformdirs.user_cache_dir("atdata"))


def state_dir() -> Path:
    return Path(os.environ.get("ATDATA_STATE_DIR") or platformdirs.user_state_dir("atdata"))


def write_private(path: Path, text: str) -> None:
    """Write ``text`` atomically with mode 0600 (the file never exists with wider permissions)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_config_file() -> dict[str, Any]:
    path = config_dir() / CONFIG_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as e:
        raise AtdataError(f"cannot read the atdata config file {path}: {e}; fix or delete it") from e
    if not isinstance(data, dict):
        raise AtdataError(f"the atdata config file {path} must hold a JSON object; fix or delete it")
    return data


def write_config_file(data: dict[str, Any]) -> Path:
    path = config_dir() / CONFIG_FILE
    write_private(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


@dataclass(frozen=True)
class Settings:
    appview: str | None
    plc: str
    pds: str | None
    """A PDS to ask for handle resolution (local networks, whose ``.test`` handles have no DNS)."""


def configure(*, appview: str | None = None, plc: str | None = None, pds: str | None = None) -> None:
    """Set this process's appview URL (and, for local networks, PLC directory and PDS).

    ``atdata.configure(appview="http://127.0.0.1:8080")`` is the same as ``ATDATA_APPVIEW``.
    """
    for key, value in (("appview", appview), ("plc", plc), ("pds", pds)):
        if value is not None:
            _overrides[key] = value.rstrip("/")


@contextlib.contextmanager
def configured(
    *, appview: str | None = None, plc: str | None = None, pds: str | None = None
) -> Iterator[None]:
    """:func:`configure` for the duration of a ``with`` block, restoring what was set before."""
    saved = dict(_overrides)
    configure(appview=appview, plc=plc, pds=pds)
    try:
        yield
    finally:
        _overrides.clear()
        _overrides.update(saved)


def reset_configuration() -> None:
    """Forget what :func:`configure` set (tests use this)."""
    _overrides.clear()


def settings() -> Settings:
    file = read_config_file()

    def pick(key: str, env: str) -> str | None:
        value = _overrides.get(key) or os.environ.get(env) or file.get(key)
        return str(value).rstrip("/") if value else None

    return Settings(
        appview=pick("appview", "ATDATA_APPVIEW"),
        plc=pick("plc", "ATDATA_PLC") or DEFAULT_PLC,
        pds=pick("pds", "ATDATA_PDS"),
    )
