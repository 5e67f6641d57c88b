"""Training-time augmentation of preprocessed inputs (torch only, on whatever device they are).

Per sample: a left-right flip (the x axis, i.e. the patient's left-right on an axial series),
a small shift (whole voxels, zero padding, which is the background value after windowing), for
a share of the samples a small in-plane rotation (bilinear ``grid_sample`` per slice, carrying
the in-plane shift), and a small intensity gain/offset jitter clipped back to [0, 1]. None of
these changes the hematoma's volume much, so the labels stay valid. All random draws come from
an explicit seeded ``torch.Generator``: the same seed gives the same augmentation, which makes
resumed runs exact. Validation and test data are never augmented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Augmentation strengths (0 disables each one)."""

    flip_lr_probability: float = 0.5
    #: Front-back (y) and head-foot (z) flips: off by default (no real head comes that way).
    #: A network has no reason to put its Grad-CAM evidence *on* the bleed rather than at a
    #: fixed offset from it along an axis it never sees flipped (the LR flip keeps x centred);
    #: these flips push it to centre y and z too. (The shipped demo model instead averages its
    #: Grad-CAM over flips at inference, its card's ``recommended_cam_flip_axes``: 3 epochs of a CPU
    #: fine-tune with these flips only moved its front-back offset from ~20 to ~13 voxels.)
    flip_ap_probability: float = 0.0
    flip_si_probability: float = 0.0
    max_rotation_deg: float = 10.0
    #: Share of samples that get rotated (the costly part); the rest only flip/shift/jitter.
    rotation_probability: float = 0.5
    #: Maximum shift as a fraction of the field of view, per axis (z, y, x).
    max_shift_fraction: tuple[float, float, float] = (0.03, 0.05, 0.05)
    max_gain: float = 0.05
    max_offset: float = 0.02

    @property
    def enabled(self) -> bool:
        return bool(
            self.flip_lr_probability > 0
            or self.flip_ap_probability > 0
            or self.flip_si_probability > 0
            or self.max_rotation_deg > 0
            or any(s > 0 for s in self.max_shift_fraction)
            or self.max_gain > 0
            or self.max_offset > 0
        )


NO_AUGMENTATION = AugmentConfig(
    flip_lr_probability=0.0, max_rotation_deg=0.0, rotation_probability=0.0,
    max_shift_fraction=(0.0, 0.0, 0.0), max_gain=0.0, max_offset=0.0,
)


def _uniform(n: int, bound: float, gen: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=gen, dtype=torch.float64) * 2.0 - 1.0) * bound


def _shift_axis(t: torch.Tensor, axis: int, n: int) -> torch.Tensor:
    """Shift by ``n`` whole voxels along ``axis`` (zeros come in)."""
    if n == 0:
        return t
    out = torch.zeros_like(t)
    size = t.shape[axis]
    if abs(n) >= size:
        return out
    src = t.narrow(axis, max(0, -n), size - abs(n))
    out.narrow(axis, max(0, n), size - abs(n)).copy_(src)
    return out


def _geometry(v: torch.Tensor, flip: tuple[bool, bool, bool], rotate: bool, angle: float,
              shift_zyx) -> torch.Tensor:
    """Flip (``flip`` per axis z, y, x), shift and (in-plane) rotate one (C, z, y, x) sample.

    Rotation + in-plane shift is one bilinear ``grid_sample`` over the slices (2-D, so about a
    third of a 3-D trilinear pass); without rotation the shifts are whole voxels (free).
    """
    axes = [axis for axis, f in zip((-3, -2, -1), flip, strict=True) if f]
    if axes:
        v = v.flip(axes)
    c, z, y, x = v.shape
    v = _shift_axis(v, 1, int(round(shift_zyx[0] * z / 2)))
    if rotate:
        cos, sin = math.cos(angle), math.sin(angle)
        theta = torch.tensor(
            [[cos, -sin, shift_zyx[2]], [sin, cos, shift_zyx[1]]], dtype=v.dtype, device=v.device
        ).expand(c * z, 2, 3)
        planes = v.reshape(c * z, 1, y, x)
        grid = F.affine_grid(theta, [c * z, 1, y, x], align_corners=False)
        planes = F.grid_sample(planes, grid, mode="bilinear", padding_mode="zeros",
                               align_corners=False)
        return planes.reshape(c, z, y, x)
    v = _shift_axis(v, 2, -int(round(shift_zyx[1] * y / 2)))
    return _shift_axis(v, 3, -int(round(shift_zyx[2] * x / 2)))


def augment_batch(
    x: torch.Tensor,
    config: AugmentConfig,
    generator: torch.Generator,
    maps: torch.Tensor | None = None,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Augment a batch (B, C, z, y, x) of inputs in [0, 1]; returns a new tensor.

    ``generator`` is a CPU generator (draws happen on the CPU, then move to ``x.device``).
    ``maps`` (B, K, z, y, x), e.g. the hematoma fraction of each voxel, get the same flips,
    shifts and rotation as ``x`` but no intensity jitter; with them the result is
    ``(x, maps)``. The random draws do not depend on ``maps``.
    """
    if x.ndim != 5:
        raise ValueError(f"expected (B, C, z, y, x), got shape {tuple(x.shape)}")
    if maps is not None and (maps.ndim != 5 or maps.shape[0] != x.shape[0]
                             or maps.shape[2:] != x.shape[2:]):
        raise ValueError(f"maps of shape {tuple(maps.shape)} do not match inputs {tuple(x.shape)}")
    if not config.enabled:
        return x if maps is None else (x, maps)
    b = x.shape[0]
    flips = torch.rand(b, generator=generator, dtype=torch.float64) < config.flip_lr_probability
    rotate = torch.rand(b, generator=generator, dtype=torch.float64) < config.rotation_probability
    angles = _uniform(b, math.radians(config.max_rotation_deg), generator)
    shifts = torch.stack(
        [_uniform(b, 2.0 * f, generator) for f in config.max_shift_fraction], dim=1
    )  # (B, 3) in normalised units (the field of view spans 2), order (z, y, x)
    gains = 1.0 + _uniform(b, config.max_gain, generator)
    offsets = _uniform(b, config.max_offset, generator)
    # drawn last, so runs without these flips augment exactly as before they existed
    flips_ap = torch.rand(b, generator=generator, dtype=torch.float64) < config.flip_ap_probability
    flips_si = torch.rand(b, generator=generator, dtype=torch.float64) < config.flip_si_probability

    work_dtype = torch.float32
    c = x.shape[1]
    xf = x.to(work_dtype)
    if maps is not None:  # one geometric pass moves inputs and maps together
        xf = torch.cat([xf, maps.to(device=x.device, dtype=work_dtype)], dim=1)
    out = torch.empty_like(xf)
    for i in range(b):
        flip = (bool(flips_si[i]), bool(flips_ap[i]), bool(flips[i]))
        out[i] = _geometry(xf[i], flip, bool(rotate[i]) and config.max_rotation_deg > 0,
                           float(angles[i]), shifts[i].tolist())
    out, moved_maps = out[:, :c], out[:, c:]
    g = gains.to(device=x.device, dtype=work_dtype).view(b, 1, 1, 1, 1)
    o = offsets.to(device=x.device, dtype=work_dtype).view(b, 1, 1, 1, 1)
    # Jitter only the tissue (> 0): the background stays exactly 0, as preprocessing makes it.
    out = torch.where(out > 0, (out * g + o).clamp(0.0, 1.0), out).to(x.dtype)
    return out if maps is None else (out, moved_maps.to(maps.dtype))
