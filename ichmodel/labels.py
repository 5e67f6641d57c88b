"""The regression target: hematoma *size* in mm, the cube root of its volume in mm^3.

1 ml = 1000 mm^3, so ``size_mm = cbrt(1000 * volume_ml)`` and ``volume_ml = size_mm**3 / 1000``.
A 30 ml bleed has a size of 31.07 mm. Negative sizes (an untrained or confused network) map to
0 ml. Works on floats, numpy arrays and torch tensors alike.
"""

from __future__ import annotations

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
    """How the regression head's output relates to ml; saved in every checkpoint."""

    kind: str = "cube_root_mm3"
    unit: str = "mm"
    mm3_per_ml: float = MM3_PER_ML

    def __post_init__(self) -> None:
        if self.kind != "cube_root_mm3" or self.unit != "mm" or self.mm3_per_ml != MM3_PER_ML:
            raise ValueError(
                f"unsupported label transform {self.kind!r} ({self.unit}, {self.mm3_per_ml}); "
                "this ichmodel only knows size_mm = cbrt(volume in mm^3)"
            )

    def to_ml(self, size_mm):
        return size_mm_to_ml(size_mm)

    def to_size_mm(self, volume_ml):
        return ml_to_size_mm(volume_ml)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "unit": self.unit, "mm3_per_ml": self.mm3_per_ml}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LabelTransform:
        unknown = set(data) - {"kind", "unit", "mm3_per_ml"}
        if unknown:
            raise ValueError(f"unknown LabelTransform fields {sorted(unknown)}")
        return cls(**dict(data))
