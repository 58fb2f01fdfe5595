"""Where atdata keeps its files, and the user's settings.

:func:`settings` is the one place every command and the SDK read the appview, PLC directory and PDS
from. Strongest first:

1. a command-line flag (``--appview``, ``--plc``, ``--pds``) or :func:`configure` in this process;
2. environment variables ``ATDATA_APPVIEW``, ``ATDATA_PLC``, ``ATDATA_PDS``;
3. the config file ``config.json`` in the config dir (keys ``appview``, ``plc``, ``pds``);
4. the local network that ``atdata dev up`` started, while it runs (``dev-network.json`` in the
   state dir; ``atdata dev down`` forgets it);
5. defaults: the public PLC directory, no appview, no PDS.

The config dir is ``ATDATA_CONFIG_DIR`` or the platform's user config dir; files there are written
0600 because the same folder holds the session file. The state dir is ``ATDATA_STATE_DIR`` or the
platform's user state dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
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


DEV_NETWORK_FILE = "dev-network.json"
SETTING_KEYS = ("appview", "plc", "pds")
ENV_VARS = {"appview": "ATDATA_APPVIEW", "plc": "ATDATA_PLC", "pds": "ATDATA_PDS"}


@dataclass(frozen=True)
class Settings:
    appview: str | None
    plc: str
    pds: str | None
    """A PDS to ask for handle resolution (local networks, whose ``.test`` handles have no DNS)."""
    sources: dict[str, str] = field(default_factory=dict, compare=False)
    """Where each value came from (``flag``, ``environment``, ``config file``, ``dev network``,
    ``default``), for error messages."""

    def require_appview(self) -> str:
        """The appview URL, or an error saying it is missing and how to set it."""
        if not self.appview:
            raise AtdataError(missing_setting_message("appview"))
        return self.appview


def how_to_set(key: str) -> str:
    """Every way to set the setting ``key``, strongest first, for error messages."""
    return (
        f"pass --{key} URL, call atdata.configure({key}=URL), set {ENV_VARS[key]}=URL, put \"{key}\" "
        f"in {config_dir() / CONFIG_FILE}, or start a local network with `atdata dev up`"
    )


def missing_setting_message(key: str) -> str:
    """What to do when the setting ``key`` is not set anywhere."""
    return f"no {key} is configured: {how_to_set(key)}"


def dev_network_path() -> Path:
    return state_dir() / DEV_NETWORK_FILE


def remember_dev_network(*, pid: int, appview_pid: int | None = None, **urls: str | None) -> Path:
    """Record the local network ``atdata dev up`` started (``plc``, ``pds``, ``appview`` URLs and the
    pid whose life bounds it; an appview's own pid bounds its URL), so that other processes use it
    with no flags."""
    path = dev_network_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("pid") != pid:
            data = {}
    except (OSError, ValueError):
        data = {}
    data["pid"] = pid
    if appview_pid is not None:
        data["appview_pid"] = appview_pid
    for key, url in urls.items():
        if key not in SETTING_KEYS:
            raise ValueError(f"unknown setting {key!r}")
        if url:
            data[key] = url.rstrip("/")
        else:
            data.pop(key, None)
    write_private(path, json.dumps(data, indent=2, sort_keys=True) + "\n")
    return path


def forget_dev_network(key: str | None = None) -> None:
    """Forget the local network (``key=None``), or only one of its URLs (an appview that stopped)."""
    path = dev_network_path()
    if key is None:
        path.unlink(missing_ok=True)
        return
    data = dev_network()
    if data.pop(key, None) is not None:
        if key == "appview":
            data.pop("appview_pid", None)
        write_private(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def dev_network() -> dict[str, Any]:
    """The running local network's recorded values, or ``{}`` (none recorded, or its process is gone)."""
    try:
        data = json.loads(dev_network_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or not _alive(data.get("pid")):
        return {}
    if "appview_pid" in data and not _alive(data["appview_pid"]):
        data.pop("appview", None)  # that appview stopped without saying so
    return data


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def configure(*, appview: str | None = None, plc: str | None = None, pds: str | None = None) -> None:
    """Set this process's appview URL (and, for local networks, PLC directory and PDS).

    ``atdata.configure(appview="http://127.0.0.1:8080")`` outranks ``ATDATA_APPVIEW``, the config file
    and the dev network, as a command-line flag does.
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
    """The appview, PLC directory and PDS to use, in the order the module docstring gives."""
    file = read_config_file()
    dev = dev_network()
    values: dict[str, str | None] = {}
    sources: dict[str, str] = {}
    for key in SETTING_KEYS:
        for source, value in (
            ("flag", _overrides.get(key)),
            ("environment", os.environ.get(ENV_VARS[key])),
            ("config file", file.get(key)),
            ("dev network", dev.get(key)),
        ):
            if value:
                values[key], sources[key] = str(value).rstrip("/"), source
                break
        else:
            values[key], sources[key] = None, "default"
    plc = values["plc"] or DEFAULT_PLC
    return Settings(appview=values["appview"], plc=plc, pds=values["pds"], sources=sources)
