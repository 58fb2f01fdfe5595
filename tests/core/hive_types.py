"""Sample types and local lenses for the interleave tests: three stored types reaching ``Reading``.

``Celsius -> Reading`` is one hop, ``Kelvin -> Celsius -> Reading`` two,
``Counts -> Kelvin -> Celsius -> Reading`` three.
"""

from __future__ import annotations

import atdata


@atdata.packable
class Reading:
    celsius: float
    source: str
    index: int


@atdata.packable
class Celsius:
    c: float
    index: int


@atdata.packable
class Kelvin:
    k: float
    index: int


@atdata.packable
class Counts:
    counts: int
    index: int


@atdata.lens(publishable=False)
def celsius_to_reading(s: Celsius) -> Reading:
    return Reading(celsius=s.c, source="celsius", index=s.index)


@atdata.lens(publishable=False)
def kelvin_to_celsius(s: Kelvin) -> Celsius:
    return Celsius(c=s.k - 273.15, index=s.index)


@atdata.lens(publishable=False)
def counts_to_kelvin(s: Counts) -> Kelvin:
    return Kelvin(k=s.counts / 10.0, index=s.index)


@atdata.lens(publishable=False, register=False)
def failing_celsius(s: Celsius) -> Reading:
    raise RuntimeError(f"cannot read sample {s.index}")
