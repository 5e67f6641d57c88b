"""Small synthetic head CTs for the measurement tests: fast and with exactly known truth.

An ellipsoidal skull shell (~1000 HU) with scalp, brain at 30 HU plus noise, two lateral
ventricles (5 HU), optional ellipsoidal blood (70 HU) with partial volume computed by
supersampling (so thick slices behave like a scanner's), and an optional 300 HU calcification.
Axes are (z, y, x), mm; z increases superiorly, y posteriorly, x to the patient's left (LPS).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ichmodel.volume import Volume

BRAIN_HU, BLOOD_HU, CSF_HU, BONE_HU, SCALP_HU = 30.0, 70.0, 5.0, 1000.0, 40.0


@dataclass(frozen=True)
class Blob:
    """An axis-aligned ellipsoid: centre (z, y, x) mm from the head centre, semi-axes mm."""

    centre_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]

    @property
    def volume_ml(self) -> float:
        a, b, c = self.semi_axes_mm
        return 4.0 / 3.0 * np.pi * a * b * c / 1000.0


#: The lateral ventricles: (patient) right and left, 9 mm either side of the midline.
VENTRICLES = (
    Blob((5.0, -5.0, -9.0), (14.0, 22.0, 5.0)),
    Blob((5.0, -5.0, 9.0), (14.0, 22.0, 5.0)),
)


def _coords(shape, spacing, sub=1):
    """Physical coordinates (mm) of sub-samples of each voxel, centred on the array centre."""
    axes = []
    for n, s in zip(shape, spacing, strict=True):
        centres = (np.arange(n) - (n - 1) / 2.0) * s
        offsets = ((np.arange(sub) + 0.5) / sub - 0.5) * s
        axes.append(
            centres,
        ) if sub == 1 else axes.append((centres[:, None] + offsets).ravel())
    return axes


def _fraction(blob: Blob, shape, spacing, sub=(5, 3, 3)) -> np.ndarray:
    """Fraction (0..1) of each voxel inside ``blob``, by supersampling."""
    out = np.zeros(shape, dtype=np.float32)
    (cz, cy, cx), (az, ay, ax) = blob.centre_mm, blob.semi_axes_mm
    grids = []
    for n, s, c, a, k in zip(shape, spacing, (cz, cy, cx), (az, ay, ax), sub, strict=True):
        centres = (np.arange(n) - (n - 1) / 2.0) * s
        sel = np.flatnonzero(np.abs(centres - c) <= a + s)
        offs = ((np.arange(k) + 0.5) / k - 0.5) * s
        grids.append((sel, ((centres[sel][:, None] + offs) - c) / a))
    (iz, gz), (iy, gy), (ix, gx) = grids
    if not (iz.size and iy.size and ix.size):
        return out
    inside = (
        gz[:, None, None, :, None, None] ** 2
        + gy[None, :, None, None, :, None] ** 2
        + gx[None, None, :, None, None, :] ** 2
    ) <= 1.0
    frac = inside.mean(axis=(3, 4, 5))
    out[np.ix_(iz, iy, ix)] = frac
    return out


def make_head(
    *,
    spacing_mm=(5.0, 1.0, 1.0),
    shape=(28, 200, 170),
    blood: Blob | None = None,
    calcification: Blob | None = None,
    skull: bool = True,
    noise_hu: float = 5.0,
    seed: int = 0,
    blood_hu: float = BLOOD_HU,
) -> Volume:
    rng = np.random.default_rng(seed)
    z, y, x = np.meshgrid(*_coords(shape, spacing_mm), indexing="ij")
    outer = (z / 68.0) ** 2 + (y / 92.0) ** 2 + (x / 76.0) ** 2
    inner = (z / 62.0) ** 2 + (y / 86.0) ** 2 + (x / 70.0) ** 2
    scalp = (z / 72.0) ** 2 + (y / 96.0) ** 2 + (x / 80.0) ** 2
    hu = np.full(shape, -1000.0, dtype=np.float32)
    if skull:
        hu[scalp <= 1.0] = SCALP_HU
        hu[outer <= 1.0] = BONE_HU
    hu[inner <= 1.0] = BRAIN_HU
    for vent in VENTRICLES:
        f = _fraction(vent, shape, spacing_mm)
        hu += (f * (CSF_HU - BRAIN_HU)).astype(np.float32)
    if blood is not None:
        f = _fraction(blood, shape, spacing_mm)
        hu += (f * (blood_hu - hu)).astype(np.float32) * (inner <= 1.0)
    if calcification is not None:
        f = _fraction(calcification, shape, spacing_mm)
        hu += (f * (300.0 - hu)).astype(np.float32)
    hu += rng.normal(0.0, noise_hu, shape).astype(np.float32) * (hu > -500)
    return Volume(hu=hu.astype(np.float32), spacing_mm=tuple(float(s) for s in spacing_mm))
