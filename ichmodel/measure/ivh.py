"""Intraventricular blood (IVH): best effort, from image geometry alone.

* Ventricles = CSF-range (smoothed HU in [``CSF_MIN_HU``, ``CSF_MAX_HU``]) connected regions
  of at least ``MIN_VENTRICLE_ML`` lying mostly in the central part of the brain (sulci and
  cisterns are CSF too, but peripheral). Their in-plane envelope (closed by
  ``ENVELOPE_CLOSING_MM``, holes filled, ``ENVELOPE_MARGIN_MM`` margin) is the ventricular
  space: blood inside it is IVH (blood layering in a ventricle next to its CSF), and a blood
  region lying mostly inside it is IVH as a whole.
* A ventricle cast entirely with blood has no CSF left to find. The ventricles are paired
  across the midline, so a central blood region whose mirror image (across the head's own
  midline, which follows a head turned in the scanner) falls mostly on blood in or against
  the other ventricle, or on a small (< ``SMALL_CAST_ML``) blood region (both horns cast;
  ``MIRROR_FRACTION``; a larger parenchymal bleed on the other side never counts, so a
  second hematoma cannot change the first's measurement), or almost entirely on
  ventricular CSF or blood (``MIRROR_CSF_FRACTION``) is IVH too. A deep hematoma mirrors
  onto brain; one beside a ventricle that mirrors onto the other ventricle still has its
  own ventricle's CSF next to it (displaced, not cast), which vetoes the CSF match.
* Less than ``MIN_IVH_ML`` in all is not called IVH: partial volume at a ventricle wall.

Known gaps: a midline cast (third ventricle) with no CSF around is counted as parenchymal;
bilateral symmetric parenchymal bleeds would be called IVH.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ichmodel.measure import _morph
from ichmodel.measure.location import FRAME_MM, HeadFrame

log = logging.getLogger(__name__)

CSF_MIN_HU = -10.0
CSF_MAX_HU = 15.0
MIN_VENTRICLE_ML = 0.3
#: A CSF region is ventricular when this fraction of it lies in the central zone.
VENTRICLE_CENTRAL_FRACTION = 0.6
#: Central zone: elliptic radius below this, relative height within these bounds.
CENTRAL_RADIUS = 0.6
CENTRAL_HEIGHT = (0.2, 0.85)
#: Closing radius (mm) that merges a ventricle's CSF with blood layering inside it.
ENVELOPE_CLOSING_MM = 3.0
#: Partial-volume margin (mm) around the ventricular space.
ENVELOPE_MARGIN_MM = 1.0
#: A blood region with at least this fraction inside the ventricular space is IVH entirely.
IVH_WHOLE_FRACTION = 0.5
#: Mirror test: tolerance (mm) for an imperfect midline, and the fraction that must match.
MIRROR_TOLERANCE_MM = 2.5
MIRROR_FRACTION = 0.5
#: A mirror image landing on CSF must match better: a deep hematoma that squeezed its own
#: ventricle flat sits where that ventricle was and mirrors half onto the other one.
MIRROR_CSF_FRACTION = 0.8
#: The blood's own ventricle counts as present when the CSF within this reach (mm) of the
#: blood is at least this fraction of the CSF within the same reach of its mirror image.
OWN_VENTRICLE_REACH_MM = 5.0
OWN_VENTRICLE_FRACTION = 0.5
#: Only blood regions centred within this elliptic radius are tested by mirror (ventricles
#: are central; a lobar bleed is not intraventricular).
MIRROR_MAX_RADIUS = 0.7
#: A blood region with this fraction of its voxels on ventricular CSF (with the mirror
#: tolerance) may stand for a cast horn in the other's mirror test.
VENTRICLE_CONTACT_FRACTION = 0.1
#: ... or is smaller than this (ml): layering blood can fill an occipital horn's tip and
#: leave no CSF beside it.
SMALL_CAST_ML = 3.0
#: Less intraventricular blood than this (ml) is not called IVH.
MIN_IVH_ML = 0.3


@dataclass(frozen=True, eq=False)
class Ventricles:
    """Ventricular CSF found on the crop, as bool (z, y, x) masks on the crop grid."""

    volume_ml: float
    space: np.ndarray  # envelope of the ventricles: blood in here is IVH
    target: np.ndarray  # ventricular CSF with a tolerance, for the mirror test
    csf: np.ndarray  # the ventricular CSF itself

    @property
    def found(self) -> bool:
        return self.volume_ml > 0.0


def find_ventricles(inside: np.ndarray, smoothed: np.ndarray, frame: HeadFrame) -> Ventricles:
    """Ventricles of the intracranial crop (HU-range independent: done once per volume)."""
    spacing = frame.spacing_mm
    f = max(1, int(round(FRAME_MM / min(spacing[1:]))))
    inside_c = _morph.block_mean(inside.astype(np.float32), 1, f) >= 0.5
    smoothed_c = _morph.block_mean(smoothed, 1, f)
    spacing_c = (spacing[0], spacing[1] * f, spacing[2] * f)
    radius = frame.elliptic_radius(inside_c.shape, f)
    band = (frame.height >= CENTRAL_HEIGHT[0]) & (frame.height <= CENTRAL_HEIGHT[1])
    central = (radius < CENTRAL_RADIUS) & band[:, None, None]
    csf = inside_c & (smoothed_c >= CSF_MIN_HU) & (smoothed_c <= CSF_MAX_HU)
    ventricles = _central_components(csf, central, spacing_c)
    voxel_ml_c = float(np.prod(spacing_c)) / 1000.0
    volume_ml = float(np.count_nonzero(ventricles)) * voxel_ml_c
    if not ventricles.any():
        empty = np.zeros_like(inside)
        return Ventricles(0.0, empty, empty, empty)
    closed = ndi.binary_closing(
        ventricles, structure=_morph.disk(ENVELOPE_CLOSING_MM, spacing_c[1:]), border_value=0
    )
    space_c = _morph.fill_holes_per_slice(closed | ventricles)
    space_c = _morph.dilate(space_c, _morph.disk(ENVELOPE_MARGIN_MM, spacing_c[1:])) & inside_c
    target_c = _morph.dilate(ventricles, _morph.disk(MIRROR_TOLERANCE_MM, spacing_c[1:]))
    log.debug("ventricles %.1f ml", volume_ml)
    return Ventricles(
        volume_ml=volume_ml,
        space=_morph.upsample(space_c, 1, f, inside.shape) & inside,
        target=_morph.upsample(target_c | space_c, 1, f, inside.shape),
        csf=_morph.upsample(ventricles, 1, f, inside.shape) & inside,
    )


def _central_components(csf: np.ndarray, central: np.ndarray, spacing_mm) -> np.ndarray:
    labels, n = ndi.label(csf)
    if n == 0:
        return np.zeros_like(csf)
    voxel_ml = float(np.prod(spacing_mm)) / 1000.0
    sizes = np.bincount(labels.ravel(), minlength=n + 1).astype(float)
    in_centre = np.bincount(labels[central], minlength=n + 1).astype(float)
    ok = (sizes * voxel_ml >= MIN_VENTRICLE_ML) & (in_centre >= VENTRICLE_CENTRAL_FRACTION * sizes)
    ok[0] = False
    return ok[labels]


def layering_ivh(rejected: np.ndarray, ventricles: Ventricles, frame: HeadFrame) -> np.ndarray:
    """Thin intraventricular blood no hematoma core found: blood-range regions (``rejected``
    candidates, bool) touching ventricular CSF. Layering blood in an occipital horn is a few
    millimetres thick (no 3 mm core) and lies against the CSF above it; bone partial volume
    and dura never touch the ventricles, and the CSF-brain wall (5-30 HU) is never in the
    blood range."""
    if not ventricles.found or not rejected.any():
        return np.zeros_like(rejected)
    band = (frame.height >= CENTRAL_HEIGHT[0]) & (frame.height <= CENTRAL_HEIGHT[1])
    central = (frame.elliptic_radius(rejected.shape) < CENTRAL_RADIUS) & band[:, None, None]
    rejected = rejected & central
    labels, n = _morph.label_in_box(rejected)
    if n == 0:
        return np.zeros_like(rejected)
    touching = np.zeros(n + 1, dtype=bool)
    touching[np.unique(labels[ventricles.target & rejected])] = True
    touching[0] = False
    return touching[labels]


def split_ivh(
    blood: np.ndarray,
    labels: np.ndarray,
    frame: HeadFrame,
    ventricles: Ventricles,
    voxel_ml: float,
    min_region_ml: float = 0.1,
) -> tuple[np.ndarray, np.ndarray]:
    """(parenchymal, intraventricular) blood masks on the crop; see the module doc."""
    none = np.zeros_like(blood)
    if not ventricles.found or not blood.any():
        return blood, none
    blood_labels = labels[blood]
    n = int(blood_labels.max())
    sizes = np.bincount(blood_labels, minlength=n + 1).astype(float)
    in_space = blood & ventricles.space
    inside = np.bincount(labels[in_space], minlength=n + 1).astype(float)
    whole = inside >= IVH_WHOLE_FRACTION * np.maximum(sizes, 1.0)
    whole[0] = False
    mirrored, partial = _mirror_matches(labels, sizes, whole, frame, ventricles, voxel_ml)
    ivh = in_space | (whole | mirrored)[labels] | partial
    if float(np.count_nonzero(ivh)) * voxel_ml < MIN_IVH_ML:
        return blood, none
    parenchymal = blood & ~ivh
    # Crumbs of a split region (smaller than a hematoma we would report) that touch the
    # intraventricular part belong with it.
    crumbs, n_crumbs = _morph.label_in_box(parenchymal)
    if n_crumbs > 1:
        crumb_sizes = np.bincount(crumbs.ravel(), minlength=n_crumbs + 1)
        touching = np.zeros(n_crumbs + 1, dtype=bool)
        touching[np.unique(crumbs[_morph.dilate(ivh, _morph.IN_PLANE) & parenchymal])] = True
        small = crumb_sizes * voxel_ml < min_region_ml
        move = small & touching
        move[0] = False
        ivh = ivh | move[crumbs]
        parenchymal = blood & ~ivh
    return parenchymal, ivh


def _own_ventricle_present(
    zyx: np.ndarray, mirrored_yx: np.ndarray, csf: np.ndarray, spacing_yx
) -> bool:
    """Is there about as much ventricular CSF next to the blood as next to its mirror image?

    Then the ventricle on the blood's side is still there (displaced by a hematoma beside it,
    not cast with blood), and the mirror falling on the other side's CSF proves nothing.
    """
    ry = int(round(OWN_VENTRICLE_REACH_MM / spacing_yx[0]))
    rx = int(round(OWN_VENTRICLE_REACH_MM / spacing_yx[1]))
    nz, ny, nx = csf.shape
    z0, z1 = int(zyx[:, 0].min()), int(zyx[:, 0].max()) + 1

    def count(ys: np.ndarray, xs: np.ndarray) -> int:
        y0, y1 = max(0, int(ys.min()) - ry), min(ny, int(ys.max()) + ry + 1)
        x0, x1 = max(0, int(xs.min()) - rx), min(nx, int(xs.max()) + rx + 1)
        if y0 >= y1 or x0 >= x1:
            return 0
        return int(np.count_nonzero(csf[z0:z1, y0:y1, x0:x1]))

    own = count(zyx[:, 1], zyx[:, 2])
    other = count(mirrored_yx[:, 0], mirrored_yx[:, 1])
    return own >= OWN_VENTRICLE_FRACTION * max(other, 1)


def _mirror_matches(
    labels: np.ndarray,
    sizes: np.ndarray,
    already: np.ndarray,
    frame: HeadFrame,
    ventricles: Ventricles,
    voxel_ml: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror test. Returns (per label: IVH as a whole, bool mask of further IVH voxels).

    Pass 1: a label whose mirror image falls mostly on ventricles or other blood is IVH.
    Pass 2: in the other labels, voxels whose mirror falls on an IVH label are IVH too (a
    hematoma that broke into one horn while the other horn is cast as well). Voxels whose
    mirror falls on CSF are *not* taken here: a large deep hematoma compresses its own
    ventricle and mirrors onto the other one (tried: 10 ml false IVH per such case).
    """
    n = len(sizes) - 1
    whole = np.zeros(n + 1, dtype=bool)
    partial = np.zeros(labels.shape, dtype=bool)
    if not frame.orientation.axial:
        return whole, partial
    nz, ny, nx = labels.shape
    sy, sx = frame.spacing_mm[1:]
    candidates = [i for i in np.argsort(-sizes[1:])[:10] + 1 if not already[i] and sizes[i] > 0]
    if not candidates:
        return whole, partial
    objects = ndi.find_objects(labels)
    tol = _morph.disk(MIRROR_TOLERANCE_MM, (sy, sx))
    box_all = _morph.bbox(labels > 0, pad=(0, tol.shape[1] // 2, tol.shape[2] // 2))
    assert box_all is not None
    origin = np.array([b.start for b in box_all])
    blood_tol = ndi.grey_dilation(labels[box_all], footprint=tol) if n > 1 else labels[box_all]
    tested: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    touching = np.bincount(labels[ventricles.target], minlength=n + 1)
    ventricular = already | (touching >= VENTRICLE_CONTACT_FRACTION * np.maximum(sizes, 1))
    ventricular |= sizes * voxel_ml < SMALL_CAST_ML  # a horn's tip filled with layering blood
    ventricular[0] = False
    for i in candidates:
        box = objects[i - 1]
        if box is None:
            continue
        zyx = np.argwhere(labels[box] == i) + np.array([b.start for b in box])
        zc, yc, xc = zyx.mean(axis=0)
        k = int(round(zc))
        cy, cx = frame.centre_yx[k]
        hy, hx = frame.half_yx[k]
        if np.hypot((yc - cy) / hy, (xc - cx) / hx) >= MIRROR_MAX_RADIUS:
            continue
        m = np.rint(frame.mirror_yx(zyx)).astype(int)
        z, y, x = zyx[:, 0], np.clip(m[:, 0], 0, ny - 1), np.clip(m[:, 1], 0, nx - 1)
        on_csf = ventricles.target[z, y, x]
        if on_csf.any() and _own_ventricle_present(zyx, m, ventricles.csf, (sy, sx)):
            on_csf[:] = False
        bz, by, bx = z - origin[0], y - origin[1], x - origin[2]
        inb = (by >= 0) & (by < blood_tol.shape[1]) & (bx >= 0) & (bx < blood_tol.shape[2])
        other = np.zeros(len(z), dtype=labels.dtype)
        other[inb] = blood_tol[bz[inb], by[inb], bx[inb]]
        other[other == i] = 0
        # only blood in or against a ventricle counts as a cast horn to mirror onto: a
        # parenchymal bleed on the other side must not change this one's measurement
        on_blood = ventricular[other] & (other > 0)
        blood_fraction = float(np.count_nonzero(on_blood)) / max(1, len(zyx))
        fraction = float(np.count_nonzero(on_csf | on_blood)) / max(1, len(zyx))
        log.debug(
            "blood region %d: mirror on blood %.2f, on blood or CSF %.2f",
            i,
            blood_fraction,
            fraction,
        )
        whole[i] = blood_fraction >= MIRROR_FRACTION or fraction >= MIRROR_CSF_FRACTION
        tested[i] = (zyx, other)
    is_ivh = whole | already
    for i, (zyx, other) in tested.items():
        if whole[i]:
            continue
        hit = is_ivh[other]
        if hit.any():
            partial[zyx[hit, 0], zyx[hit, 1], zyx[hit, 2]] = True
    return whole, partial
