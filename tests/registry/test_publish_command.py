"""`atdata publish ...` as a user runs it: exit codes, printed at-uris and CIDs, nothing sent on bad input."""

from __future__ import annotations

import json
import textwrap
import uuid
from pathlib import Path
from typing import Any

import pytest

from atdata.cli.main import main
from atdata.network.xrpc import XrpcClient

pytestmark = pytest.mark.integration

TYPES = """
import atdata

@atdata.packable
class Reading:
    \"\"\"One sensor reading.\"\"\"
    sensor: str
    value: float

@atdata.packable
class Measurement:
    device: str
    value: float

class NotASample:
    x: int

rename = atdata.Lens.from_ops([{"op": "rename", "from": "sensor", "to": "device"}],
                              source=Reading, target=Measurement, name="reading_to_measurement")
"""

LEAKY = """
import atdata
from {types} import Measurement, Reading

@atdata.lens(register=False)
def leaky(s: Reading) -> Measurement:
    open("/tmp/x", "w")
    return Measurement(device=s.sensor, value=s.value)
"""


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An importable user module with sample types and lenses; returns its (unique) name."""
    name = f"user_types_{uuid.uuid4().hex[:8]}"
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(TYPES))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


@pytest.fixture
def logged_in(account: Any) -> Any:
    assert main(["login", account.handle, "--password", account.password, "--pds", account.pds]) == 0
    return account


def _schemas(account: Any) -> list[str]:
    with XrpcClient(account.pds) as xrpc:
        page = xrpc.query(
            "com.atproto.repo.listRecords", {"repo": account.did, "collection": "dev.atdata.schema"}
        )
    return [r["uri"] for r in page["records"]]


def test_publish_schema_prints_its_at_uri_and_cid(
    logged_in: Any, module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["publish", "schema", f"{module}:Reading"]) == 0
    status, uri, cid = capsys.readouterr().out.split()
    assert (status, uri) == ("published", f"at://{logged_in.did}/dev.atdata.schema/Reading:1.0.0")
    assert cid.startswith("bafyrei")
    assert main(["publish", "schema", f"{module}:Reading"]) == 0
    assert capsys.readouterr().out.split() == ["unchanged", uri, cid]


def test_publish_lens_prints_each_record(
    logged_in: Any, module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["publish", "lens", f"{module}:rename"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[1].split("/")[-2] for line in lines] == [
        "dev.atdata.schema",
        "dev.atdata.schema",
        "dev.atdata.lens",
    ]


def test_dry_run_prints_the_record_without_a_session(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", "schema", f"{module}:Reading", "--dry-run"]) == 0
    out = capsys.readouterr().out
    head, _, body = out.partition("\n")
    assert head.startswith("would publish")
    assert json.loads(body)["name"] == "Reading"


def test_type_that_cannot_become_a_schema_exits_non_zero(
    logged_in: Any, module: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["publish", "schema", f"{module}:NotASample"]) == 1
    assert "cannot become a schema" in capsys.readouterr().err
    assert _schemas(logged_in) == []


def test_lens_outside_the_dialect_exits_non_zero_and_publishes_nothing(
    logged_in: Any, module: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("atdata.sandbox")
    (tmp_path / f"{module}_lenses.py").write_text(LEAKY.format(types=module))
    assert main(["publish", "lens", f"{module}_lenses:leaky"]) == 1
    assert "open" in capsys.readouterr().err
    assert _schemas(logged_in) == []


def test_unknown_module_is_a_clear_error(logged_in: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", "schema", "no_such_module_here:Thing"]) == 1
    assert "cannot import 'no_such_module_here'" in capsys.readouterr().err


def test_publish_without_login_asks_to_log_in(module: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", "schema", f"{module}:Reading"]) == 1
    assert "atdata login" in capsys.readouterr().err


def test_attestation_about_a_lens_of_an_unknown_did_exits_non_zero(
    account: Any, dev_stack: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    login = ["login", account.handle, "--password", account.password, "--pds", account.pds]
    assert main([*login, "--plc", dev_stack.plc]) == 0
    stranger = "at://did:plc:aaaaaaaaaaaaaaaaaaaaaaaa/dev.atdata.lens/x:1.0.0"
    assert main(["publish", "attestation", stranger, "--kind", "reviewed"]) == 1
    assert "unknown DID did:plc:aaaaaaaaaaaaaaaaaaaaaaaa" in capsys.readouterr().err
