"""Partial-volume (fractional) hematoma volume: what a voxel count misses at the edges.

A voxel on a bleed's edge is part blood, part tissue; its HU lies between the bleed's own
blood level B and the tissue level T around it (both measured per bleed, see
:mod:`.edges`), so it holds the fraction ``(HU - T) / (B - T)`` of blood. A threshold count
takes the voxels over half blood as 1 and the rest as 0; on 5 mm slices the caps of a bleed
fall mostly in the "rest", and the count runs 5-8 % low. Here:

* interior voxels of the bleed's mask (all 6 neighbours in the mask) count 1;
* its edge voxels, and a ring ``RING_MM`` in-plane and one slice above and below outside it
  (intracranial, not another bleed, not calcification), count ``clip((HU - T)/(B - T), 0, 1)``
  on the lightly smoothed HU (noise would otherwise bias the clipped ring upwards).

The threshold count stays beside it (:attr:`ichmodel.measure.Hematoma.threshold_volume_ml`):
it is what a 3D Slicer threshold segmentation gives, the seed paper's reference.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from ichmodel.measure import _morph
from ichmodel.measure.edges import Levels
from ichmodel.volume import voxel_volume_ml

RING_MM = 2.0
#: Below this blood-tissue contrast (HU) the fraction is too noisy: keep the count.
MIN_CONTRAST_HU = 12.0

_CROSS_3D = ndi.generate_binary_structure(3, 1)


def fractional_volumes_ml(
    labels: np.ndarray,
    ids: list[int],
    smoothed: np.ndarray,
    allowed: np.ndarray,
    levels: dict[int, Levels],
    spacing_mm: tuple[float, float, float],
) -> dict[int, float]:
    """Partial-volume volume (ml) of each bleed ``i`` in ``ids`` (``labels == i``)."""
    _, sy, sx = spacing_mm
    voxel_ml = voxel_volume_ml(spacing_mm)
    ring = _morph.disk(RING_MM, (sy, sx))
    pad = (1, math.ceil(RING_MM / sy) + 1, math.ceil(RING_MM / sx) + 1)
    objects = ndi.find_objects(labels)
    blood_any = labels > 0
    out: dict[int, float] = {}
    for i in ids:
        if i - 1 >= len(objects) or objects[i - 1] is None:
            out[i] = 0.0
            continue
        box = tuple(
            slice(max(0, b.start - p), min(n, b.stop + p))
            for b, p, n in zip(objects[i - 1], pad, labels.shape, strict=True)
        )
        comp = labels[box] == i
        count = int(np.count_nonzero(comp))
        lv = levels.get(i)
        if lv is None or lv.blood_hu - lv.tissue_hu < MIN_CONTRAST_HU:
            out[i] = count * voxel_ml
            continue
        interior = ndi.binary_erosion(comp, structure=_CROSS_3D, border_value=0)
        around = _morph.dilate(comp, ring)
        around = ndi.binary_dilation(around, structure=_CROSS_3D[:, 1:2, 1:2])  # +-1 slice
        around &= allowed[box] & ~blood_any[box]
        edge = comp & ~interior
        frac = (smoothed[box] - np.float32(lv.tissue_hu)) / np.float32(lv.blood_hu - lv.tissue_hu)
        np.clip(frac, 0.0, 1.0, out=frac)
        total = (
            float(np.count_nonzero(interior)) + float(frac[edge].sum()) + float(frac[around].sum())
        )
        out[i] = total * voxel_ml
    return out


#: A partial-volume voxel of a cast touches (in-plane, 8 neighbours) the ventricular CSF it
#: shares with the blood, or else the ventricle's wall (brain).
_IN_PLANE_8 = np.ones((1, 3, 3), dtype=bool)
#: Levels from fewer voxels than this are not trusted (see :data:`.edges.MIN_LEVEL_VOXELS`).
MIN_LEVEL_VOXELS = 20
#: Brain shell (mm, in-plane) around the cast for the wall's level, as :data:`.edges.SHELL_MM`.
IVH_SHELL_MM = (1.5, 4.0)


def fractional_ivh_ml(
    ivh: np.ndarray,
    smoothed: np.ndarray,
    allowed: np.ndarray,
    csf: np.ndarray,
    hematoma: np.ndarray,
    spacing_mm: tuple[float, float, float],
    painted: np.ndarray | None = None,
) -> float:
    """Partial-volume volume (ml) of the intraventricular blood ``ivh`` (bool).

    As :func:`fractional_volumes_ml`, but a cast's edge voxel mixes blood with one of two
    tissues: the ventricular CSF above a layering cast (``csf``, bool; its median level) or the
    brain of the ventricle's wall around a full one (the median of a shell outside the cast,
    not CSF, not blood). A voxel next to CSF takes the CSF level, any other the wall's. At the
    50 HU threshold a voxel half blood and half CSF (~37 HU) or half brain (~48 HU) is not
    counted at all, so the voxel count runs low on every cast. The ring leaves out the
    hematomas (``hematoma``, bool) and their own partial-volume ring. ``painted`` voxels (bool:
    blood a reader painted, whatever its HU) count whole and are left out of the rest."""
    voxel_ml = voxel_volume_ml(spacing_mm)
    whole_ml = 0.0
    if painted is not None and painted.any():
        whole_ml = float(np.count_nonzero(ivh & painted)) * voxel_ml
        ivh, hematoma = ivh & ~painted, hematoma | painted
    pad = (1,) + tuple(math.ceil(IVH_SHELL_MM[1] / s) + 1 for s in spacing_mm[1:])
    box = _morph.bbox(ivh, pad=pad)
    if box is None:
        return whole_ml
    return whole_ml + _fractional_ivh_in_box(
        ivh[box], smoothed[box], allowed[box], csf[box], hematoma[box], spacing_mm
    )


def _fractional_ivh_in_box(
    blood: np.ndarray,
    s: np.ndarray,
    allowed: np.ndarray,
    csf: np.ndarray,
    hematoma: np.ndarray,
    spacing_mm: tuple[float, float, float],
) -> float:
    voxel_ml = voxel_volume_ml(spacing_mm)
    sy, sx = spacing_mm[1:]
    count = int(np.count_nonzero(blood))
    core = ndi.binary_erosion(blood, structure=_morph.IN_PLANE)
    blood_hu = float(np.median(s[core if np.count_nonzero(core) >= MIN_LEVEL_VOXELS else blood]))
    ring = _morph.dilate(blood, _morph.disk(RING_MM, (sy, sx)))
    ring = ndi.binary_dilation(ring, structure=_CROSS_3D[:, 1:2, 1:2])  # +-1 slice
    others = _morph.dilate(hematoma, _morph.disk(RING_MM, (sy, sx)))
    ring &= allowed & ~blood & ~others
    fluid = csf & ~blood
    shell = _morph.dilate(blood, _morph.disk(IVH_SHELL_MM[1], (sy, sx)))
    shell &= ~_morph.dilate(blood, _morph.disk(IVH_SHELL_MM[0], (sy, sx)))
    shell &= allowed & ~fluid & ~others & (s < blood_hu)
    if np.count_nonzero(shell) < MIN_LEVEL_VOXELS:
        return count * voxel_ml
    wall_hu = float(np.median(s[shell]))
    near_fluid = ndi.binary_dilation(fluid, structure=_IN_PLANE_8)
    csf_hu = float(np.median(s[fluid])) if np.count_nonzero(fluid) >= MIN_LEVEL_VOXELS else wall_hu
    tissue = np.where(near_fluid, np.float32(csf_hu), np.float32(wall_hu))
    contrast = np.float32(blood_hu) - tissue
    if float(contrast.min()) < MIN_CONTRAST_HU:
        return count * voxel_ml
    frac = (s - tissue) / contrast
    np.clip(frac, 0.0, 1.0, out=frac)
    interior = ndi.binary_erosion(blood, structure=_CROSS_3D, border_value=0)
    edge = blood & ~interior
    total = float(np.count_nonzero(interior)) + float(frac[edge].sum()) + float(frac[ring].sum())
    return total * voxel_ml
