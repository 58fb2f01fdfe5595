"""``python -m atdata_registry.devstack``: install the dev stack's npm packages now (CI warm-up)."""

from __future__ import annotations

import logging
import sys

from atdata_registry.devstack.install import DevStackError, ensure_installed

logging.basicConfig(level=logging.INFO, format="%(message)s")
try:
    print(ensure_installed())
except DevStackError as e:
    print(e, file=sys.stderr)
    sys.exit(1)
