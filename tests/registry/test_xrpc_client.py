"""The XRPC client's errors: where a call failed and why."""

from __future__ import annotations

import re
from typing import Any

import pytest

from atdata.errors import AuthError, NetworkError
from atdata.network.loopback import free_port
from atdata.network.xrpc import XrpcClient, XrpcError


def test_unreachable_service_is_a_network_error_naming_the_endpoint() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        XrpcClient(url) as xrpc,
        pytest.raises(NetworkError, match=re.escape(f"{url}/xrpc/com.atproto.server.describeServer")),
    ):
        xrpc.query("com.atproto.server.describeServer")


@pytest.mark.integration
def test_call_without_credentials_is_an_auth_error(dev_stack: Any) -> None:
    with XrpcClient(dev_stack.pds) as xrpc, pytest.raises(AuthError):
        xrpc.query("com.atproto.server.getSession")


@pytest.mark.integration
def test_service_error_carries_its_status_and_name(dev_stack: Any) -> None:
    with XrpcClient(dev_stack.pds) as xrpc, pytest.raises(XrpcError) as info:
        xrpc.query(
            "com.atproto.repo.getRecord",
            {"repo": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "collection": "x.y.z", "rkey": "self"},
        )
    assert info.value.status == 400
    assert info.value.error
