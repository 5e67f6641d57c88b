"""Put the parts of a phantom together on the grid (before noise).

Order: normal head -> deep grey nuclei -> hematoma fraction (calcifications carved out) ->
ventricles (compressed where blood is) -> intraventricular blood -> edema -> hematoma ->
calcifications on top. Only the head is computed on the whole grid; every other part works on
its own box, so memory stays moderate at 512 x 512 with thin slices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ichmodel.phantom.anatomy import Anatomy, render_head
from ichmodel.phantom.geometry import Grid, HeadFrame, ellipsoid_boxes, overlap, union_fraction
from ichmodel.phantom.hematoma import HematomaSpec, IVHSpec, render_hematoma, render_ivh

LABEL_VENTRICLE, LABEL_CALCIFICATION, LABEL_HEMATOMA, LABEL_IVH = 5, 6, 7, 8
CALC_SUBPLANE_MM = 0.7


@dataclass(frozen=True, eq=False)
class Composite:
    """Noise-free HU and the ground-truth arrays, all (z, y, x) on the grid."""

    hu: np.ndarray  # float32
    labels: np.ndarray  # uint8
    hematoma_fraction: np.ndarray  # float32
    ivh_mask: np.ndarray  # bool
    ivh_volume_ml: float
    calcification_mask: np.ndarray  # bool
    intracranial_mask: np.ndarray  # bool


def compose(
    grid: Grid,
    frame: HeadFrame,
    anatomy: Anatomy,
    spec: HematomaSpec | None,
    ivh_spec: IVHSpec | None,
    rng_texture: np.random.Generator,
) -> Composite:
    head = render_head(grid, frame, anatomy, rng_texture)
    hu, labels, brain = head.hu, head.labels, head.brain

    for ix, frac in ellipsoid_boxes(grid, frame, anatomy.nuclei):
        hu[ix] += frac * brain[ix] * (np.float32(anatomy.hu_deep_gm) - hu[ix])

    # calcifications are solid: blood and CSF never take their place
    n_sub = max(1, math.ceil(grid.spacing_mm[0] / CALC_SUBPLANE_MM))
    calcs = ellipsoid_boxes(grid, frame, anatomy.calcifications, n_sub)
    f_hem = np.zeros(grid.shape, dtype=np.float32)
    bleed = render_hematoma(grid, frame, anatomy, spec) if spec is not None else None
    if bleed is not None:
        f_hem[bleed.index] = bleed.fraction
        for ix, frac in calcs:
            f_hem[ix] *= 1 - frac

    ivh_mask = np.zeros(grid.shape, dtype=bool)
    ivh_ml = 0.0
    vent = union_fraction(ellipsoid_boxes(grid, frame, anatomy.ventricles))
    if vent is not None:
        vix, f_vent = vent
        f_vent *= 1 - f_hem[vix]  # a bleed compresses the ventricle it grows into
        region = hu[vix]
        region += f_vent * (np.float32(anatomy.hu_csf) - region)
        labels[vix][f_vent >= 0.5] = LABEL_VENTRICLE
        if ivh_spec is not None:
            _, f_ivh = union_fraction(render_ivh(grid, frame, anatomy, ivh_spec), outer=vix)
            np.minimum(f_ivh, f_vent, out=f_ivh)
            for ix, frac in calcs:
                ov = overlap(vix, ix)
                if ov is not None:
                    f_ivh[ov[0]] *= 1 - frac[ov[1]]
            region += f_ivh * np.float32(ivh_spec.blood_hu - anatomy.hu_csf)
            ivh_mask[vix] = f_ivh >= 0.5
            labels[vix][ivh_mask[vix]] = LABEL_IVH
            ivh_ml = float(f_ivh.sum(dtype=np.float64)) * grid.voxel_volume_ml

    if bleed is not None and spec is not None:
        bix, f = bleed.index, f_hem[bleed.index]
        region = hu[bix]
        region -= bleed.edema * brain[bix] * np.float32(spec.edema_drop_hu)
        region *= 1 - f
        region += f * bleed.blood_hu
        labels[bix][f >= 0.5] = LABEL_HEMATOMA

    calc_mask = np.zeros(grid.shape, dtype=bool)
    for (ix, frac), calc_hu in zip(calcs, anatomy.calcification_hu, strict=True):
        hu[ix] += frac * (np.float32(calc_hu) - hu[ix])
        calc_mask[ix] |= frac >= 0.5
    labels[calc_mask] = LABEL_CALCIFICATION
    return Composite(
        hu=hu,
        labels=labels,
        hematoma_fraction=f_hem,
        ivh_mask=ivh_mask,
        ivh_volume_ml=ivh_ml,
        calcification_mask=calc_mask,
        intracranial_mask=head.intracranial,
    )
