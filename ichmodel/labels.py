"""The regression target: hematoma *size* in mm, the cube root of its volume in mm^3.

1 ml = 1000 mm^3, so ``size_mm = cbrt(1000 * volume_ml)`` and ``volume_ml = size_mm**3 / 1000``.
A 30 ml bleed has a size of 31.07 mm. Negative sizes (an untrained or confused network) map to
0 ml. Works on floats, numpy arrays and torch tensors alike.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

MM3_PER_ML = 1000.0


def ml_to_size_mm(volume_ml):
    """Hematoma size in mm (cube root of mm^3) from a volume in ml (negative -> 0)."""
    if _is_tensor(volume_ml):
        import torch

        return torch.pow(torch.clamp(volume_ml, min=0) * MM3_PER_ML, 1.0 / 3.0)
    out = np.cbrt(np.maximum(np.asarray(volume_ml, dtype=np.float64), 0.0) * MM3_PER_ML)
    return float(out) if np.ndim(out) == 0 else out


def size_mm_to_ml(size_mm):
    """Hematoma volume in ml from a size in mm (negative sizes -> 0 ml)."""
    if _is_tensor(size_mm):
        import torch

        return torch.clamp(size_mm, min=0) ** 3 / MM3_PER_ML
    out = np.maximum(np.asarray(size_mm, dtype=np.float64), 0.0) ** 3 / MM3_PER_ML
    return float(out) if np.ndim(out) == 0 else out


def _is_tensor(value: Any) -> bool:
    return type(value).__module__.startswith("torch")


@dataclass(frozen=True)
class LabelTransform:
    """How the regression head's output relates to ml; saved in every checkpoint.

    ``volume_ml = size_mm**3 / 1000 * (voxel_mm3 / reference_voxel_mm3) ** voxel_exponent``,
    where ``voxel_mm3`` is the physical volume of one voxel of the model input
    (:attr:`ichmodel.preprocess.ModelInput.model_voxel_mm3`). Why: preprocessing crops every
    head and resizes it to the same grid, so the network sees a large and a small head at the
    same size and cannot tell their scales apart; a 25 % larger voxel holds 25 % more blood.
    ``voxel_exponent`` 0 (the default, the paper's) ignores the scale; 1 makes the head's output
    a count of input voxels; values in between calibrate a network that learned part of the
    scale from the image itself.
    """

    kind: str = "cube_root_mm3"
    unit: str = "mm"
    mm3_per_ml: float = MM3_PER_ML
    voxel_exponent: float = 0.0
    reference_voxel_mm3: float = 1.0

    def __post_init__(self) -> None:
        if self.kind != "cube_root_mm3" or self.unit != "mm" or self.mm3_per_ml != MM3_PER_ML:
            raise ValueError(
                f"unsupported label transform {self.kind!r} ({self.unit}, {self.mm3_per_ml}); "
                "this ichmodel only knows size_mm = cbrt(volume in mm^3)"
            )
        if not math.isfinite(self.voxel_exponent):
            raise ValueError(f"voxel_exponent must be finite, got {self.voxel_exponent}")
        if not (math.isfinite(self.reference_voxel_mm3) and self.reference_voxel_mm3 > 0):
            raise ValueError(
                f"reference_voxel_mm3 must be a positive number, got {self.reference_voxel_mm3}"
            )

    @property
    def needs_voxel_volume(self) -> bool:
        """Whether converting needs the input's voxel volume (``voxel_exponent`` is not 0)."""
        return self.voxel_exponent != 0.0

    def volume_factor(self, voxel_mm3=None):
        """``(voxel_mm3 / reference_voxel_mm3) ** voxel_exponent``; 1 where it is not needed."""
        if not self.needs_voxel_volume:
            return 1.0
        if voxel_mm3 is None:
            raise ValueError(
                "this model scales its volume by the model input's voxel volume, and none was "
                "given (cache entries made before ichmodel stored it: build the cache again)"
            )
        ratio = voxel_mm3 / self.reference_voxel_mm3
        if _is_tensor(ratio):
            return ratio.clamp(min=1e-12) ** self.voxel_exponent
        ratio = np.asarray(ratio, dtype=np.float64)
        if not np.all(np.isfinite(ratio)) or np.any(ratio <= 0):
            raise ValueError(f"voxel volumes must be positive numbers, got {voxel_mm3}")
        out = ratio**self.voxel_exponent
        return float(out) if np.ndim(out) == 0 else out

    def to_ml(self, size_mm, voxel_mm3=None):
        return size_mm_to_ml(size_mm) * self.volume_factor(voxel_mm3)

    def to_size_mm(self, volume_ml, voxel_mm3=None):
        return ml_to_size_mm(volume_ml / self.volume_factor(voxel_mm3))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "unit": self.unit, "mm3_per_ml": self.mm3_per_ml}
        if self.needs_voxel_volume:  # only where used, so older checkpoints keep their digest
            d["voxel_exponent"] = self.voxel_exponent
            d["reference_voxel_mm3"] = self.reference_voxel_mm3
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelTransform:
        known = {"kind", "unit", "mm3_per_ml", "voxel_exponent", "reference_voxel_mm3"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown LabelTransform fields {sorted(unknown)}")
        return cls(**dict(data))
