"""Where the blood is: supra- vs infratentorial, deep vs lobar, and intraventricular blood.

**Best effort, from image geometry alone** (no atlas, no registration). Everything is
expressed relative to the intracranial region found by :mod:`ichmodel.measure.brain`:

* Relative height h in [0, 1] from the lowest to the highest slice of the region (using the
  Volume's direction to know which way is up). Infratentorial (posterior fossa: cerebellum,
  brainstem) = centroid below ``TENTORIUM_HEIGHT`` and behind the region's centre; the
  tentorium lies roughly a third of the way up a skull-base-to-vertex head CT.
* Deep (basal ganglia, thalamus, internal capsule) = centroid near the centre of its slice's
  intracranial outline (elliptic radius < ``DEEP_RADIUS``); lobar = farther out.
* Ventricles = CSF-range (smoothed HU in [``CSF_MIN_HU``, ``CSF_MAX_HU``]) connected regions
  of at least ``MIN_VENTRICLE_ML`` lying mostly in the central part of the brain, away from the
  surface (sulci and cisterns are CSF too, but peripheral). Their in-plane envelope (closed,
  holes filled) and its mirror across the midline (blood may have replaced one ventricle's CSF
  entirely) form the ventricular space; blood inside it is intraventricular (IVH). A blood
  region that lies mostly in that space is IVH as a whole.

On a volume whose direction is not close to axial, locations are reported as unknown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ichmodel.measure import _morph

log = logging.getLogger(__name__)

#: In-plane grid (mm) on which head geometry and ventricles are computed (speed).
FRAME_MM = 1.5
TENTORIUM_HEIGHT = 0.33
DEEP_RADIUS = 0.5
CSF_MIN_HU = -10.0
CSF_MAX_HU = 18.0
MIN_VENTRICLE_ML = 0.3
#: A CSF region is ventricular when this fraction of it lies in the central zone.
VENTRICLE_CENTRAL_FRACTION = 0.6
#: Central zone: elliptic radius below this and relative height within these bounds.
CENTRAL_RADIUS = 0.5
CENTRAL_HEIGHT = (0.2, 0.85)
#: Closing radius (mm) that merges a ventricle's CSF with blood layering inside it.
ENVELOPE_CLOSING_MM = 3.0
#: Partial-volume margin (mm) around the ventricular space.
ENVELOPE_MARGIN_MM = 1.0
#: A blood region with at least this fraction inside the ventricular space is IVH entirely.
IVH_WHOLE_FRACTION = 0.5
#: Less intraventricular blood than this (ml) is too little to call IVH (partial volume at
#: the ventricle wall next to a deep hematoma).
MIN_IVH_ML = 0.3


@dataclass(frozen=True)
class Orientation:
    """Signs telling which way the array axes point; ``axial`` False when we cannot tell."""

    superior: int  # +1: increasing z index goes up (superior), -1 down
    posterior: int  # +1: increasing y index goes to the back
    left: int  # +1: increasing x index goes to the patient's left
    axial: bool


def orientation_from_direction(direction: tuple[float, ...]) -> Orientation:
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    x_axis, y_axis, z_axis = d[:, 0], d[:, 1], d[:, 2]
    axial = abs(z_axis[2]) >= 0.7 and abs(y_axis[1]) >= 0.5 and abs(x_axis[0]) >= 0.5
    sign = lambda v: 1 if v >= 0 else -1  # noqa: E731
    return Orientation(sign(z_axis[2]), sign(y_axis[1]), sign(x_axis[0]), bool(axial))


@dataclass(frozen=True, eq=False)
class HeadFrame:
    """HU-range independent geometry of the intracranial crop (see the module doc)."""

    height: np.ndarray  # (z,) relative height of each crop slice, 0 = lowest, 1 = highest
    centre_yx: np.ndarray  # (z, 2) in-plane centre of the region on each slice (pixels)
    half_yx: np.ndarray  # (z, 2) in-plane half extents (pixels), >= 1
    region_centre_y: float  # the region's overall AP centre (pixels)
    midline_x: float  # pixels
    ventricle_volume_ml: float  # CSF of the ventricles found
    ventricular_space: np.ndarray  # bool (z, y, x): ventricles, their envelope and mirror
    orientation: Orientation

    @property
    def ventricles_found(self) -> bool:
        return self.ventricle_volume_ml > 0.0


def build_frame(
    inside: np.ndarray,
    smoothed: np.ndarray,
    spacing_mm: tuple[float, float, float],
    orientation: Orientation,
) -> HeadFrame:
    """Head geometry and ventricles, computed on a ~``FRAME_MM`` in-plane grid for speed."""
    f = max(1, int(round(FRAME_MM / min(spacing_mm[1:]))))
    inside_c = _morph.block_mean(inside.astype(np.float32), 1, f) >= 0.5
    smoothed_c = _morph.block_mean(smoothed, 1, f)
    spacing_c = (spacing_mm[0], spacing_mm[1] * f, spacing_mm[2] * f)
    nz = inside_c.shape[0]
    area = inside_c.reshape(nz, -1).sum(axis=1).astype(float)
    z_idx = np.arange(nz, dtype=float)
    solid = np.flatnonzero(area >= 0.1 * area.max()) if area.max() > 0 else np.arange(nz)
    lo, hi = float(solid[0]), float(solid[-1])
    height = np.clip((z_idx - lo) / max(hi - lo, 1.0), 0.0, 1.0)
    if orientation.superior < 0:
        height = 1.0 - height
    centre = np.zeros((nz, 2))
    half = np.ones((nz, 2))
    for k in range(nz):
        if area[k] == 0:
            continue
        ys = np.flatnonzero(inside_c[k].any(axis=1))
        xs = np.flatnonzero(inside_c[k].any(axis=0))
        centre[k] = ((ys[0] + ys[-1]) / 2.0, (xs[0] + xs[-1]) / 2.0)
        half[k] = (max(1.0, (ys[-1] - ys[0]) / 2.0), max(1.0, (xs[-1] - xs[0]) / 2.0))
    weights = area / area.sum()
    region_centre_y = float((centre[:, 0] * weights).sum())
    midline_x = float((centre[:, 1] * weights).sum())

    radius = _elliptic_radius(inside_c.shape, centre, half)
    central = (radius < CENTRAL_RADIUS) & (
        (height >= CENTRAL_HEIGHT[0]) & (height <= CENTRAL_HEIGHT[1])
    )[:, None, None]
    csf = inside_c & (smoothed_c >= CSF_MIN_HU) & (smoothed_c <= CSF_MAX_HU)
    ventricles = _central_components(csf, central, spacing_c)
    space_c = _ventricular_space(ventricles, midline_x, spacing_c) & inside_c
    space = _morph.upsample(space_c, 1, f, inside.shape) & inside
    ventricle_ml = float(np.count_nonzero(ventricles)) * float(np.prod(spacing_c)) / 1000.0
    log.debug("ventricles %.1f ml", ventricle_ml)
    # Back to the crop's pixel units (block k covers pixels k*f .. k*f + f - 1).
    centre = centre * f + (f - 1) / 2.0
    half = half * f
    return HeadFrame(
        height,
        centre,
        half,
        region_centre_y * f + (f - 1) / 2.0,
        midline_x * f + (f - 1) / 2.0,
        ventricle_ml,
        space,
        orientation,
    )


def _elliptic_radius(shape, centre: np.ndarray, half: np.ndarray) -> np.ndarray:
    _, ny, nx = shape
    yy = np.arange(ny, dtype=np.float32)[None, :, None]
    xx = np.arange(nx, dtype=np.float32)[None, None, :]
    cy, cx = centre[:, 0, None, None], centre[:, 1, None, None]
    hy, hx = half[:, 0, None, None], half[:, 1, None, None]
    return np.sqrt(((yy - cy) / hy) ** 2 + ((xx - cx) / hx) ** 2).astype(np.float32)


def _central_components(csf: np.ndarray, central: np.ndarray, spacing_mm) -> np.ndarray:
    labels, n = ndi.label(csf)
    if n == 0:
        return np.zeros_like(csf)
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    sizes = np.bincount(labels.ravel(), minlength=n + 1).astype(float)
    in_centre = np.bincount(labels.ravel(), weights=central.ravel(), minlength=n + 1)
    ok = (sizes * voxel_ml >= MIN_VENTRICLE_ML) & (in_centre >= VENTRICLE_CENTRAL_FRACTION * sizes)
    ok[0] = False
    return ok[labels]


def _ventricular_space(ventricles: np.ndarray, midline_x: float, spacing_mm) -> np.ndarray:
    if not ventricles.any():
        return ventricles.copy()
    closed = ndi.binary_closing(
        ventricles, structure=_morph.disk(ENVELOPE_CLOSING_MM, spacing_mm[1:]), border_value=0
    )
    space = _morph.fill_holes_per_slice(closed | ventricles)
    nx = space.shape[2]
    mirror_idx = np.clip(np.round(2.0 * midline_x - np.arange(nx)).astype(int), 0, nx - 1)
    space = space | space[:, :, mirror_idx]
    return _morph.dilate(space, _morph.disk(ENVELOPE_MARGIN_MM, spacing_mm[1:]))


def split_ivh(
    blood: np.ndarray, labels: np.ndarray, frame: HeadFrame
) -> tuple[np.ndarray, np.ndarray]:
    """(parenchymal, intraventricular) blood masks on the crop."""
    if not frame.ventricles_found or not blood.any():
        return blood, np.zeros_like(blood)
    in_space = blood & frame.ventricular_space
    if not in_space.any():
        return blood, np.zeros_like(blood)
    blood_labels = labels[blood]
    n = int(blood_labels.max())
    sizes = np.bincount(blood_labels, minlength=n + 1).astype(float)
    inside = np.bincount(labels[in_space], minlength=n + 1).astype(float)
    whole = inside >= IVH_WHOLE_FRACTION * np.maximum(sizes, 1.0)
    whole[0] = False
    ivh = in_space | whole[labels]
    return blood & ~ivh, ivh


def classify_site(
    mask: np.ndarray, frame: HeadFrame, offset_zyx: tuple[int, int, int] = (0, 0, 0)
) -> tuple[str, str]:
    """(site, description) of a hematoma mask lying at ``offset_zyx`` in the frame's crop.

    ``site`` is one of ichmodel.measure.SITES, or "unknown" for a non-axial series.
    """
    if not mask.any():
        return "none", "no hematoma"
    if not frame.orientation.axial:
        return "unknown", "location not judged: the series is not axial"
    zc, yc, xc = (c + o for c, o in zip(ndi.center_of_mass(mask), offset_zyx, strict=True))
    k = int(round(zc))
    h = float(np.interp(zc, np.arange(len(frame.height)), frame.height))
    cy, cx = frame.centre_yx[k]
    hy, hx = frame.half_yx[k]
    radius = float(np.hypot((yc - cy) / hy, (xc - cx) / hx))
    posterior = (yc - frame.region_centre_y) * frame.orientation.posterior > 0
    lateral = (xc - frame.midline_x) * frame.orientation.left
    side = (
        "midline" if abs(xc - frame.midline_x) < 0.1 * hx else ("left" if lateral > 0 else "right")
    )
    if h < TENTORIUM_HEIGHT and posterior:
        site, words = "infratentorial", "infratentorial (posterior fossa)"
    elif radius < DEEP_RADIUS:
        site, words = "deep", "supratentorial, deep (basal ganglia / thalamus)"
    else:
        site, words = "lobar", "supratentorial, lobar"
    log.debug("site %s: height %.2f radius %.2f side %s", site, h, radius, side)
    return site, f"{side} {words}" if side != "midline" else f"midline {words}"
