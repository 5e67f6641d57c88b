"""DICOM results (ichmodel.dicom_out): SEG, SR TID 1500, key images and Encapsulated PDF.

Checked by real readers: dciodvfy validates every object; dcmqi rebuilds the SEG and reads the SR
as 3D Slicer does. The bundled sample study (not tilted) and dcm_qa_ct ``In/GE`` (tilted, no
PatientBirthDate/PatientSex) are the sources; the GE head has no bleed, so a sphere of known
position is painted on its Volume grid to check the mapping back onto the tilted slices. The
sample's objects carry the reader's ruler and ROI on the largest key slice (burned into its SC
image, read back from the written file).
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ichmodel.annotations import Plane, ReaderMeasurement, Ruler, measure_ellipse, measure_ruler
from ichmodel.dicom_out import DicomExportError, build_results, write_results
from ichmodel.progress import run_to_completion
from ichmodel.render import ROI_RGB, RULER_RGB, head_bbox_yx
from ichmodel.resources import sample_study_dir
from tests.dicom_tools import dciodvfy_errors, dcmqi_segments, dcmqi_sr
from tests.drawn_marks import is_colour, ruler_offsets_px

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


@functools.lru_cache(maxsize=2)
def sample_reading(with_model: bool = True):
    """The bundled sample study, measured, and predicted by a tiny real model."""
    from ichmodel.reading import ModelIdentity, predict_reading, read_study
    from tests.readings import tiny_model

    reading = run_to_completion(read_study(sample_study_dir() / "DICOM", model="none"))
    if with_model:
        model = tiny_model()
        prediction = run_to_completion(predict_reading(reading, model, device="cpu"))
        reading = reading.with_prediction(prediction, ModelIdentity.of(model))
    return reading


def _with_ivh(reading):
    """The sample reading with a small intraventricular blob added (a second segment)."""
    m = reading.measurement
    ivh = np.zeros_like(m.hematoma_mask)
    z = m.abc2.slice_index
    ivh[z - 1 : z + 2, 120:130, 60:70] = True
    ivh &= ~m.hematoma_mask
    ml = float(ivh.sum()) * reading.volume.voxel_volume_ml
    return reading.with_measurement(replace(m, ivh=True, ivh_mask=ivh, ivh_volume_ml=ml))


def _sphere_reading(reading, centre_zyx, radius_mm: float):
    """``reading`` with its hematoma replaced by a sphere (Volume grid) of known centre."""
    vol = reading.volume
    zz, yy, xx = np.indices(vol.shape, dtype=float)
    sz, sy, sx = vol.spacing_mm
    cz, cy, cx = centre_zyx
    sphere = ((zz - cz) * sz) ** 2 + ((yy - cy) * sy) ** 2 + ((xx - cx) * sx) ** 2 <= radius_mm**2
    m = reading.measurement
    return reading.with_measurement(replace(
        m, hematoma_mask=sphere, hematoma_volume_ml=float(sphere.sum()) * vol.voxel_volume_ml,
        ivh=False, ivh_mask=np.zeros_like(sphere), ivh_volume_ml=0.0,
    ))


def _lps_centroid(mask: np.ndarray, image) -> np.ndarray:
    """Physical centroid (LPS mm) of a (z, y, x) mask on a SimpleITK image's grid."""
    idx = np.argwhere(mask).mean(axis=0)[::-1]  # (x, y, z)
    return np.asarray(image.TransformContinuousIndexToPhysicalPoint(tuple(float(v) for v in idx)))


#: The reader's ruler across the sample's hematoma (axial pixel (row, col) end points).
RULER_START_PX, RULER_END_PX = (95.5, 125.5), (155.5, 180.5)


def reader_marks(reading) -> tuple[ReaderMeasurement, ...]:
    """#1 a ruler across the hematoma and #2 an ROI beside it on the largest key slice; #3 a
    ruler on a slice that is no key slice; #4 a coronal ruler whose slice number is the largest
    key slice's: neither of the last two belongs on a key image."""
    volume = reading.volume
    keys, _ = reading.key_slices()
    z = next(k.index for k in keys if k.is_largest)
    return (
        ReaderMeasurement(1, measure_ruler(volume.spacing_mm, Plane.AXIAL, z,
                                           RULER_START_PX, RULER_END_PX)),
        ReaderMeasurement(2, measure_ellipse(volume, Plane.AXIAL, z, (130.0, 55.0), (160.0, 95.0))),
        ReaderMeasurement(3, measure_ruler(volume.spacing_mm, Plane.AXIAL, 2,
                                           (100.5, 100.5), (100.5, 160.5))),
        ReaderMeasurement(4, measure_ruler(volume.spacing_mm, Plane.CORONAL, z,
                                           (10.5, 100.5), (20.5, 160.5))),
    )


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory):
    """The sample's objects, with the reader's marks (validated by dciodvfy with them)."""
    reading = sample_reading()
    results = build_results(reading, pdf_bytes=PDF, annotations=reader_marks(reading))
    folder = tmp_path_factory.mktemp("dicom_out")
    return reading, results, write_results(results, folder)


def test_every_object_is_valid_and_in_the_source_study(sample_files):
    import pydicom

    reading, results, paths = sample_files
    kinds = sorted(pydicom.dcmread(p).Modality for p in paths)
    assert kinds == ["DOC", "OT", "OT", "OT", "SEG", "SR"]
    source = pydicom.dcmread(reading.series.files[0], stop_before_pixels=True)
    series = set()
    for path in paths:
        assert dciodvfy_errors(path) == [], path.name
        ds = pydicom.dcmread(path)
        assert ds.StudyInstanceUID == source.StudyInstanceUID
        assert ds.PatientID == source.PatientID and ds.PatientName == source.PatientName
        assert ds.SeriesInstanceUID != source.SeriesInstanceUID
        series.add(ds.SeriesInstanceUID)
    assert len(series) == 4  # SEG, SR, SC, DOC each a new series


def test_key_images_are_burned_in_head_images(sample_files):
    import pydicom

    reading, results, _ = sample_files
    keys, _ = reading.key_slices()
    assert len(results.key_images) == len(keys) == 3
    for image in results.key_images:
        assert image.BurnedInAnnotation == "YES" and image.BodyPartExamined == "HEAD"
        rgb = image.pixel_array
        assert rgb.ndim == 3 and rgb.shape[2] == 3
    # the largest slice's picture shows the green contour (burned in, not an overlay)
    largest = next(i for i, k in enumerate(keys) if k.is_largest)
    rgb = pydicom.dcmread(_save(results.key_images[largest])).pixel_array
    assert np.any((rgb[..., 1] > 200) & (rgb[..., 0] < 30))
    # an SC without BodyPartExamined is what dciodvfy flags: the check above is not idle
    bare = results.key_images[0]
    del bare.BodyPartExamined
    assert dciodvfy_errors(_save(bare))
    bare.BodyPartExamined = "HEAD"


def test_the_readers_ruler_and_roi_are_burned_into_their_key_image(sample_files):
    """The written SC of the largest key slice shows the reader's ruler in its colour along its
    end points and its length in mm, and the ROI's outline; its comment names both. The other
    key images are the images without marks; marks off the key slices are nowhere."""
    import pydicom

    from ichmodel.dicom_out.sc import build_key_images
    from ichmodel.dicom_out.source import source_of

    reading, results, paths = sample_files
    keys, _ = reading.key_slices()
    marks = reader_marks(reading)
    source = source_of(reading, anonymize=False)
    plain = build_key_images(reading, source, series_uid="1.2.3", sop_uids=["1.2.3.1", "1.2.3.2",
                                                                            "1.2.3.3"])
    by_uid = {pydicom.dcmread(p).SOPInstanceUID: p for p in paths if p.name.startswith("SC_")}
    written = [pydicom.dcmread(by_uid[image.SOPInstanceUID]) for image in results.key_images]
    largest = next(i for i, k in enumerate(keys) if k.is_largest)
    for i, (ds, bare) in enumerate(zip(written, plain, strict=True)):
        assert ds.ImageComments.isascii()
        assert "#3" not in ds.ImageComments and "#4" not in ds.ImageComments
        if i != largest:  # no mark of its own, and the same crop: the image without marks
            assert "reader #" not in ds.ImageComments
            assert np.array_equal(ds.pixel_array, bare.pixel_array)
    ds, bare = written[largest], plain[largest].pixel_array
    ruler = marks[0].annotation
    assert f"reader #1 ruler {ruler.length_mm:.1f} mm" in ds.ImageComments
    assert "reader #2 ROI" in ds.ImageComments and "+/- " in ds.ImageComments
    rgb = ds.pixel_array
    pixel_mm = float(ds.PixelSpacing[0])
    r0, _, c0, _ = head_bbox_yx(reading.volume)  # the ruler lies inside the head: no regrowth
    _, sy, sx = reading.volume.spacing_mm
    (ra, ca), (rb, cb) = (((p[0] - r0) * sy / pixel_mm - 0.5, (p[1] - c0) * sx / pixel_mm - 0.5)
                          for p in (RULER_START_PX, RULER_END_PX))
    for t in np.linspace(0.05, 0.95, 40):  # the ruler's colour all along it, where it was not
        r, c = round(ra + t * (rb - ra)), round(ca + t * (cb - ca))
        assert tuple(rgb[r, c]) == RULER_RGB, (t, r, c)
        assert tuple(bare[r, c]) != RULER_RGB
    # the pink piece through its middle spans the ruler's length in mm, plus the end ticks'
    # width (a line's, 4 px on a 512-px picture: half of it beyond each end)
    along, across = ruler_offsets_px(rgb, RULER_RGB, (ra, ca), (rb, cb))
    near = along[across <= 3]
    span_mm = (near.max() - near.min()) * pixel_mm
    assert span_mm == pytest.approx(ruler.length_mm + 4 * pixel_mm, abs=2 * pixel_mm)
    assert not is_colour(bare, RULER_RGB).any()
    # the ROI's outline where its ellipse is: violet pixels only in the marked image, around
    # the ellipse's centre at its half axes (rows 130-160, columns 55-95 of the slice)
    violet = is_colour(rgb, ROI_RGB) & ~is_colour(bare, ROI_RGB)
    centre = ((145.0 - r0) * sy / pixel_mm - 0.5, (75.0 - c0) * sx / pixel_mm - 0.5)
    half = (15.0 * sy / pixel_mm, 20.0 * sx / pixel_mm)
    hits = 0
    for angle in np.linspace(0, 2 * np.pi, 24, endpoint=False):
        r = round(centre[0] + (half[0] - 1.5) * np.sin(angle))
        c = round(centre[1] + (half[1] - 1.5) * np.cos(angle))
        hits += bool(violet[r - 2:r + 3, c - 2:c + 3].any())
    assert hits == 24


_saved: list[Path] = []


def _save(ds) -> Path:
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="ich_dicom_out_")) / "x.dcm"
    ds.save_as(path, enforce_file_format=True)
    _saved.append(path.parent)
    return path


def teardown_module() -> None:
    for folder in _saved:
        shutil.rmtree(folder, ignore_errors=True)


def test_dcmqi_rebuilds_the_seg_and_reads_the_sr(sample_files, tmp_path):
    reading, results, paths = sample_files
    seg_path = next(p for p in paths if p.name.startswith("SEG_"))
    segments = dcmqi_segments(seg_path, tmp_path / "seg")
    assert len(segments) == 1 == len(results.segments)  # no IVH here: a one-segment SEG
    mask, _ = segments[0]
    ours = reading.measurement.hematoma_mask
    assert int(mask.sum()) == int(ours.sum()) == results.segments[0].n_source_voxels

    sr = dcmqi_sr(next(p for p in paths if p.name.startswith("SR_")), tmp_path / "sr")
    groups = sr["Measurements"]
    by_segment = [g for g in groups if g.get("ReferencedSegment") == 1]
    assert len(by_segment) == 2  # planimetric and ABC/2, both tied to the hematoma segment
    planimetric, abc2 = by_segment
    values = {(m["quantity"]["CodeMeaning"], m["units"]["CodeValue"]): float(m["value"])
              for m in planimetric["measurementItems"]}
    m = reading.measurement
    assert values[("Volume", "mL")] == pytest.approx(m.hematoma_volume_ml, rel=1e-6)
    assert values[("Voxels in the blood HU window", "{voxels}")] == int(ours.sum())
    evaluations = {q["conceptCode"]["CodeMeaning"]: q["conceptValue"]["CodeValue"]
                   for q in planimetric["qualitativeEvaluations"]}
    assert evaluations == {"Hematoma location (estimated)": f"site-{m.location}",
                           "Intraventricular extension": "373067005"}  # SNOMED "No"
    assert abc2["measurementMethod"]["CodeValue"] == "121218"
    items = {i["quantity"]["CodeMeaning"]: float(i["value"]) for i in abc2["measurementItems"]}
    assert items["Volume"] == pytest.approx(m.abc2.volume_ml, rel=1e-6)
    assert items["Long axis"] == pytest.approx(m.abc2.a_mm, rel=1e-6)
    assert items["Short axis"] == pytest.approx(m.abc2.b_mm, rel=1e-6)
    assert items["Height"] == pytest.approx(m.abc2.c_mm, rel=1e-6)
    model_group = next(g for g in groups if "ReferencedSegment" not in g)
    algorithm = model_group["measurementAlgorithmIdentification"]
    assert algorithm["AlgorithmName"] == f"model: {reading.model.name}"
    assert "provenance=synthetic" in algorithm["AlgorithmParameters"]
    model_items = {i["quantity"]["CodeMeaning"]: float(i["value"])
                   for i in model_group["measurementItems"]}
    assert model_items["Volume"] == pytest.approx(reading.prediction.predicted_volume_ml, 1e-6)
    assert model_items["Probability of poor outcome, research model"] == pytest.approx(
        100 * reading.prediction.poor_outcome_probability, rel=1e-6)
    # dcmqi reads the reader's planar groups too (their SCOORD3D regions it does not report)
    marks = reader_marks(reading)
    readers = [g for g in groups if g["TrackingIdentifier"].startswith("Reader measurement #")]
    assert len(readers) == len(marks)
    for mark, group in zip(marks, readers, strict=True):
        items = {(i["quantity"]["CodeMeaning"], i.get("derivationModifier", {}).get("CodeMeaning")):
                 float(i["value"]) for i in group["measurementItems"]}
        a = mark.annotation
        if isinstance(a, Ruler):
            assert items == {("Length", None): pytest.approx(a.length_mm, abs=0.01)}
        else:
            assert items[("Attenuation Coefficient", "Mean")] == pytest.approx(a.mean_hu, 1e-6)
            assert items[("Area", None)] == pytest.approx(a.area_mm2, rel=1e-6)


def test_hematoma_and_ivh_are_two_segments_each_with_its_volume(tmp_path):
    reading = _with_ivh(sample_reading(with_model=False))
    results = build_results(reading)
    assert [s.label for s in results.segments] == [
        "Intraparenchymal hematoma", "Intraventricular hemorrhage"]
    paths = write_results(results, tmp_path / "out")
    for path in paths:
        assert dciodvfy_errors(path) == [], path.name
    seg = results.seg
    types = [d.SegmentedPropertyTypeCodeSequence[0].CodeValue for d in seg.SegmentSequence]
    assert types == ["35566002", "50960005"]  # SNOMED hematoma, hemorrhage (in the ventricle)
    rebuilt = dcmqi_segments(next(p for p in paths if p.name.startswith("SEG_")), tmp_path / "q")
    assert [int(m.sum()) for m, _ in rebuilt] == [
        int(reading.measurement.hematoma_mask.sum()), int(reading.measurement.ivh_mask.sum())]
    sr = dcmqi_sr(next(p for p in paths if p.name.startswith("SR_")), tmp_path / "sr")
    ivh_group = next(g for g in sr["Measurements"] if g.get("ReferencedSegment") == 2)
    volume = next(float(i["value"]) for i in ivh_group["measurementItems"]
                  if i["quantity"]["CodeMeaning"] == "Volume")
    assert volume == pytest.approx(reading.measurement.ivh_volume_ml, rel=1e-6)


def test_anonymize_blanks_name_id_and_birth_date(tmp_path):
    results = build_results(sample_reading(with_model=False), pdf_bytes=PDF, anonymize=True)
    for ds in results.datasets:
        assert str(ds.PatientName) == "" and ds.PatientID == "" and not ds.PatientBirthDate
        assert ds.PatientIdentityRemoved == "YES"
    for path in write_results(results, tmp_path):
        assert dciodvfy_errors(path) == [], path.name


def test_source_without_type2_patient_attributes(tmp_path):
    """Sources lacking PatientBirthDate/PatientSex (as dcm_qa_ct In/GE) still give a SEG."""
    import pydicom

    from ichmodel.reading import read_study

    copy = tmp_path / "src"
    copy.mkdir()
    for path in sorted((sample_study_dir() / "DICOM").glob("*.dcm")):
        ds = pydicom.dcmread(path)
        for keyword in ("PatientBirthDate", "PatientSex", "ReferringPhysicianName"):
            if keyword in ds:
                delattr(ds, keyword)
        ds.save_as(copy / path.name)
    reading = run_to_completion(read_study(copy, model="none"))
    results = build_results(reading)
    assert results.seg is not None and results.seg.PatientSex == ""
    for path in write_results(results, tmp_path / "out"):
        assert dciodvfy_errors(path) == [], path.name


def test_clear_errors_for_what_cannot_be_exported():
    from tests.readings import phantom_reading

    with pytest.raises(DicomExportError, match="no source DICOM series"):
        build_results(phantom_reading())
    reading = sample_reading(with_model=False)
    with pytest.raises(DicomExportError, match="not a PDF"):
        build_results(reading, pdf_bytes=b"hello")
    with pytest.raises(DicomExportError, match="not measured"):
        build_results(replace(reading, measurement=None))


@pytest.mark.slow
@pytest.mark.shared
def test_tilted_ge_series_seg_lies_on_the_source_slices(dcm_qa_ct, tmp_path):
    """The GE series is tilted and unevenly spaced: the SEG lies on its own (sheared) slices, at
    the sphere's position (mm), with its volume. dcmqi 1.5.7 cannot rebuild any sheared stack
    ("Frame 0 origin ... is outside image geometry"), so the frames are read back here."""
    from ichmodel.reading import read_study

    reading = run_to_completion(read_study(dcm_qa_ct / "In" / "GE", model="none"))
    codes = {n.code for n in reading.notices}
    assert "load.gantry_tilt_corrected" in codes
    nz, ny, nx = reading.volume.shape
    centre = (nz / 2, ny / 2, nx / 2 + 20)
    reading = _sphere_reading(reading, centre, radius_mm=15.0)
    # the reader's sagittal ruler through the sphere's centre (slice x, rows z, columns y)
    k = round(centre[2])
    zc, yc = centre[0] + 0.5, centre[1] + 0.5  # pixel coordinates of the centre voxel
    ruler = measure_ruler(reading.volume.spacing_mm, Plane.SAGITTAL, k,
                          (zc - 4, yc - 6), (zc + 4, yc + 6))
    results = build_results(reading, pdf_bytes=PDF, annotations=(ReaderMeasurement(1, ruler),))
    assert any("resampled" in r for r in results.remarks)
    paths = write_results(results, tmp_path / "out")
    for path in paths:
        assert dciodvfy_errors(path) == [], path.name
    seg_path = next(p for p in paths if p.name.startswith("SEG_"))
    # Read the frames back ourselves: each frame's pixels at its own plane position (mm)
    centroid, n_voxels = _frames_centroid_lps(seg_path)
    assert n_voxels == results.segments[0].n_source_voxels > 0
    ours = np.asarray(reading.volume.index_to_physical(centre))
    assert np.linalg.norm(centroid - ours) < 1.5  # mm, about one source pixel / slab
    # the SR's SCOORD3D ruler, resampled grid or not, has its middle on the bleed in the
    # source's patient space (where the SEG frames put it) and its length
    import highdicom as hd

    sr = hd.sr.srread(next(p for p in paths if p.name.startswith("SR_")))
    (group,) = sr.content.get_planar_roi_measurement_groups()
    points = group.roi.value
    shift = np.asarray(reading.volume.index_to_physical((centre[0], centre[1], k))) - ours
    assert np.linalg.norm(points.mean(axis=0) - shift - centroid) < 1.5
    assert np.linalg.norm(points[1] - points[0]) == pytest.approx(ruler.length_mm, abs=0.01)
    # the sphere's volume counted on the uneven source slabs agrees with ours
    assert results.segments[0].source_volume_ml == pytest.approx(
        reading.measurement.hematoma_volume_ml, rel=0.05)


def _frames_centroid_lps(seg_path: Path) -> tuple[np.ndarray, int]:
    """Centroid (LPS mm) and voxel count of a binary SEG, from its per-frame plane positions."""
    import pydicom

    seg = pydicom.dcmread(seg_path)
    shared = seg.SharedFunctionalGroupsSequence[0]
    iop = np.asarray(shared.PlaneOrientationSequence[0].ImageOrientationPatient, float)
    dr, dc = (float(v) for v in shared.PixelMeasuresSequence[0].PixelSpacing)
    pixels = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
    points = []
    for frame, group in zip(pixels, seg.PerFrameFunctionalGroupsSequence, strict=True):
        ipp = np.asarray(group.PlanePositionSequence[0].ImagePositionPatient, float)
        r, c = np.nonzero(frame)
        points.append(ipp + np.outer(c * dc, iop[:3]) + np.outer(r * dr, iop[3:]))
    allpoints = np.concatenate(points)
    return allpoints.mean(axis=0), len(allpoints)


def test_cli_export_writes_every_object(tmp_path, capsys):
    import json

    from ichmodel.cli import main

    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(PDF)
    rc = main(["export", str(sample_study_dir() / "DICOM"), "--dicom-out", str(tmp_path / "o"),
               "--pdf", str(pdf), "--anonymize", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert rc == 0 and len(summary["written"]) == 6 and summary["remarks"] == []
    assert set(summary["series"]) == {"SEG", "SR", "SC", "DOC"}
    assert summary["segments"][0]["label"] == "Intraparenchymal hematoma"
    assert main(["export", str(sample_study_dir() / "DICOM"), "--dicom-out", str(tmp_path),
                 "--pdf", str(tmp_path / "missing.pdf")]) == 3
    assert "cannot read the PDF report" in capsys.readouterr().err


def test_the_readers_marks_are_planar_groups_in_the_sr(sample_files):
    """Each ruler / ROI is a TID 1410 group: its value as the viewer measured it, its region in
    3-D patient coordinates on the voxels it was drawn on (the coronal ruler too), made by hand."""
    import highdicom as hd
    import pydicom
    from highdicom.sr.utils import find_content_items
    from pydicom.sr.codedict import codes

    reading, results, paths = sample_files
    marks = reader_marks(reading)
    sr = hd.sr.srread(next(p for p in paths if p.name.startswith("SR_")))
    groups = sr.content.get_planar_roi_measurement_groups()
    assert [g.tracking_identifier.split(" (")[0] for g in groups] == [
        f"Reader measurement #{m.number}" for m in marks]
    assert len({g.tracking_uid for g in groups}) == len(marks)
    volume = reading.volume
    frame = str(pydicom.dcmread(next(p for p in paths if p.name.startswith("SEG_")))
                .FrameOfReferenceUID)  # the source's, which the SEG shares

    def lps(plane, k, point_px):
        """Written out here, not by the code under test: pixel coordinate r + 0.5 is voxel
        r's centre; a coronal image's rows are z and its columns x, at y = the slice."""
        r, c = point_px[0] - 0.5, point_px[1] - 0.5
        zyx = {Plane.AXIAL: (k, r, c), Plane.CORONAL: (r, k, c), Plane.SAGITTAL: (r, c, k)}
        return volume.index_to_physical(zyx[plane])

    for mark, group in zip(marks, groups, strict=True):
        a = mark.annotation
        region = group.roi
        assert isinstance(region, hd.sr.ImageRegion3D)
        assert region.frame_of_reference_uid == frame
        points = region.value
        # the reader's, not ICH Viewer's: no algorithm anywhere in the group
        assert find_content_items(group[0], name=codes.DCM.AlgorithmName, recursive=True) == []
        assert find_content_items(group[0], name=codes.SCT.MeasurementMethod, recursive=True)
        for m in group.get_measurements():
            assert m.method == codes.SCT.Manual
        if isinstance(a, Ruler):
            assert region.graphic_type == hd.sr.GraphicTypeValues3D.POLYLINE
            (length,) = group.get_measurements(name=codes.SCT.Length)
            assert abs(length.value - a.length_mm) < 0.01
            assert abs(np.linalg.norm(points[1] - points[0]) - a.length_mm) < 0.01
            expected = [lps(a.plane, a.slice_index, p) for p in (a.start_px, a.end_px)]
        else:
            assert region.graphic_type == hd.sr.GraphicTypeValues3D.ELLIPSE
            stats = {m.derivation.meaning: m.value for m in
                     group.get_measurements(name=codes.DCM.AttenuationCoefficient)}
            assert stats == pytest.approx({"Mean": a.mean_hu, "Standard Deviation": a.sd_hu,
                                           "Minimum": a.min_hu, "Maximum": a.max_hu}, rel=1e-6)
            (area,) = group.get_measurements(name=codes.SCT.Area)
            assert area.value == pytest.approx(a.area_mm2, rel=1e-6)
            (r0, c0), (r1, c1) = a.corner_a_px, a.corner_b_px  # drawn top-left to bottom-right
            rc, cc = (r0 + r1) / 2, (c0 + c1) / 2
            # 40 columns by 30 rows of square pixels: the major axis runs along the columns
            expected = [lps(a.plane, a.slice_index, p)
                        for p in ((rc, c0), (rc, c1), (r0, cc), (r1, cc))]
            major, minor = points[1] - points[0], points[3] - points[2]
            assert abs(float(major @ minor)) < 1e-3
            assert np.linalg.norm(major) > np.linalg.norm(minor)
        assert np.linalg.norm(points - np.array(expected), axis=1).max() < 0.5
    # the coronal ruler (#4) spans axial slices 10..20 at one y: not the axial reading of it
    coronal = groups[3].roi.value
    assert marks[3].annotation.plane is Plane.CORONAL
    assert abs(coronal[1][2] - coronal[0][2]) == pytest.approx(10 * volume.spacing_mm[0], 1e-3)
