"""Preprocessing (window, head crop, resize), its inverse mapping, and the size <-> ml labels."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ichmodel.labels import LabelTransform, ml_to_size_mm, size_mm_to_ml
from ichmodel.preprocess import PreprocessConfig, head_bounding_box, preprocess
from ichmodel.volume import Volume

torch.set_num_threads(1)
SMALL = PreprocessConfig(output_shape=(8, 48, 48))


def _ellipsoid(shape, centre, radii):
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    return sum(((g - c) / r) ** 2 for g, c, r in zip((zz, yy, xx), centre, radii, strict=True)) < 1


def _head_volume(shape=(20, 96, 96), spacing=(5.0, 1.0, 1.0), table=True):
    hu = np.full(shape, -1000.0, np.float32)
    head = _ellipsoid(shape, (10, 44, 50), (8, 34, 30))
    hu[head] = -80.0  # scalp/fat: below the brain window but part of the head
    hu[_ellipsoid(shape, (10, 44, 50), (7, 30, 26))] = 30.0
    if table:
        hu[:, 86:88, 5:91] = 150.0  # scanner table under the head, separated by air
    return Volume(hu=hu, spacing_mm=spacing), head


# --- labels ---------------------------------------------------------------------------------
def test_size_ml_round_trip_for_scalars_arrays_and_tensors():
    assert ml_to_size_mm(30.0) == pytest.approx(31.0723, abs=1e-4)
    assert size_mm_to_ml(10.0) == pytest.approx(1.0)
    ml = np.array([0.0, 0.5, 7.3, 30.0, 150.0])
    np.testing.assert_allclose(size_mm_to_ml(ml_to_size_mm(ml)), ml, rtol=1e-12, atol=1e-12)
    t = torch.tensor([0.0, 2.0, 60.0], dtype=torch.float64)
    torch.testing.assert_close(size_mm_to_ml(ml_to_size_mm(t)), t)
    assert size_mm_to_ml(-3.0) == 0.0 and ml_to_size_mm(-1.0) == 0.0
    lt = LabelTransform.from_dict(json.loads(json.dumps(LabelTransform().to_dict())))
    assert lt.to_ml(lt.to_size_mm(12.5)) == pytest.approx(12.5)
    with pytest.raises(ValueError):
        LabelTransform(kind="log")


# --- config ---------------------------------------------------------------------------------
def test_config_is_frozen_and_json_round_trips():
    cfg = PreprocessConfig(margin_mm=3.0, output_shape=(16, 96, 96))
    assert PreprocessConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert PreprocessConfig().window_hu == (40.0, 110.0)
    assert PreprocessConfig().output_shape == (32, 224, 224)
    with pytest.raises(AttributeError):
        cfg.margin_mm = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError):
        PreprocessConfig(window_hu=(110, 40))
    with pytest.raises(ValueError, match="unknown"):
        PreprocessConfig.from_dict({"zoom": 2})


# --- the transform --------------------------------------------------------------------------
def test_output_is_windowed_resized_float32_in_unit_range():
    volume, _ = _head_volume()
    mi = preprocess(volume, SMALL)
    assert mi.array.shape == (1, 8, 48, 48) and mi.array.dtype == np.float32
    assert mi.array.min() >= 0.0 and mi.array.max() <= 1.0
    assert mi.tensor().shape == (1, 1, 8, 48, 48)
    hot = volume.with_hu(np.full(volume.shape, 500.0, np.float32))
    assert preprocess(hot, SMALL).array.min() == 1.0  # above the window -> 1


def test_crop_is_the_head_from_raw_hu_plus_margin_not_the_table_nor_brain_window():
    volume, head = _head_volume()
    box = head_bounding_box(volume.hu, volume.spacing_mm, PreprocessConfig(margin_mm=2.0))
    idx = [np.flatnonzero(head.any(axis=tuple(a for a in range(3) if a != ax))) for ax in range(3)]
    margins = (1, 2, 2)  # ceil(2 mm / spacing)
    for axis, (lo, hi) in enumerate(box):
        assert lo == max(0, idx[axis][0] - margins[axis])
        assert hi == min(volume.shape[axis], idx[axis][-1] + 1 + margins[axis])
    assert box[1][1] < 86  # the table rows are outside


def test_empty_head_uses_whole_volume_and_warns():
    volume = Volume(hu=np.full((4, 16, 16), -1000.0, np.float32), spacing_mm=(5.0, 1.0, 1.0))
    mi = preprocess(volume, SMALL)
    assert mi.crop_zyx == ((0, 4), (0, 16), (0, 16))
    assert not mi.head_found and "no voxel above" in mi.warnings[0]


def test_known_blob_maps_back_onto_its_volume_voxels():
    volume, _ = _head_volume(shape=(30, 96, 96), spacing=(3.0, 1.0, 1.0), table=True)
    blob = _ellipsoid(volume.shape, (12, 30, 62), (4, 8, 8))
    hu = volume.hu.copy()
    hu[blob] = 100.0
    volume = volume.with_hu(hu)
    cfg = PreprocessConfig(output_shape=(16, 64, 64), antialias=False)
    mi = preprocess(volume, cfg)
    model_map = (mi.array[0] > 0.5).astype(np.float32)  # the blob, at model resolution
    assert model_map.sum() > 0
    back = mi.to_volume_grid(model_map)
    assert back.shape == volume.shape and back.dtype == np.float32
    mapped = back > 0.5
    dice = 2 * (mapped & blob).sum() / (mapped.sum() + blob.sum())
    assert dice > 0.85
    centroid = np.array(np.nonzero(mapped)).mean(axis=1)
    np.testing.assert_allclose(centroid, [12, 30, 62], atol=0.6)
    (z0, z1), (y0, y1), (x0, x1) = mi.crop_zyx
    outside = np.ones(volume.shape, bool)
    outside[z0:z1, y0:y1, x0:x1] = False
    assert not back[outside].any()


def test_coarse_map_also_lands_on_the_grid():
    volume, _ = _head_volume()
    mi = preprocess(volume, SMALL)
    coarse = np.zeros((2, 3, 3), np.float32)
    coarse[1, 2, 2] = 1.0
    back = mi.to_volume_grid(torch.from_numpy(coarse))
    (z0, z1), (y0, y1), (x0, x1) = mi.crop_zyx
    peak = np.unravel_index(np.argmax(back), back.shape)
    assert peak[0] >= (z0 + z1) / 2 and peak[1] >= y0 + 2 * (y1 - y0) / 3 - 1
    assert peak[2] >= x0 + 2 * (x1 - x0) / 3 - 1


def test_antialias_keeps_the_grid_and_smooths_thin_slices():
    shape = (64, 32, 32)
    hu = np.full(shape, 30.0, np.float32)
    hu[::4] = 110.0  # one bright slice in four: aliases under plain linear resizing
    volume = Volume(hu=hu, spacing_mm=(1.0, 1.0, 1.0))
    cfg = PreprocessConfig(output_shape=(8, 32, 32), crop_head=False)
    smooth = preprocess(volume, cfg).array[0, 1:-1]
    aliased = preprocess(volume, PreprocessConfig(**{**cfg.to_dict(), "antialias": False})).array
    # the true mean intensity is 0.25; sampling between a bright and a dark slice says 0.5
    assert abs(float(aliased.mean()) - 0.25) > 0.2
    assert smooth.mean() == pytest.approx(0.25, abs=0.05)
    assert smooth.std() < 0.02


def test_thin_head_holder_touching_the_head_is_left_out_of_the_crop():
    shape = (20, 128, 128)
    hu = np.full(shape, -1000.0, np.float32)
    head = _ellipsoid(shape, (10, 56, 64), (8, 40, 34))
    hu[head] = 30.0
    _, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    radius = np.sqrt((yy - 50.0) ** 2 + (xx - 64.0) ** 2)
    holder = (np.abs(radius - 56.0) < 1.5) & (yy > 60)  # a U-shaped shell under the head...
    holder = np.broadcast_to(holder, shape).copy()
    holder[:, 95:106, 63:66] = True  # ...touching it through a thin bridge
    hu[holder & ~head] = 200.0
    volume = Volume(hu=hu, spacing_mm=(5.0, 1.0, 1.0))
    (_, _), (y0, y1), (x0, x1) = head_bounding_box(
        volume.hu, volume.spacing_mm, PreprocessConfig(margin_mm=0.0)
    )
    assert (x0, x1) == (30 + 1, 98)  # the head's own columns; the shell spans 8..120
    assert y0 == 17 and y1 <= 100  # the shell reaches row 106
