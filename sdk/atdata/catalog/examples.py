"""Synthetic samples in the catalog's layouts, for demos and first experiments without real data.

The frames follow the OpenAstrocytes export layout documented in
:mod:`atdata.catalog.openastrocytes` (file name, movie UUID, frame timing, pixel scale), so the
catalog's lenses read them exactly as they read real exports.
"""

from __future__ import annotations

import uuid

import numpy as np

from atdata.catalog.openastrocytes import BATH_INTERVENTION_S, Frame

FRAME_INTERVAL_S = 0.96
"""Time between frames of the synthetic movies (about one frame per second, as in the article)."""

_BATH_MOVIES = (
    ("baclofen", "2019-03-14_mouse{m}_slice{s}_fov{f}_bath_bacloffen_50uM.tif"),
    ("tacpd", "2019-03-21_mouse{m}_slice{s}_fov{f}_bath_t-ACPD_50uM.tif"),
)


def bath_application_frames(
    movies: int = 2, frames_per_movie: int = 8, size: int = 64, seed: int = 0
) -> list[Frame]:
    """Generic frames of ``movies`` bath-application movies, alternating baclofen and t-ACPD.

    Frames are laid out as toile exports them (2-D images, top-level ``scale_x``/``scale_y``). Each
    image is ``(size, size)`` uint16 noise whose mean rises after the compound enters
    the bath (at 300 s of movie time, which the frame times reach when there are enough frames).
    """
    rng = np.random.default_rng(seed)
    frames = []
    for movie in range(movies):
        _, pattern = _BATH_MOVIES[movie % len(_BATH_MOVIES)]
        filename = pattern.format(m=movie // 2 + 1, s=movie % 3 + 1, f=movie + 1)
        movie_uuid = str(uuid.UUID(int=int(rng.integers(0, 2**63)) << 64 | movie))
        for t_index in range(frames_per_movie):
            t = t_index * FRAME_INTERVAL_S
            level = 40.0 + (20.0 if t >= BATH_INTERVENTION_S else 0.0)
            image = rng.poisson(level, size=(size, size)).astype(np.uint16)
            frames.append(
                Frame(
                    image=image,
                    metadata={
                        "_source_filename": filename,
                        "uuid": movie_uuid,
                        "date_acquired": filename[:10],
                        "frame": {"t_index": t_index, "t": t},
                        "scale_x": 1.18,
                        "scale_y": 1.18,
                    },
                )
            )
    return frames
