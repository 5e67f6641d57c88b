"""Partial-volume edges: put each bleed's boundary at the local midpoint between its blood
and the tissue around it.

A voxel on a bleed's edge is part blood, part surrounding tissue; it holds more than half
blood exactly when its HU exceeds the midpoint of the two (the same reason ``hu_min`` defaults
to 50 HU, the midpoint of 30 HU brain and 70 HU clot). A fixed threshold is right only for
that pair: a 60 HU bleed in 20 HU edema has its midpoint at 40 HU, so thresholding at 50 HU
shaves a ring off every slice (measured on phantoms: about -4 % of the volume); a dense 85 HU
clot in 35 HU cortex has it at 60 HU and grows a ring. So, per bleed:

* blood level = median smoothed HU of its core (the bleed eroded by one voxel);
* tissue level = median smoothed HU of a shell ``SHELL_MM`` outside it (intracranial, not
  blood, not calcification);
* local threshold = their midpoint, kept within ``hu_min`` +/- ``MAX_SHIFT_HU`` so the
  user's HU range stays in charge;
* the edge is re-thresholded at the local threshold within ``GROW_MM`` in-plane and one
  slice above and below (thick slices' partial-volume ends), keeping what stays connected.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ichmodel.measure import _morph
from ichmodel.measure.types import MeasureParams

log = logging.getLogger(__name__)

MAX_SHIFT_HU = 10.0
SHELL_MM = (1.5, 4.0)
GROW_MM = 1.5
#: Only the largest bleeds are refined (each costs a few ms); the rest keep the plain edge.
MAX_BLEEDS = 20
#: Too few voxels to estimate a level robustly: leave the edge alone.
MIN_LEVEL_VOXELS = 20

_CROSS_3D = ndi.generate_binary_structure(3, 1)


@dataclass(frozen=True)
class Levels:
    """One bleed's own HU levels (smoothed): its blood, the tissue around it, the edge."""

    blood_hu: float
    tissue_hu: float
    edge_hu: float
    #: Fraction of the shell around the bleed that is measurable intracranial tissue (not
    #: bone, its rim, or outside the head): a hematoma lies in the brain, so near 1.
    tissue_shell_fraction: float = 1.0
    #: Fraction of that tissue shell that is itself in the blood range: a bleed is ringed
    #: by brain, a dural structure (tentorium, sinus) runs on through its surroundings.
    shell_blood_fraction: float = 0.0


def refine_edges(
    labels: np.ndarray,
    n: int,
    smoothed: np.ndarray,
    allowed: np.ndarray,
    spacing_mm: tuple[float, float, float],
    params: MeasureParams,
    near_skull: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[int, Levels]]:
    """Each bleed (label 1..n) with its edge at its local partial-volume midpoint, and its
    levels. Bleeds are refined one by one; a voxel another bleed holds stays that bleed's.

    ``near_skull`` (bool): voxels next to bone, left out of the shell's blood-range fraction
    (bone partial volume is in the blood range there: a convexity bleed at the vertex, where
    the slices cut the skull obliquely, would otherwise look like a dural sheet)."""
    levels: dict[int, Levels] = {}
    if n == 0:
        return labels, levels
    sy, sx = spacing_mm[1:]
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    sizes[0] = 0
    objects = ndi.find_objects(labels, max_label=n)
    pad = (1, math.ceil(SHELL_MM[1] / sy) + 1, math.ceil(SHELL_MM[1] / sx) + 1)
    shell_in = _morph.disk(SHELL_MM[0], (sy, sx))
    shell_out = _morph.disk(SHELL_MM[1], (sy, sx))
    grow = _morph.disk(GROW_MM, (sy, sx))
    blood_any = labels > 0
    out = labels.copy()
    for i in np.argsort(-sizes)[:MAX_BLEEDS]:
        if sizes[i] == 0 or objects[i - 1] is None:
            break
        box = _pad(objects[i - 1], pad, labels.shape)
        comp = labels[box] == i
        s = smoothed[box]
        core = ndi.binary_erosion(comp, structure=_morph.IN_PLANE)
        if np.count_nonzero(core) < MIN_LEVEL_VOXELS:
            core = comp
        shell = _morph.dilate(comp, shell_out) & ~_morph.dilate(comp, shell_in)
        n_shell = max(1, int(np.count_nonzero(shell)))
        shell &= allowed[box] & ~blood_any[box]
        enclosed = float(np.count_nonzero(shell)) / n_shell
        band = _morph.erode(comp, shell_in) & ~_morph.erode(comp, shell_out)
        if np.count_nonzero(band) < MIN_LEVEL_VOXELS:
            band = core
        blood_level = float(np.median(s[band]))
        if np.count_nonzero(shell) < MIN_LEVEL_VOXELS:
            levels[int(i)] = Levels(
                blood_level, params.hu_min * 2 - blood_level, params.hu_min, enclosed
            )
            continue
        tissue_level = float(np.median(s[shell]))
        away = shell if near_skull is None else shell & ~near_skull[box]
        in_range = float(np.count_nonzero(s[away] >= params.hu_min)) / max(1, int(away.sum()))
        local = 0.5 * (blood_level + tissue_level)
        t = min(max(local, params.hu_min - MAX_SHIFT_HU), params.hu_min + MAX_SHIFT_HU)
        levels[int(i)] = Levels(blood_level, tissue_level, t, enclosed, in_range)
        log.debug(
            "bleed %d: blood %.1f HU, tissue %.1f HU, edge at %.1f HU",
            i,
            blood_level,
            tissue_level,
            t,
        )
        if not params.refine_edges:
            continue
        near = ndi.binary_dilation(_morph.dilate(comp, grow), structure=_CROSS_3D)
        region = out[box]
        free = (region == 0) | (region == i)
        new = near & allowed[box] & (s >= t) & (s <= params.hu_max) & free
        parts, n_parts = ndi.label(new)
        if n_parts == 0:
            continue
        touching = np.unique(parts[core & new])
        keep = np.zeros(n_parts + 1, dtype=bool)
        keep[touching] = True
        keep[0] = False
        grown = keep[parts]
        region[(region == i) & ~grown] = 0
        region[grown] = i
    return out, levels


def _pad(box: tuple[slice, ...], pad: tuple[int, ...], shape: tuple[int, ...]):
    return tuple(
        slice(max(0, b.start - p), min(n, b.stop + p))
        for b, p, n in zip(box, pad, shape, strict=True)
    )
