"""Sample types and lenses shared by the lens tests (module level, as users write them)."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

import atdata


@atdata.packable
class Frame:
    image: NDArray
    metadata: dict[str, Any] | None = None


@atdata.packable
class BathApplicationFrame:
    applied_compound: Literal["baclofen", "tacpd", "unknown"]
    image: NDArray
    t_index: int
    t: float
    movie_uuid: str | None = None


@atdata.packable
class Thumbnail:
    compound: str
    pixels: NDArray


@atdata.lens
def bath_application(s: Frame) -> BathApplicationFrame:
    md = s.metadata or {}
    name = md.get("_source_filename", "").lower()
    compound = "baclofen" if "baclofen" in name else ("tacpd" if "tacpd" in name else "unknown")
    return BathApplicationFrame(
        applied_compound=compound,
        image=s.image,
        t_index=md["frame"]["t_index"],
        t=md["frame"]["t"],
        movie_uuid=md.get("uuid"),
    )


@bath_application.putter
def bath_application_put(view: BathApplicationFrame, source: Frame) -> Frame:
    md = dict(source.metadata or {})
    md["frame"] = {**md.get("frame", {}), "t_index": view.t_index, "t": view.t}
    if view.movie_uuid is not None:
        md["uuid"] = view.movie_uuid
    return Frame(image=view.image, metadata=md)


@atdata.lens
def thumbnail(s: BathApplicationFrame) -> Thumbnail:
    return Thumbnail(compound=s.applied_compound, pixels=s.image[::2, ::2])


def frame(i: int = 0, name: str = "movie_baclofen_01.tif") -> Frame:
    return Frame(
        image=np.arange(16, dtype=np.float32).reshape(4, 4) + i,
        metadata={"_source_filename": name, "frame": {"t_index": i, "t": 0.5 * i}, "uuid": f"m-{i}"},
    )
