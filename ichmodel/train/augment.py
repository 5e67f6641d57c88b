"""Training-time augmentation of preprocessed inputs (torch only, on whatever device they are).

Per sample: a left-right flip (the x axis, i.e. the patient's left-right on an axial series),
a small in-plane rotation and a small shift (one ``affine_grid``/``grid_sample`` pass, trilinear,
zero padding, which is the background value after windowing), and a small intensity gain/offset
jitter clipped back to [0, 1]. None of these changes the hematoma's volume much, so the labels
stay valid. All random draws come from an explicit seeded ``torch.Generator``: the same seed gives
the same augmentation, which makes resumed runs exact. Validation and test data are never
augmented.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths (0 disables each one)."""

    flip_lr_probability: float = 0.5
    max_rotation_deg: float = 10.0
    #: Maximum shift as a fraction of the field of view, per axis (z, y, x).
    max_shift_fraction: tuple[float, float, float] = (0.03, 0.05, 0.05)
    max_gain: float = 0.05
    max_offset: float = 0.02

    @property
    def enabled(self) -> bool:
        return bool(
            self.flip_lr_probability > 0
            or self.max_rotation_deg > 0
            or any(s > 0 for s in self.max_shift_fraction)
            or self.max_gain > 0
            or self.max_offset > 0
        )


NO_AUGMENTATION = AugmentConfig(0.0, 0.0, (0.0, 0.0, 0.0), 0.0, 0.0)


def _uniform(n: int, bound: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=gen, dtype=torch.float64) * 2.0 - 1.0) * bound


def augment_batch(
    x: torch.Tensor, config: AugmentConfig, generator: torch.Generator
) -> torch.Tensor:
    """Augment a batch (B, C, z, y, x) of inputs in [0, 1]; returns a new tensor.

    ``generator`` is a CPU generator (draws happen on the CPU, then move to ``x.device``).
    """
    if x.ndim != 5:
        raise ValueError(f"expected (B, C, z, y, x), got shape {tuple(x.shape)}")
    if not config.enabled:
        return x
    b = x.shape[0]
    flips = torch.rand(b, generator=generator, dtype=torch.float64) < config.flip_lr_probability
    angles = _uniform(b, math.radians(config.max_rotation_deg), generator)
    shifts = torch.stack(
        [_uniform(b, 2.0 * f, generator) for f in config.max_shift_fraction], dim=1
    )  # (B, 3) in normalised units (the field of view spans 2), order (z, y, x)
    gains = 1.0 + _uniform(b, config.max_gain, generator)
    offsets = _uniform(b, config.max_offset, generator)

    # theta maps output coordinates (x, y, z) in [-1, 1] to input coordinates.
    theta = torch.zeros(b, 3, 4, dtype=torch.float64)
    cos, sin = torch.cos(angles), torch.sin(angles)
    sx = torch.where(flips, -1.0, 1.0).to(torch.float64)
    theta[:, 0, 0] = cos * sx
    theta[:, 0, 1] = -sin
    theta[:, 1, 0] = sin * sx
    theta[:, 1, 1] = cos
    theta[:, 2, 2] = 1.0
    theta[:, 0, 3] = shifts[:, 2]
    theta[:, 1, 3] = shifts[:, 1]
    theta[:, 2, 3] = shifts[:, 0]

    work_dtype = torch.float32
    xf = x.to(work_dtype)
    identity_geometry = config.max_rotation_deg == 0 and not any(config.max_shift_fraction)
    if identity_geometry:
        out = torch.where(flips.to(x.device).view(b, 1, 1, 1, 1), xf.flip(-1), xf)
    else:
        grid = F.affine_grid(
            theta.to(device=x.device, dtype=work_dtype), list(xf.shape), align_corners=False
        )
        out = F.grid_sample(xf, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    g = gains.to(device=x.device, dtype=work_dtype).view(b, 1, 1, 1, 1)
    o = offsets.to(device=x.device, dtype=work_dtype).view(b, 1, 1, 1, 1)
    # Jitter only the tissue (> 0): the background stays exactly 0, as preprocessing makes it.
    out = torch.where(out > 0, (out * g + o).clamp(0.0, 1.0), out)
    return out.to(x.dtype)
