"""Geometry shared by the phantom's parts: the scan grid, the head frame, ellipsoids, ramps.

Everything is described as continuous shapes in *head coordinates* (u, v, w) in mm: u points to
the patient's left, v posterior, w superior (LPS when the head is not rotated), with the origin
near the centre of the cranial cavity. The scanner grid is axial LPS (direction = identity); the
head sits in it with a rigid rotation and shift (:class:`HeadFrame`).

Partial-volume averaging: a shape is a signed distance ``d`` in mm (negative inside). A voxel's
fraction inside is the box-filtered indicator, approximated by a linear ramp
``clip(0.5 - d / W, 0, 1)`` whose width ``W`` is the voxel's extent along the surface normal,
``W = sqrt(h**2 (1 - n_z**2) + h_z**2 n_z**2)``; the ramp is the exact box filter of a planar
surface along one axis, so thick slices blur surfaces they cut obliquely, as scanners do.
Small structures whose volume matters (the hematoma) are additionally supersampled in z
(:func:`bbox_samples` with ``n_sub > 1``) and averaged back onto the slices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ichmodel.volume import voxel_volume_ml


@dataclass(frozen=True)
class Grid:
    """The axial scan grid: shape (z, y, x), spacing (z, y, x) mm, origin LPS (x, y, z) mm."""

    shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    origin_mm: tuple[float, float, float]

    def axis_mm(self, axis: int, start: float = 0.0, stop: float | None = None) -> np.ndarray:
        """LPS coordinate (mm) of index positions ``start..stop`` along array axis 0/1/2."""
        n = self.shape[axis] if stop is None else stop
        coord = (2, 1, 0)[axis]  # array z -> LPS z (index 2), y -> 1, x -> 0
        idx = np.arange(start, n, dtype=np.float64)
        return self.origin_mm[coord] + idx * self.spacing_mm[axis]

    @property
    def voxel_volume_ml(self) -> float:
        return voxel_volume_ml(self.spacing_mm)


@dataclass(frozen=True, eq=False)
class HeadFrame:
    """Rigid placement of the head: ``p_lps = center + R @ (u, v, w)``."""

    center_mm: np.ndarray  # (3,) LPS
    rotation: np.ndarray  # (3, 3) head -> LPS

    def to_lps(self, uvw: np.ndarray) -> np.ndarray:
        return self.center_mm + self.rotation @ np.asarray(uvw, dtype=float)

    def head_coords(
        self, z_mm: np.ndarray, y_mm: np.ndarray, x_mm: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Head coordinates (u, v, w) as float32 arrays (z, y, x) for 1-D LPS axes."""
        rt = self.rotation.T
        dz = (np.asarray(z_mm) - self.center_mm[2]).astype(np.float32)[:, None, None]
        dy = (np.asarray(y_mm) - self.center_mm[1]).astype(np.float32)[None, :, None]
        dx = (np.asarray(x_mm) - self.center_mm[0]).astype(np.float32)[None, None, :]
        out = []
        for i in range(3):
            plane = np.float32(rt[i, 0]) * dx + np.float32(rt[i, 1]) * dy
            out.append(plane + np.float32(rt[i, 2]) * dz)
        return out[0], out[1], out[2]


@dataclass(frozen=True, eq=False)
class HeadMove:
    """A rigid move of the head in the scanner, LPS mm: ``p -> matrix @ p + offset_mm``.

    Used to scan the same phantom head again in another position: every part of the phantom is
    evaluated in head coordinates, so the moved scan is sampled natively (its own partial
    volume), as a scanner reconstructs a follow-up - not a resampled copy of the first scan."""

    matrix: np.ndarray  # (3, 3) proper rotation
    offset_mm: np.ndarray  # (3,)

    def moved_frame(self, frame: HeadFrame) -> HeadFrame:
        return HeadFrame(center_mm=self.matrix @ frame.center_mm + self.offset_mm,
                         rotation=self.matrix @ frame.rotation)


def equivalent_radius_mm(volume_ml: float) -> float:
    """The radius (mm) of a sphere of ``volume_ml``."""
    return (3 * volume_ml * 1000 / (4 * math.pi)) ** (1 / 3)


def rotation_matrix(yaw_deg: float, pitch_deg: float, roll_deg: float) -> np.ndarray:
    """Rotation about w (yaw), then u (pitch, nodding) and v (roll), as a 3x3 matrix."""
    a, b, c = (math.radians(t) for t in (yaw_deg, pitch_deg, roll_deg))
    rz = np.array([[math.cos(a), -math.sin(a), 0], [math.sin(a), math.cos(a), 0], [0, 0, 1]])
    rx = np.array([[1, 0, 0], [0, math.cos(b), -math.sin(b)], [0, math.sin(b), math.cos(b)]])
    ry = np.array([[math.cos(c), 0, math.sin(c)], [0, 1, 0], [-math.sin(c), 0, math.cos(c)]])
    return rz @ rx @ ry


def random_rotation(rng: np.random.Generator) -> np.ndarray:
    """A uniformly random 3x3 rotation (for the local axes of lobes and blobs)."""
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


@dataclass(frozen=True, eq=False)
class Ellipsoid:
    """An ellipsoid in head coordinates: centre (mm), semi-axes (mm), local axes (columns)."""

    center: tuple[float, float, float]
    radii: tuple[float, float, float]
    axes: np.ndarray | None = None  # (3, 3) columns = local axes in head coords; None = identity

    @property
    def bounding_radius(self) -> float:
        return float(max(self.radii))

    @property
    def volume_mm3(self) -> float:
        a, b, c = self.radii
        return 4.0 / 3.0 * math.pi * a * b * c

    def moved(self, du: float = 0.0, dv: float = 0.0, dw: float = 0.0) -> Ellipsoid:
        u, v, w = self.center
        return Ellipsoid((u + du, v + dv, w + dw), self.radii, self.axes)

    def scaled(self, factor: tuple[float, float, float]) -> Ellipsoid:
        radii = tuple(r * f for r, f in zip(self.radii, factor, strict=True))
        return Ellipsoid(self.center, radii, self.axes)  # type: ignore[arg-type]

    def signed_distance(
        self, u: np.ndarray, v: np.ndarray, w: np.ndarray, frame_rotation: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Approximate signed distance (mm, < 0 inside) and the squared z-component of the
        outward normal in scanner coordinates (for the ramp width)."""
        du, dv, dw = (
            u - np.float32(self.center[0]),
            v - np.float32(self.center[1]),
            w - np.float32(self.center[2]),
        )
        m = frame_rotation if self.axes is None else frame_rotation @ self.axes
        if self.axes is None:
            loc = (du, dv, dw)
        else:
            a = self.axes.astype(np.float32)
            loc = tuple(a[0, i] * du + a[1, i] * dv + a[2, i] * dw for i in range(3))
        q = [loc[i] * np.float32(1.0 / self.radii[i]) for i in range(3)]
        g = [q[i] * np.float32(1.0 / self.radii[i]) for i in range(3)]
        rho = np.sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2])
        gnorm = np.sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]) + np.float32(1e-12)
        dist = rho * (rho - 1.0) / gnorm
        nz = np.float32(m[2, 0]) * g[0] + np.float32(m[2, 1]) * g[1] + np.float32(m[2, 2]) * g[2]
        nz = nz / gnorm
        return dist.astype(np.float32, copy=False), (nz * nz).astype(np.float32, copy=False)


def ramp_width(nz2: np.ndarray | float, h_mm: float, hz_mm: float) -> np.ndarray | float:
    """Voxel extent (mm) along a surface normal whose squared z-component is ``nz2``."""
    return np.sqrt(np.float32(h_mm * h_mm) + np.float32(hz_mm * hz_mm - h_mm * h_mm) * nz2)


def ramp(dist: np.ndarray, width: np.ndarray | float) -> np.ndarray:
    """Fraction inside (float32 in [0, 1]) of a voxel at signed distance ``dist`` (mm)."""
    out = np.float32(0.5) - dist / width
    return np.clip(out, 0.0, 1.0, out=out).astype(np.float32, copy=False)


@dataclass(frozen=True, eq=False)
class BBoxSamples:
    """Head coordinates sampled on a sub-box of the grid, optionally supersampled in z.

    ``u, v, w`` have shape (nz * n_sub, ny, nx); :meth:`reduce` averages sub-planes back to the
    grid's slices. ``index`` is the (z, y, x) slice tuple of the box in the full grid.
    """

    index: tuple[slice, slice, slice]
    u: np.ndarray
    v: np.ndarray
    w: np.ndarray
    n_sub: int
    hz_mm: float  # thickness of one sub-plane (mm)
    h_mm: float  # in-plane pixel size (mm)

    def reduce(self, fine: np.ndarray) -> np.ndarray:
        nzf, ny, nx = fine.shape
        return fine.reshape(nzf // self.n_sub, self.n_sub, ny, nx).mean(axis=1, dtype=np.float32)


def bbox_samples(
    grid: Grid,
    frame: HeadFrame,
    center_head: tuple[float, float, float] | np.ndarray,
    radius_mm: float,
    n_sub: int = 1,
) -> BBoxSamples | None:
    """Sample head coordinates on the grid box that holds a sphere (head coords); None if the
    sphere misses the grid."""
    p = frame.to_lps(np.asarray(center_head, dtype=float))
    sz, sy, sx = grid.spacing_mm
    lo_hi = []
    for axis, coord, step in ((0, 2, sz), (1, 1, sy), (2, 0, sx)):
        first = grid.origin_mm[coord]
        lo = int(math.floor((p[coord] - radius_mm - first) / step)) - 1
        hi = int(math.ceil((p[coord] + radius_mm - first) / step)) + 2
        lo, hi = max(lo, 0), min(hi, grid.shape[axis])
        if hi <= lo:
            return None
        lo_hi.append((lo, hi))
    (z0, z1), (y0, y1), (x0, x1) = lo_hi
    offsets = (np.arange(n_sub) + 0.5) / n_sub - 0.5  # sub-plane centres within a slice
    zc = grid.axis_mm(0, z0, z1)
    z_mm = (zc[:, None] + offsets[None, :] * sz).ravel()
    u, v, w = frame.head_coords(z_mm, grid.axis_mm(1, y0, y1), grid.axis_mm(2, x0, x1))
    return BBoxSamples(
        index=(slice(z0, z1), slice(y0, y1), slice(x0, x1)),
        u=u,
        v=v,
        w=w,
        n_sub=n_sub,
        hz_mm=sz / n_sub,
        h_mm=float(sy),
    )


Index = tuple[slice, slice, slice]


def ellipsoid_boxes(
    grid: Grid, frame: HeadFrame, shapes: list[Ellipsoid] | tuple[Ellipsoid, ...], n_sub: int = 1
) -> list[tuple[Index, np.ndarray]]:
    """Per shape: its grid box and the fraction (float32) of each voxel there inside it."""
    out = []
    for shape in shapes:
        box = bbox_samples(grid, frame, shape.center, shape.bounding_radius + 3.0, n_sub)
        if box is None:
            continue
        dist, nz2 = shape.signed_distance(box.u, box.v, box.w, frame.rotation)
        out.append((box.index, box.reduce(ramp(dist, ramp_width(nz2, box.h_mm, box.hz_mm)))))
    return out


def union_index(indices: list[Index]) -> Index:
    """The smallest box holding all ``indices`` (non-empty list)."""
    return tuple(
        slice(min(ix[a].start for ix in indices), max(ix[a].stop for ix in indices))
        for a in range(3)
    )  # type: ignore[return-value]


def overlap(a: Index, b: Index) -> tuple[Index, Index] | None:
    """Where boxes ``a`` and ``b`` overlap, as slices relative to ``a`` and to ``b``."""
    rel_a, rel_b = [], []
    for sa, sb in zip(a, b, strict=True):
        lo, hi = max(sa.start, sb.start), min(sa.stop, sb.stop)
        if hi <= lo:
            return None
        rel_a.append(slice(lo - sa.start, hi - sa.start))
        rel_b.append(slice(lo - sb.start, hi - sb.start))
    return tuple(rel_a), tuple(rel_b)  # type: ignore[return-value]


def union_fraction(
    boxes: list[tuple[Index, np.ndarray]], outer: Index | None = None
) -> tuple[Index, np.ndarray] | None:
    """The union (max) of box fractions on one box (``outer`` or the boxes' union)."""
    if not boxes:
        return None
    outer = outer or union_index([ix for ix, _ in boxes])
    local = np.zeros(tuple(s.stop - s.start for s in outer), dtype=np.float32)
    for ix, frac in boxes:
        ov = overlap(outer, ix)
        if ov is not None:
            np.maximum(local[ov[0]], frac[ov[1]], out=local[ov[0]])
    return outer, local


def render_ellipsoids(
    grid: Grid, frame: HeadFrame, shapes: list[Ellipsoid] | tuple[Ellipsoid, ...], n_sub: int = 1
) -> np.ndarray:
    """Fraction (float32 (z, y, x), full grid) of each voxel inside the union of ``shapes``."""
    out = np.zeros(grid.shape, dtype=np.float32)
    union = union_fraction(ellipsoid_boxes(grid, frame, shapes, n_sub))
    if union is not None:
        out[union[0]] = union[1]
    return out
