"""Sample types used by the schema tests: one of each feature a schema record must carry."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import numpy as np
from numpy.typing import NDArray

import atdata


@atdata.packable
class Position:
    """A point in the field of view."""

    x: Annotated[float, atdata.Unit("um")]
    y: Annotated[float, atdata.Unit("um")] = 0.0


@atdata.packable
class Roi:
    """A region of interest."""

    center: Position
    radius: int = 3
    label: str | None = None


@atdata.packable
class BathApplicationFrame:
    """One frame of a bath-application movie.

    Frames come from two-photon recordings; ``t`` is relative to the movie start.
    """

    applied_compound: Literal["baclofen", "tacpd", "unknown"]
    """Compound applied to the bath."""
    image: Annotated[NDArray[np.uint16], atdata.Array(shape=(None, 512, 512), dims=("c", "y", "x"))]
    """Raw pixels, one plane per channel."""
    t_index: int
    t: Annotated[float, atdata.Unit("s")]
    rois: list[Roi]
    t_intervention: float | None = None
    movie_uuid: str | None = None
    scale_x: Annotated[float, atdata.Unit("um/px")] = 0.1
    gain: float = float("inf")
    is_test: bool = False
    channel: Literal[1, 2, "all"] = 1
    tags: list[str] = ["raw"]  # noqa: RUF012 - a sample default, copied per instance
    thumbnail: bytes = b"\x00\xff"
    metadata: dict[str, Any] | None = None
    settings: dict[str, Any] = {"zoom": 1.5, "mode": None}  # noqa: RUF012
    mask: NDArray[Any] | None = None
