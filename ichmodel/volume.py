"""The :class:`Volume`: a CT series in Hounsfield units with its geometry, and its metadata.

Conventions (used everywhere in ichmodel and ichviewer):

* ``hu`` is float32, indexed (z, y, x): z = slice, y = row, x = column.
* ``spacing_mm`` is (z, y, x) in mm.
* ``origin_mm`` is the patient position (x, y, z, LPS, mm) of voxel hu[0, 0, 0].
* ``direction`` is the 3x3 matrix, row-major as a 9-tuple, whose *columns* are the LPS unit
  vectors of the array's x (column), y (row) and z (slice) axes, exactly as SimpleITK stores it.
  The SimpleITK (x, y, z) <-> numpy (z, y, x) swap happens only in :mod:`ichmodel.io.sitk_bridge`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ichmodel.notices import Notice, texts

AIR_HU = -1000.0


def voxel_volume_ml(spacing_mm: Sequence[float]) -> float:
    """Volume (ml) of one voxel of (z, y, x) spacing in mm: 1 ml = 1000 mm^3."""
    z, y, x = (float(s) for s in spacing_mm)
    return z * y * x / 1000.0


@dataclass(frozen=True)
class SeriesMeta:
    """Identification and acquisition facts of a series, as read from its DICOM headers."""

    patient_name: str = ""
    patient_id: str = ""
    patient_birth_date: str = ""
    patient_sex: str = ""
    patient_age: str = ""
    study_date: str = ""
    study_time: str = ""
    study_description: str = ""
    study_uid: str = ""
    series_uid: str = ""
    series_number: str = ""
    series_description: str = ""
    modality: str = "CT"
    manufacturer: str = ""
    model: str = ""
    kernel: str = ""
    slice_thickness_mm: float | None = None
    #: The DICOM's own display window (WindowCenter/WindowWidth), HU, when present.
    window_center_hu: float | None = None
    window_width_hu: float | None = None
    body_part: str = ""
    contrast_agent: str = ""

    def anonymized(self) -> SeriesMeta:
        """A copy without name, ID and birth date (what a shared report must not show)."""
        return replace(self, patient_name="", patient_id="", patient_birth_date="")


_AXIS_NAMES = {0: ("R", "L"), 1: ("A", "P"), 2: ("I", "S")}


def _axis_code(vector: np.ndarray) -> str:
    """The LPS letter an axis points *to* (e.g. 'L' for +x), or '?' when strongly oblique."""
    i = int(np.argmax(np.abs(vector)))
    if abs(vector[i]) < 0.8:
        return "?"
    return _AXIS_NAMES[i][1] if vector[i] > 0 else _AXIS_NAMES[i][0]


@dataclass(frozen=True, eq=False)
class Volume:
    """A CT volume in HU on a regular grid, with its physical geometry.

    The array is never copied by the dataclass; treat it as read-only.
    """

    hu: np.ndarray
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    direction: tuple[float, ...] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)
    meta: SeriesMeta = field(default_factory=SeriesMeta)
    #: What loading found worth saying (tilt corrected, slices skipped, ...), coded.
    notices: tuple[Notice, ...] = ()

    def __post_init__(self) -> None:
        if self.hu.ndim != 3:
            raise ValueError(f"Volume.hu must be 3-D (z, y, x), got shape {self.hu.shape}")
        if self.hu.dtype != np.float32:
            raise ValueError(f"Volume.hu must be float32, got {self.hu.dtype}")
        if len(self.spacing_mm) != 3 or min(self.spacing_mm) <= 0:
            raise ValueError(f"spacing_mm must be three positive numbers, got {self.spacing_mm}")
        if len(self.direction) != 9:
            raise ValueError("direction must be a row-major 3x3 matrix as 9 numbers")

    @property
    def shape(self) -> tuple[int, int, int]:
        """(z, y, x) voxel counts."""
        return tuple(int(s) for s in self.hu.shape)  # type: ignore[return-value]

    @property
    def voxel_volume_ml(self) -> float:
        """Volume of one voxel in ml (1 ml = 1000 mm^3)."""
        return voxel_volume_ml(self.spacing_mm)

    @property
    def direction_matrix(self) -> np.ndarray:
        """3x3 array; columns are the LPS directions of the x, y, z array axes."""
        return np.asarray(self.direction, dtype=float).reshape(3, 3)

    @property
    def orientation_code(self) -> str:
        """Three letters: where the x, y, z axes point in LPS terms, e.g. 'LPS' for axial."""
        d = self.direction_matrix
        return "".join(_axis_code(d[:, i]) for i in range(3))

    @property
    def memory_bytes(self) -> int:
        return int(self.hu.nbytes)

    def index_to_physical(self, zyx: tuple[float, float, float]) -> np.ndarray:
        """LPS position (x, y, z) in mm of a (z, y, x) index, possibly fractional."""
        z, y, x = zyx
        sz, sy, sx = self.spacing_mm
        offset = self.direction_matrix @ np.array([x * sx, y * sy, z * sz])
        return np.asarray(self.origin_mm, dtype=float) + offset

    def with_hu(self, hu: np.ndarray) -> Volume:
        """Same geometry and metadata, other voxels (same shape)."""
        if hu.shape != self.hu.shape:
            raise ValueError(f"shape {hu.shape} differs from the volume's {self.hu.shape}")
        return replace(self, hu=hu.astype(np.float32, copy=False))

    def with_notices(self, *notices: Notice) -> Volume:
        return replace(self, notices=self.notices + tuple(notices))

    @property
    def warnings(self) -> tuple[str, ...]:
        """The notices' sentences."""
        return texts(self.notices)

    def __repr__(self) -> str:
        z, y, x = self.shape
        sz, sy, sx = self.spacing_mm
        mb = self.memory_bytes / 2**20
        desc = self.meta.series_description or self.meta.series_uid or "unnamed"
        return (
            f"Volume({desc!r}, shape(z,y,x)=({z}, {y}, {x}), "
            f"spacing_mm(z,y,x)=({sz:.3g}, {sy:.3g}, {sx:.3g}), "
            f"orientation={self.orientation_code}, "
            f"hu=[{float(self.hu.min()) if self.hu.size else 0:.0f}, "
            f"{float(self.hu.max()) if self.hu.size else 0:.0f}], "
            f"memory={mb:.1f} MiB, warnings={len(self.warnings)})"
        )
