"""The catalog's sample types: documented, with units, and usable as shard samples."""

from __future__ import annotations

import numpy as np
import pytest

import atdata
from atdata.catalog import CATALOG_TYPES, BathApplicationFrame, Frame, UncagingFrame
from atdata.codec import decode, encode
from atdata.types.fields import JsonType, LiteralType, OptionalType, describe
from atdata.types.packable import spec_of

EXPECTED_UNITS = {
    ("ImagingFrame", "t"): "s",
    ("ImagingFrame", "scale_x"): "um/px",
    ("CellTrace", "timestamps"): "s",
    ("CellTrace", "depth"): "um",
    ("CalciumEvent", "t_start"): "s",
    ("Synapse", "position"): "nm",
    ("BathApplicationFrame", "t"): "s",
    ("BathApplicationFrame", "t_intervention"): "s",
    ("BathApplicationFrame", "scale_y"): "um/px",
    ("UncagingFrame", "t_intervention"): "s",
    ("PatchEmbeddingTrace", "ts"): "s",
    ("AstroCastEvent", "z0"): "frame",
    ("AstroCastEvent", "v_mask_area"): "voxel",  # regionprops area of the 3-D mask
    ("MicronsSynapseVoxels", "ctr_pt_position"): "voxel",
    ("MicronsSynapseVoxels", "resolution_z"): "nm/voxel",
    ("MicronsSynapseSplit", "ctr_pt_position_x"): "nm",
    ("VisualBehaviorTraceRow", "timestamps"): "s",
    ("VisualBehaviorTraceRow", "imaging_depth"): "um",
    ("VisualBehaviorCellTrace", "timestamps"): "s",
    ("MicronsSynapse", "ctr_pt_position"): "nm",
    ("MicronsSynapse", "size"): "voxel",
    ("BrainObservatoryCellTrace", "timestamps"): "s",
    ("BrainObservatoryCellTrace", "acquisition_age_days"): "d",
}


@pytest.mark.parametrize("cls", CATALOG_TYPES, ids=lambda c: c.__name__)
def test_every_type_and_field_is_documented(cls: type) -> None:
    spec = spec_of(cls)
    assert spec.doc, f"{cls.__name__} has no docstring"
    undocumented = [f.name for f in spec.fields if not f.doc]
    assert not undocumented, f"{cls.__name__} fields without docs: {undocumented}"


@pytest.mark.parametrize(("type_name", "field"), sorted(EXPECTED_UNITS))
def test_fields_carry_the_units_the_documents_give(type_name: str, field: str) -> None:
    cls = next(c for c in CATALOG_TYPES if c.__name__ == type_name)
    assert spec_of(cls).field_index[field].unit == EXPECTED_UNITS[(type_name, field)]


def test_type_names_are_unique() -> None:
    names = [c.__name__ for c in CATALOG_TYPES]
    assert len(names) == len(set(names))


def test_frame_is_issue_2s_generic_frame() -> None:
    spec = spec_of(Frame)
    assert [f.name for f in spec.fields] == ["image", "metadata"]
    assert isinstance(spec.field_index["metadata"].type, OptionalType)
    assert isinstance(spec.field_index["metadata"].type.inner, JsonType)
    assert spec.field_index["metadata"].default is None


def test_experiment_frames_name_their_compounds_as_literals() -> None:
    bath = spec_of(BathApplicationFrame).field_index["applied_compound"].type
    uncaging = spec_of(UncagingFrame).field_index["uncaged_compound"].type
    assert isinstance(bath, LiteralType) and bath.values == ("baclofen", "tacpd", "unknown")
    assert isinstance(uncaging, LiteralType) and uncaging.values == ("gaba", "glu", "laser_only", "unknown")


def test_bath_application_frame_has_the_fields_the_article_uses() -> None:
    names = {f.name for f in spec_of(BathApplicationFrame).fields}
    assert names == {
        "applied_compound",
        "image",
        "t_index",
        "t",
        "t_intervention",
        "is_test",
        "date_acquired",
        "mouse_id",
        "slice_id",
        "fov_id",
        "movie_uuid",
        "scale_x",
        "scale_y",
    }


def test_a_wrong_compound_is_refused_naming_the_field() -> None:
    with pytest.raises(atdata.errors.SampleValidationError, match="applied_compound"):
        BathApplicationFrame(applied_compound="caffeine", image=np.zeros((1, 2, 2)), t_index=0, t=0.0)


def test_document_shaped_samples_survive_the_codec(
    bath_frame, vb_rows, vb_trace, abo_cell, microns_rows, astrocast_row, patch_trace, embedding
) -> None:
    for sample in [
        bath_frame,
        vb_rows[0],
        vb_trace,
        abo_cell,
        microns_rows[0],
        astrocast_row,
        patch_trace,
        embedding,
    ]:
        assert decode(type(sample), encode(sample)) == sample


def test_root_ids_keep_full_int64_precision(microns_rows) -> None:
    back = decode(type(microns_rows[0]), encode(microns_rows[0]))
    assert back.pre_pt_root_id == 864691135808473885


@pytest.mark.parametrize("cls", CATALOG_TYPES, ids=lambda c: c.__name__)
def test_every_type_comes_back_whole_from_its_schema_record(cls: type) -> None:
    back = spec_of(atdata.from_schema(atdata.schema_of(cls)))
    spec = spec_of(cls)
    assert [(f.name, describe(f.type), f.unit, f.doc, f.default) for f in back.fields] == [
        (f.name, describe(f.type), f.unit, f.doc, f.default) for f in spec.fields
    ]
    assert back.doc == spec.doc
