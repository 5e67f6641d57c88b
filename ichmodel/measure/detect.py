"""Which blood-range voxels are hematomas: thick cores away from bone, grown back to the edge.

Real heads hold plenty of blood-range voxels that are not blood: partial volume of bone
along the vault and the skull base (petrous ridges, clinoids, dorsum sellae), beam-hardening
streaks between the petrous bones, the falx and tentorium, the dural venous sinuses (40-70
HU, against the inner table). They share two traits a parenchymal hematoma lacks: they are
*thin* (a streak, a dural sheet, a 3-4 mm sinus) or they *hug the bone*. So a hematoma is
found by its **core**: blood-range voxels at least ``core_radius_mm`` deep inside the
blood-range region (a ball of that radius fits) and more than ``skull_contact_mm`` from
bone. Every hematoma >= 1 ml (a 6 mm sphere) has one; a sinus or a streak has none.

Each core is grown back to the hematoma's edge within ``core_radius_mm + REACH_MARGIN_MM``
(what a ball of the core radius rolling inside the bleed covers), so blood-range partial
volume that merely touches a bleed through a chain of voxels (the skull rim, a neighbouring
bleed) is not annexed; voxels reached by two cores go to the nearer. Work is done on a grid
of about 1 mm in-plane (speed), the result intersected with the full-resolution candidates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ichmodel.measure import _morph
from ichmodel.volume import voxel_volume_ml

#: Beyond the core radius, how far (mm) a core's region reaches (partial-volume edge, the
#: coarse grid's blockiness); the edge refinement then adds its own 1.5 mm.
REACH_MARGIN_MM = 3.0
#: Target in-plane spacing (mm) of the detection grid.
DETECT_YX_MM = 1.0


@dataclass(frozen=True, eq=False)
class Cores:
    """Hematoma candidates on the crop: labels 1..n (0 = none), each grown from one core."""

    labels: np.ndarray  # int32 (z, y, x) on the crop
    n: int
    rejected: np.ndarray  # bool: blood-range candidates that belong to no core


def find_cores(
    candidates: np.ndarray,
    seeds: np.ndarray,
    near_skull: np.ndarray,
    spacing_mm: tuple[float, float, float],
    core_radius_mm: float,
    min_core_ml: float,
) -> Cores:
    """Label hematomas among ``candidates`` (bool, crop grid) by their cores (module doc).

    ``seeds`` (bool) marks clearly-blood voxels (hysteresis): a core without one is dropped.
    """
    sz, sy, sx = spacing_mm
    f = max(1, int(round(DETECT_YX_MM / min(sy, sx))))
    cand_c = _morph.block_mean(candidates.astype(np.float32), 1, f) >= 0.5
    near_c = _morph.block_mean(near_skull.astype(np.float32), 1, f) >= 0.5
    seeds_c = _morph.block_any(seeds, 1, f)
    spacing_c = (sz, sy * f, sx * f)
    empty = Cores(np.zeros(candidates.shape, dtype=np.int32), 0, candidates.copy())
    if not cand_c.any():
        return empty
    box = _morph.bbox(cand_c, pad=(1, 2, 2))
    assert box is not None
    depth = ndi.distance_transform_edt(cand_c[box], sampling=spacing_c)
    core = (depth > core_radius_mm) & ~near_c[box]
    labels_c, n = ndi.label(core)
    if n == 0:
        return empty
    voxel_ml_c = voxel_volume_ml(spacing_c)
    sizes = np.bincount(labels_c.ravel(), minlength=n + 1)
    seeded = np.bincount(labels_c[seeds_c[box]], minlength=n + 1) > 0
    ok = (sizes * voxel_ml_c >= min_core_ml) & seeded
    ok[0] = False
    if not ok.any():
        return empty
    relabel = np.zeros(n + 1, dtype=np.int32)
    relabel[ok] = np.arange(1, int(ok.sum()) + 1)
    labels_c = relabel[labels_c]
    n = int(ok.sum())
    # each candidate voxel within reach of a core joins the nearest core
    dist, nearest = ndi.distance_transform_edt(
        labels_c == 0, sampling=spacing_c, return_indices=True
    )
    owner = labels_c[tuple(nearest)]
    reach = math.hypot(core_radius_mm + REACH_MARGIN_MM, 0.0) + 0.75 * max(spacing_c[1:])
    owner = np.where(dist <= reach, owner, 0).astype(np.int32)
    full_c = np.zeros(cand_c.shape, dtype=np.int32)
    full_c[box] = owner
    owner_fine = _morph.upsample(full_c, 1, f, candidates.shape) if f > 1 else full_c
    labels = np.where(candidates, owner_fine, 0).astype(np.int32)
    return Cores(labels=labels, n=n, rejected=candidates & (labels == 0))
