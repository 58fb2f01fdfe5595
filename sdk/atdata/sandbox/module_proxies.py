"""The module proxies ``import numpy as np`` and ``import math`` bind in lens code.

Only the members :mod:`atdata.sandbox.dialect` whitelists, each wrapped so its results are
checked (and the calls whose cost can be estimated from their shapes refused beyond the bound).
Built once per process.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from atdata.sandbox import dialect as d
from atdata.sandbox.guards import ModuleProxy, checked


def _pair_cost(a: Any, v: Any, *args: Any, **kwargs: Any) -> int:
    return int(np.size(a)) * int(np.size(v))


def _einsum_cost(*operands: Any, **kwargs: Any) -> int:
    # The naive cost: the product of every index's extent, times the number of operands. Computed
    # by numpy's own path planner, which only reads the shapes.
    arrays: list[Any] = [np.asarray(x) if not isinstance(x, str) else x for x in operands]
    path = np.einsum_path(*arrays, optimize=False)[1]
    for line in path.splitlines():
        if "Naive FLOP count" in line:
            return int(float(line.split(":")[1]))
    return 0


_CALL_COSTS: dict[str, Callable[..., int]] = {
    "convolve": _pair_cost,
    "correlate": _pair_cost,
    "einsum": _einsum_cost,
}


def _costed(name: str, fn: Callable[..., Any], cost: Callable[..., int]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        if cost(*args, **kwargs) > d.MAX_CALL_OPS:
            raise MemoryError(f"np.{name} on these shapes would cost more than {d.MAX_CALL_OPS} operations")
        return fn(*args, **kwargs)

    return call


def _numpy_members() -> dict[str, Any]:
    members: dict[str, Any] = {}
    for name in d.NUMPY_FUNCTIONS:
        members[name] = checked(getattr(np, name))
        if name in _CALL_COSTS:
            members[name] = _costed(name, members[name], _CALL_COSTS[name])
    for name in d.NUMPY_DTYPES:
        members[name] = getattr(np, name)
    for name in d.NUMPY_CONSTANTS:
        members[name] = getattr(np, name)
    for sub, names in d.NUMPY_SUBMODULES.items():
        module = getattr(np, sub)
        members[sub] = ModuleProxy(f"np.{sub}", {n: checked(getattr(module, n)) for n in names})
    return members


def _math_members() -> dict[str, Any]:
    return {name: getattr(math, name) for name in d.MATH_NAMES}


_MODULES: dict[str, ModuleProxy] = {}


def module_proxy(name: str) -> ModuleProxy:
    """The proxy standing for an allowed module (built once per process)."""
    proxy = _MODULES.get(name)
    if proxy is None:
        members = _numpy_members() if name == "numpy" else _math_members()
        proxy = _MODULES[name] = ModuleProxy("np" if name == "numpy" else name, members)
    return proxy
