"""A second scan of a real head: the same head moved rigidly, with noise of its own.

Real anatomy with exact truth for what must not change between two scans of one patient: a
follow-up, or a re-scan after the patient moved. The head is moved by a rigid transform and
resampled (SimpleITK B-spline); new white noise at the head's own level is added, because a
resampled copy keeps the first scan's noise (B-spline keeps ~96 % of it on the GE head) and a
second acquisition has its own.

``in_plane`` moves (the default) turn the head about the slice normal (up to 10 degrees),
shift it up to 10 mm along each in-plane axis and a whole number of slices (up to 10 mm)
along the normal, so every resampled slice is a native slice turned and shifted in its
plane, as a scanner would reconstruct it. A 3-D move re-slices a thick-slice series
obliquely and smears the skull base across slices, which no scanner does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

from ichmodel.io.sitk_bridge import image_to_volume, volume_to_image
from ichmodel.volume import Volume

#: Largest rotation (degrees) and shift (mm) of a move.
MAX_ROTATION_DEG = 10.0
MAX_SHIFT_MM = 10.0
#: Outside the head: air keeps its value when noise is added.
AIR_HU = -200.0
FILL_HU = -1024.0


@dataclass(frozen=True, eq=False)
class Rescan:
    """``volume``: the moved head on the original grid; ``move``: the SimpleITK transform that
    maps a point of ``volume`` to where it was in the original (the resampling transform);
    ``noise_hu``: the standard deviation of the noise added."""

    volume: Volume
    move: sitk.Transform
    noise_hu: float


def noise_level_hu(volume: Volume) -> float:
    """The brain's high-pass residual (MAD-estimated standard deviation, HU): the scan's own
    noise level."""
    hu = volume.hu
    sig = [1.0 / s if 1.0 / s >= 0.3 else 0.0 for s in volume.spacing_mm]
    residual = hu - ndi.gaussian_filter(hu, sig)
    brain = (hu > 20) & (hu < 45)
    if not brain.any():
        return 0.0
    return 1.4826 * float(np.median(np.abs(residual[brain])))


def rigid_move(volume: Volume, seed: int, in_plane: bool = True) -> sitk.Transform:
    """A random rigid move about the grid's centre (see the module doc)."""
    rng = np.random.default_rng(seed)
    centre = tuple(float(c) for c in volume.index_to_physical(
        tuple((k - 1) / 2.0 for k in volume.shape)))
    d = volume.direction_matrix
    if not in_plane:
        move = sitk.Euler3DTransform()
        move.SetCenter(centre)
        move.SetRotation(*np.radians(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG, 3)))
        move.SetTranslation(tuple(float(t) for t in rng.uniform(-MAX_SHIFT_MM, MAX_SHIFT_MM, 3)))
        return move
    angle = float(np.radians(rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG)))
    normal = d[:, 2]
    along = rng.uniform(-MAX_SHIFT_MM, MAX_SHIFT_MM, 2)
    slices = int(np.round(rng.uniform(-MAX_SHIFT_MM, MAX_SHIFT_MM) / volume.spacing_mm[0]))
    shift = along[0] * d[:, 0] + along[1] * d[:, 1] + slices * volume.spacing_mm[0] * normal
    move = sitk.VersorRigid3DTransform()
    move.SetCenter(centre)
    move.SetRotation(tuple(float(v) for v in normal), angle)
    move.SetTranslation(tuple(float(t) for t in shift))
    return move


def with_fresh_noise(volume: Volume, level_hu: float, seed: int) -> Volume:
    """``volume`` plus white noise of ``level_hu`` standard deviation inside the head."""
    noise = np.random.default_rng(seed).normal(0.0, level_hu, volume.shape).astype(np.float32)
    hu = volume.hu
    return volume.with_hu(np.where(hu > AIR_HU, hu + noise, hu).astype(np.float32))


def moved(volume: Volume, move: sitk.Transform) -> Volume:
    """``volume`` resampled through ``move`` onto its own grid (B-spline: it keeps a bleed's
    partial-volume edge sharper than linear on thick slices; outside filled with air)."""
    img = volume_to_image(volume)
    return image_to_volume(
        sitk.Resample(img, img, move, sitk.sitkBSpline, FILL_HU, sitk.sitkFloat32), volume
    )


def rescan(volume: Volume, seed: int, in_plane: bool = True) -> Rescan:
    """``volume``'s head moved by :func:`rigid_move` (``seed``) and resampled onto its own
    grid (:func:`moved`), with fresh noise at its own level (:func:`noise_level_hu`; seed
    ``seed + 2000``)."""
    move = rigid_move(volume, seed, in_plane)
    level = noise_level_hu(volume)
    return Rescan(with_fresh_noise(moved(volume, move), level, seed + 2000), move, level)
