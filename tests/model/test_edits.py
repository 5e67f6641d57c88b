"""ichmodel.edits on a phantom head: exclude/include, grow from a seed, paint/erase, undo/redo,
the JSON record and its replay, and ``ichmodel measure --edits``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ichmodel.edits import (
    EDITED_CODE,
    BrushEdit,
    ComponentEdit,
    EditError,
    EditRecordError,
    EditSession,
    GrowEdit,
    GrowLeakError,
    apply_edits,
    load_record,
    measure_with_edits,
    record_from_dict,
)
from ichmodel.measure import MeasureParams, prepare
from tests.edit_phantom import edit_phantom


@pytest.fixture(scope="module")
def measured():
    ep = edit_phantom()
    context = prepare(ep.volume)
    return ep, context, context.measure(MeasureParams())


def _session(measured) -> EditSession:
    ep, context, auto = measured
    return EditSession(context, auto, ep.volume.meta.series_uid)


def _inside(auto, number: int = 1) -> tuple[int, int, int]:
    """A voxel of hematoma ``number`` (its deepest point)."""
    from scipy import ndimage as ndi

    own = auto.hematoma_labels == number
    depth = ndi.distance_transform_edt(own)
    return tuple(int(v) for v in np.unravel_index(int(np.argmax(depth)), own.shape))


def test_no_net_edit_reproduces_the_automatic_measurement(measured):
    _, _, auto = measured
    session = _session(measured)
    assert session.measurement is auto
    voxel = _inside(auto)
    session.apply(ComponentEdit("exclude", voxel))
    m = session.apply(ComponentEdit("include", voxel))  # assembled from the component cache
    assert m.hematoma_volume_ml == auto.hematoma_volume_ml
    assert m.threshold_volume_ml == auto.threshold_volume_ml
    assert m.abc2 == auto.abc2
    assert np.array_equal(m.hematoma_mask, auto.hematoma_mask)
    assert m.location_description == auto.location_description
    assert [h.to_dict() for h in m.hematomas] == [h.to_dict() for h in auto.hematomas]
    assert m.edited is not None and m.edited.n_edits == 2


def test_exclude_drops_its_ml_and_include_brings_it_back(measured):
    _, _, auto = measured
    session = _session(measured)
    voxel = _inside(auto)
    m = session.apply(ComponentEdit("exclude", voxel))
    assert m.hematoma_volume_ml == pytest.approx(
        auto.hematoma_volume_ml - auto.hematomas[0].volume_ml, abs=1e-9)
    assert session.record.edits[-1].delta_ml == pytest.approx(-auto.hematomas[0].volume_ml)
    assert np.array_equal(m.excluded_mask, auto.hematoma_labels == 1)
    assert not (m.hematoma_mask & m.excluded_mask).any()
    assert m.edited is not None and m.edited.excluded == 1
    assert EDITED_CODE in {n.code for n in m.notices}
    assert "1 hematoma excluded" in m.edited.sentence()
    with pytest.raises(EditError, match="already excluded"):
        session.apply(ComponentEdit("exclude", voxel))
    back = session.apply(ComponentEdit("include", voxel))
    assert back.hematoma_volume_ml == pytest.approx(auto.hematoma_volume_ml, abs=1e-9)
    assert back.abc2 == auto.abc2
    with pytest.raises(EditError, match="no hematoma"):
        session.apply(ComponentEdit("exclude", (0, 0, 0)))


def test_grow_adds_a_bleed_the_rules_dropped(measured):
    ep, _, auto = measured
    assert not (auto.hematoma_mask & ep.tube_mask).any()  # the automatic rules dropped it
    session = _session(measured)
    m = session.apply(GrowEdit(ep.tube_seed_zyx, 60.0, 150.0))
    grown = m.hematoma_mask & ~auto.hematoma_mask
    truth_ml = float(ep.tube_mask.sum()) * ep.volume.voxel_volume_ml
    assert (grown & ep.tube_mask).sum() >= 0.9 * ep.tube_mask.sum()
    assert grown.sum() <= 2 * ep.tube_mask.sum()  # it stayed in the tube
    assert m.n_components == auto.n_components + 1
    delta = session.record.edits[-1].delta_ml
    assert 0.8 * truth_ml < delta < 2.0 * truth_ml
    assert m.edited is not None and m.edited.grown == 1
    assert m.edited.grown_ml == pytest.approx(delta)


def test_grow_is_bounded_and_says_why_it_refuses(measured):
    ep, context, _ = measured
    wide = context.measure(MeasureParams(hu_min=20.0, hu_max=90.0))  # brain is in range
    session = EditSession(context, wide, ep.volume.meta.series_uid)
    z, y, x = ep.tube_seed_zyx
    with pytest.raises(GrowLeakError, match="leaks"):
        session.apply(GrowEdit((z, y + 12, x), 60.0, 150.0))
    plain = _session(measured)
    with pytest.raises(EditError, match="outside the blood range"):
        plain.apply(GrowEdit((z, y + 12, x), 60.0, 150.0))  # brain, 35 HU
    assert not plain.edited


def test_paint_erase_undo_redo(measured):
    ep, _, auto = measured
    session = _session(measured)
    z, y, x = ep.tube_seed_zyx
    sy = ep.volume.spacing_mm[1]
    stroke = ((y + 8.0, x - 4.0), (y + 8.0, x + 4.0))
    painted = session.apply(BrushEdit("paint", z, stroke, 3.0, 3))
    gain = painted.hematoma_volume_ml - auto.hematoma_volume_ml
    assert gain > 0 and session.record.edits[-1].delta_ml == pytest.approx(gain)
    # a 3 mm brush along 8 px on 3 slices: about (pi r^2 + 2 r L) x 3 slices of tissue
    length_mm = 8 * sy
    approx_ml = (np.pi * 9 + 6 * length_mm) * 3 * ep.volume.spacing_mm[0] / 1000
    assert painted.threshold_volume_ml - auto.threshold_volume_ml == pytest.approx(
        approx_ml, rel=0.35)
    assert painted.edited.painted_ml == pytest.approx(gain)
    erased = session.apply(BrushEdit("erase", z, stroke, 4.0, 3))
    assert erased.hematoma_volume_ml == pytest.approx(auto.hematoma_volume_ml, abs=1e-6)
    assert erased.edited.erased_ml == pytest.approx(gain)
    undone = session.undo()
    assert undone.hematoma_volume_ml == painted.hematoma_volume_ml
    assert session.undo().hematoma_volume_ml == auto.hematoma_volume_ml
    assert not session.edited and not session.can_undo
    again = session.redo()
    assert again.hematoma_volume_ml == pytest.approx(painted.hematoma_volume_ml)
    assert session.redo().hematoma_volume_ml == pytest.approx(erased.hematoma_volume_ml)
    assert not session.can_redo


def test_record_round_trip_and_replay(measured, tmp_path):
    ep, context, auto = measured
    session = _session(measured)
    session.apply(ComponentEdit("exclude", _inside(auto)))
    session.apply(GrowEdit(ep.tube_seed_zyx, 60.0, 150.0))
    z, y, x = ep.tube_seed_zyx
    session.apply(BrushEdit("paint", z, ((y + 8.0, x),), 3.0, 1))
    path = session.record.save(tmp_path / "edits.json")
    record = load_record(path)
    assert record.to_dict() == session.record.to_dict()  # delta_ml rounded to 0.1 µl
    replayed = apply_edits(context, auto, record).measurement
    assert replayed.hematoma_volume_ml == pytest.approx(session.measurement.hematoma_volume_ml)
    assert np.array_equal(replayed.hematoma_mask, session.measurement.hematoma_mask)
    again = measure_with_edits(ep.volume, record).measurement
    assert again.hematoma_volume_ml == pytest.approx(session.measurement.hematoma_volume_ml)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: {**d, "schema": "other"}, "not a segmentation edit record"),
        (lambda d: {**d, "version": 9}, "version 9"),
        (lambda d: {**d, "hu_range": [90, 50]}, "must rise"),
        (lambda d: {**d, "edits": [{"kind": "lasso"}]}, "unknown kind 'lasso'"),
        (lambda d: {**d, "edits": [{"kind": "exclude", "voxel_zyx": [1, 2]}]}, "voxel_zyx"),
        (lambda d: {**d, "edits": [{"kind": "paint", "slice_index": 3, "points_yx": [[1, 2]],
                                    "radius_mm": -1}]}, "radius_mm must be positive"),
    ],
)
def test_malformed_records_say_what_is_wrong(change, message):
    good = {"schema": "ichviewer.segmentation-edits", "version": 1, "series_uid": "1.2.3",
            "shape_zyx": [3, 4, 5], "hu_range": [50, 90], "edits": []}
    record_from_dict(good)
    with pytest.raises(EditRecordError, match=message):
        record_from_dict(change(good))


def test_records_of_another_series_or_range_are_refused(measured, tmp_path):
    ep, context, auto = measured
    session = _session(measured)
    session.apply(ComponentEdit("exclude", _inside(auto)))
    other = json.loads(session.record.to_json())
    other["series_uid"] = "9.9.9"
    with pytest.raises(EditRecordError, match="belongs to series '9.9.9'"):
        measure_with_edits(ep.volume, record_from_dict(other))
    other = json.loads(session.record.to_json())
    other["shape_zyx"] = [1, 2, 3]
    with pytest.raises(EditRecordError, match="grid"):
        measure_with_edits(ep.volume, record_from_dict(other))
    at_45 = context.measure(MeasureParams(hu_min=45.0))
    with pytest.raises(EditError, match="made at 50-90 HU"):
        apply_edits(context, at_45, session.record)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(EditRecordError, match="not JSON"):
        load_record(tmp_path / "bad.json")


@pytest.fixture(scope="module")
def dicom_study(tmp_path_factory):
    from ichmodel.io.write import write_dicom_series

    folder = tmp_path_factory.mktemp("edit_study")
    write_dicom_series(edit_phantom().volume, folder)
    return folder


def test_cli_measure_with_edits(dicom_study, tmp_path, capsys):
    import SimpleITK as sitk

    from ichmodel.cli import main
    from ichmodel.progress import run_to_completion
    from ichmodel.reading import NO_MODEL, read_study

    reading = run_to_completion(read_study(dicom_study, model=NO_MODEL, measure=False))
    volume = reading.volume
    context = prepare(volume)
    auto = context.measure(MeasureParams())
    session = EditSession(context, auto, volume.meta.series_uid)
    session.apply(ComponentEdit("exclude", _inside(auto)))
    session.apply(GrowEdit(edit_phantom().tube_seed_zyx, 60.0, 150.0))
    record = session.record.save(tmp_path / "edits.json")
    mask_path = tmp_path / "mask.nii.gz"
    assert main(["measure", str(dicom_study), "--edits", str(record), "--json",
                 "--mask-out", str(mask_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["hematoma_volume_ml"] == pytest.approx(session.measurement.hematoma_volume_ml,
                                                      abs=1e-3)
    assert out["edited"]["excluded"] == 1 and out["edited"]["grown"] == 1
    assert EDITED_CODE in {n["code"] for n in out["notices"]}
    written = sitk.GetArrayFromImage(sitk.ReadImage(str(mask_path)))
    assert np.array_equal(written == 1, session.measurement.hematoma_mask)

    other = json.loads(session.record.to_json())
    other["series_uid"] = "9.9.9"
    (tmp_path / "other.json").write_text(json.dumps(other), encoding="utf-8")
    assert main(["measure", str(dicom_study), "--edits", str(tmp_path / "other.json")]) != 0
    assert "belongs to series '9.9.9'" in capsys.readouterr().err
    assert main(["measure", str(dicom_study), "--edits", str(record), "--hu-min", "45"]) != 0
    assert "made at 50-90 HU" in capsys.readouterr().err
    (tmp_path / "bad.json").write_text("[]", encoding="utf-8")
    assert main(["measure", str(dicom_study), "--edits", str(tmp_path / "bad.json")]) != 0
    assert "not a segmentation edit record" in capsys.readouterr().err


def test_paint_in_a_ventricle_is_ivh_and_undoes(measured):
    """Blood painted inside the ventricular space adds to the IVH volume, not to the
    parenchymal hematoma; undo takes it back."""
    from scipy import ndimage as ndi

    ep, context, auto = measured
    space = context.ventricles
    assert space is not None and space.found
    session = _session(measured)
    depth = ndi.distance_transform_edt(space.space, sampling=ep.volume.spacing_mm)
    cz, cy, cx = np.unravel_index(int(np.argmax(depth)), depth.shape)
    z, y, x = (int(c) + o for c, o in zip((cz, cy, cx), session.origin, strict=True))
    radius_mm = min(2.0, 0.8 * float(depth.max()))
    painted = session.apply(BrushEdit("paint", z, ((float(y), float(x)),), radius_mm, 1))
    assert painted.hematoma_volume_ml == pytest.approx(auto.hematoma_volume_ml, abs=1e-9)
    assert painted.ivh
    # the painted voxels count whole (a stroke's edge over CSF is the reader's blood), the
    # automatic IVH keeps its partial volume
    stroke_ml = painted.ivh_threshold_volume_ml - auto.ivh_threshold_volume_ml
    assert stroke_ml > 0
    assert painted.ivh_volume_ml == pytest.approx(auto.ivh_volume_ml + stroke_ml, abs=0.05)
    assert session.undo().ivh_volume_ml == pytest.approx(auto.ivh_volume_ml)


def test_ivh_painted_over_csf_counts_whole_beside_a_measured_cast():
    """The automatic cast keeps its partial volume; a stroke the reader paints in the other
    ventricle's CSF (10 HU under the brush) is blood because the reader says so: every painted
    voxel counts whole (its edge read against CSF would count nothing)."""
    from scipy import ndimage as ndi

    from tests.model._measure_heads import CSF_HU, VENTRICLES, _coords, _fraction, make_head

    spacing, shape = (5.0, 1.0, 1.0), (28, 200, 170)
    head = make_head(spacing_mm=spacing, shape=shape, seed=4)
    _, y, _ = np.meshgrid(*_coords(shape, spacing), indexing="ij")
    cast = _fraction(VENTRICLES[0], shape, spacing) * (y > 0.0)
    vol = head.with_hu((head.hu + cast * (65.0 - CSF_HU)).astype(np.float32))
    context = prepare(vol)
    auto = context.measure(MeasureParams())
    assert auto.ivh and auto.ivh_volume_ml > auto.ivh_threshold_volume_ml  # partial volume
    session = EditSession(context, auto, "1.2.3")
    other = _fraction(VENTRICLES[1], shape, spacing) >= 1.0  # the left ventricle's own CSF
    depth = ndi.distance_transform_edt(other, sampling=spacing)
    z, yy, xx = (int(v) for v in np.unravel_index(int(np.argmax(depth)), depth.shape))
    painted = session.apply(BrushEdit("paint", z, ((float(yy), float(xx)),), 3.0, 1))
    stroke_ml = painted.ivh_threshold_volume_ml - auto.ivh_threshold_volume_ml
    assert stroke_ml > 0.1
    assert painted.ivh_volume_ml == pytest.approx(auto.ivh_volume_ml + stroke_ml, abs=0.02)
    assert session.undo().ivh_volume_ml == pytest.approx(auto.ivh_volume_ml)
