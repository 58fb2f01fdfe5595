"""Every exception class the product defines derives from ``atdata.errors.AtdataError`` (README: "All
errors derive from AtdataError"), so ``except AtdataError`` catches whatever atdata raises on purpose."""

from __future__ import annotations

import inspect

from product_modules import import_all

from atdata.errors import AtdataError

# Not errors but signals that must get past ``except Exception`` in lens code; they never leave the
# sandbox (the engine turns them into LensLimitError / LensExecutionError).
NOT_ERRORS = {"atdata.sandbox.failures.LensTimeout"}


def exception_classes() -> dict[str, type[BaseException]]:
    found: dict[str, type[BaseException]] = {}
    for module in import_all().values():
        for value in vars(module).values():
            defined_here = inspect.isclass(value) and value.__module__ == module.__name__
            if defined_here and issubclass(value, BaseException):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return found


def test_the_walk_finds_the_product_exceptions() -> None:
    names = exception_classes()
    assert "atdata.errors.ShardError" in names and "atdata_appview.ingest.car.CarError" in names


def test_every_exception_class_of_the_product_derives_from_atdata_error() -> None:
    classes = exception_classes()
    outside = sorted(n for n, c in classes.items() if not issubclass(c, AtdataError) and n not in NOT_ERRORS)
    assert outside == [], f"exception classes outside AtdataError: {outside}"


def test_the_exemptions_still_exist_and_are_base_exceptions() -> None:
    names = exception_classes()
    for name in NOT_ERRORS:
        assert name in names and not issubclass(names[name], Exception), name
