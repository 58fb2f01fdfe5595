"""Sample builders shaped like the rows and records in each system's documentation (values copied from
the tables shown there where the documents give them; traces and images are small synthetic ones)."""

from __future__ import annotations

import numpy as np

from atdata.catalog import (
    BrainObservatoryCellTrace,
    Frame,
)

MOVIE_UUID = "d22f6a65-b3e2-46c2-ba5c-551920af1fe3"

# Allen Brain Observatory: the ophys experiment dict the tutorial prints for container 512124562.
ABO_EXPERIMENT = {
    "id": 512124564,
    "imaging_depth": 275,
    "targeted_structure": "VISp",
    "cre_line": "Rorb-IRES2-Cre",
    "reporter_line": "Ai93(TITL-GCaMP6f)",
    "acquisition_age_days": 80,
    "experiment_container_id": 512124562,
    "session_type": "three_session_B",
    "donor_name": "234831",
    "specimen_name": "Rorb-IRES2-Cre;Camk2a-tTA;Ai93-234831",
    "fail_eye_tracking": False,
}


def astro_frame(filename: str, t_index: int = 12, **extra: object) -> Frame:
    """A generic OpenAstrocytes frame as toile exports it: a 2-D uint16 image and the metadata keys
    the toolkit's lenses read (forecast-bio/open-astrocytes,
    src/astrocytes/_datasets/_bath_application.py: ``_source_filename``, ``uuid``,
    ``date_acquired``, ``frame.t_index``/``frame.t``, ``scale_x``/``scale_y``)."""
    rng = np.random.default_rng(t_index)
    metadata: dict[str, object] = {
        "_source_filename": filename,
        "uuid": MOVIE_UUID,
        "date_acquired": "2019-03-14",
        "frame": {"t_index": t_index, "t": 0.96 * t_index},
        "scale_x": 1.18,
        "scale_y": 1.18,
    }
    metadata.update(extra)
    return Frame(image=rng.integers(0, 140, size=(16, 16), dtype=np.uint16), metadata=metadata)


def transient_trace(n: int = 200, peak_at: int = 120, seed: int = 0) -> np.ndarray:
    """A dF/F trace: noise around 0 plus one calcium transient (fast rise, slow decay) at ``peak_at``."""
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 0.02, size=n)
    decay = np.exp(-np.arange(n - peak_at) / 8.0)
    values[peak_at:] += 1.5 * decay
    return values


def abo_trace(
    cell_specimen_id: int = 517474020, peak_at: int = 120, seed: int = 2
) -> BrainObservatoryCellTrace:
    """One cell's dF/F from ``get_dff_traces()`` with the experiment's metadata (about 30 Hz)."""
    n = 300
    e = ABO_EXPERIMENT
    return BrainObservatoryCellTrace(
        cell_specimen_id=cell_specimen_id,
        ophys_experiment_id=e["id"],
        experiment_container_id=e["experiment_container_id"],
        timestamps=9.0 + np.arange(n) / 30.0,
        dff=transient_trace(n, peak_at=peak_at, seed=seed).astype(np.float32),
        targeted_structure=e["targeted_structure"],
        imaging_depth=e["imaging_depth"],
        cre_line=e["cre_line"],
        session_type=e["session_type"],
        reporter_line=e["reporter_line"],
        acquisition_age_days=e["acquisition_age_days"],
        donor_name=e["donor_name"],
        specimen_name=e["specimen_name"],
    )
