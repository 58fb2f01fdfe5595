"""The local ATProto network for tests and the demo: the official PDS and PLC directory on loopback."""

from atdata_registry.devstack.install import DevStackError, ensure_installed
from atdata_registry.devstack.stack import DevStack, create_account, running, start, stop

__all__ = ["DevStack", "DevStackError", "create_account", "ensure_installed", "running", "start", "stop"]
