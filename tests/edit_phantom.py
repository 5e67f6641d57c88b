"""A phantom head for the segmentation-edit tests: a lobar bleed the automatic measurement
finds, plus a thin bleed (a 70 HU tube 4 mm across) it drops (no 3 mm core), for growing
from a seed. Built with the product's own phantom generator; the tube's true voxels are kept.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage as ndi

TUBE_HU = 70.0
TUBE_RADIUS_MM = 2.0
TUBE_SLICES = 5


@dataclass(frozen=True, eq=False)
class EditPhantom:
    volume: object  # ichmodel.volume.Volume
    tube_mask: np.ndarray  # bool (z, y, x): the thin bleed
    tube_seed_zyx: tuple[int, int, int]


@functools.lru_cache(maxsize=2)
def edit_phantom(size: int = 160, seed: int = 3) -> EditPhantom:
    from ichmodel.phantom import PhantomConfig, make_phantom

    config = PhantomConfig(size=size, slice_thickness_mm=5.0, site="lobar", volume_ml=15.0,
                           ivh=False)
    ph = make_phantom(seed, config)
    volume = ph.volume
    sz, sy, sx = volume.spacing_mm
    brain = ph.labels == 4
    # far from the skull, the ventricles and the bleed: a voxel deep in plain brain
    away = ndi.distance_transform_edt(brain, sampling=volume.spacing_mm)
    away = np.minimum(away, ndi.distance_transform_edt(~ph.hematoma_mask,
                                                       sampling=volume.spacing_mm))
    nz = volume.shape[0]
    away[: nz // 3] = 0
    away[-nz // 4:] = 0
    z, y, x = np.unravel_index(int(np.argmax(away)), away.shape)
    zz, yy, xx = np.ogrid[: volume.shape[0], : volume.shape[1], : volume.shape[2]]
    in_plane = ((yy - y) * sy) ** 2 + ((xx - x) * sx) ** 2 <= TUBE_RADIUS_MM**2
    along = np.abs(zz - z) <= TUBE_SLICES // 2
    tube = in_plane & along & brain
    hu = volume.hu.copy()
    hu[tube] = TUBE_HU + (hu[tube] - 35.0) * 0.3  # keep a little of the phantom's noise
    meta = replace(volume.meta, series_uid="1.2.826.0.1.3680043.2.1125.18.1")
    out = replace(volume.with_hu(hu), meta=meta)
    return EditPhantom(out, tube, (int(z), int(y), int(x)))
