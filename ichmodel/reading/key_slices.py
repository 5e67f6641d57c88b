"""Which slices a reading's key images are: the largest hematoma slice and its neighbours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ichmodel.volume import Volume


@dataclass(frozen=True)
class KeySlice:
    """One slice the report shows: index (z), its position along the slice normal (mm) and the
    hematoma area on it (mm^2; 0 when no mask)."""

    index: int
    position_mm: float
    hematoma_area_mm2: float
    is_largest: bool = False

    @property
    def caption(self) -> str:
        text = f"slice {self.index + 1} · z {self.position_mm:.1f} mm"
        if self.hematoma_area_mm2 > 0:
            text += f" · {self.hematoma_area_mm2 / 100.0:.1f} cm²"
        if self.is_largest:
            text += " · largest"
        return text


def slice_position_mm(volume: Volume, index: int) -> float:
    """Position of slice ``index`` along the slice normal (mm), as the viewer shows it."""
    normal = volume.direction_matrix[:, 2]
    return float(np.dot(volume.index_to_physical((float(index), 0.0, 0.0)), normal))


def hematoma_area_per_slice_mm2(volume: Volume, mask: np.ndarray | None) -> np.ndarray:
    """Hematoma area on each axial slice, mm^2, shape (z,). Zeros without a mask."""
    if mask is None:
        return np.zeros(volume.shape[0], dtype=float)
    mask = np.asarray(mask)
    if mask.shape != volume.shape:
        raise ValueError(
            f"hematoma mask shape {mask.shape} differs from the volume's "
            f"{volume.shape}; measure this volume again"
        )
    _, sy, sx = volume.spacing_mm
    return mask.reshape(mask.shape[0], -1).sum(axis=1).astype(float) * sy * sx


def choose_key_slices(
    volume: Volume,
    mask: np.ndarray | None,
    cam: np.ndarray | None,
    *,
    largest_slice: int | None = None,
    ivh_mask: np.ndarray | None = None,
    n_neighbours: int = 1,
    neighbour_spacing_mm: float = 5.0,
) -> tuple[tuple[KeySlice, ...], str]:
    """The largest hematoma slice (``largest_slice``, see
    :func:`ichmodel.reading.rules.largest_hematoma_slice`; else the slice of most hematoma area)
    and ``n_neighbours`` on each side about ``neighbour_spacing_mm`` apart.

    Without a segmented hematoma the centre is the slice of most intraventricular blood
    (``ivh_mask``), else the Grad-CAM peak's slice, else the middle slice. Returns the slices in
    z order and a sentence saying how they were chosen.
    """
    if n_neighbours < 0:
        raise ValueError(f"n_neighbours must be >= 0, got {n_neighbours}")
    n_z = volume.shape[0]
    areas = hematoma_area_per_slice_mm2(volume, mask)
    step = max(1, int(round(neighbour_spacing_mm / volume.spacing_mm[0])))
    if areas.max(initial=0.0) > 0:
        centre = int(np.argmax(areas)) if largest_slice is None else int(largest_slice)
        note = (
            "The slice with the largest hematoma area and its neighbours, "
            f"{step * volume.spacing_mm[0]:.1f} mm apart."
        )
    elif (ivh_areas := hematoma_area_per_slice_mm2(volume, ivh_mask)).max(initial=0.0) > 0:
        centre = int(np.argmax(ivh_areas))
        note = ("No parenchymal hematoma was segmented; key slices are centred on the slice with "
                "the most intraventricular blood.")
    elif cam is not None and np.asarray(cam).shape == volume.shape and np.any(cam):
        centre = int(np.unravel_index(int(np.argmax(cam)), volume.shape)[0])
        note = "No hematoma was segmented; key slices are centred on the heatmap's peak."
    else:
        centre = n_z // 2
        note = "No hematoma was segmented; key slices are centred on the middle of the scan."
    indices = sorted(
        {
            min(n_z - 1, max(0, centre + k * step))
            for k in range(-n_neighbours, n_neighbours + 1)
        }
    )
    slices = tuple(
        KeySlice(
            index=i,
            position_mm=slice_position_mm(volume, i),
            hematoma_area_mm2=float(areas[i]),
            is_largest=(i == centre and areas[i] > 0),
        )
        for i in indices
    )
    return slices, note
