"""Geometry of the midline: the intracranial cavity per slice, its 3-D mirror plane (the
falx's plane) and where that plane cuts a slice and meets the inner table."""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from scipy import optimize

from ichmodel.volume import Volume

BONE_HU = 300.0
MIN_CAVITY_MM2 = 5000.0


def _largest(mask: np.ndarray) -> np.ndarray:
    labels, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = ndi.sum(mask, labels, index=np.arange(1, n + 1))
    return labels == int(np.argmax(sizes)) + 1


def cavity_of_slice(hu: np.ndarray, spacing_yx: tuple[float, float]) -> np.ndarray:
    """The intracranial cavity of one slice: inside the (closed) skull ring, without bone."""
    bone = hu >= BONE_HU
    if bone.sum() * spacing_yx[0] * spacing_yx[1] < 200.0:
        return np.zeros_like(bone)
    r = np.maximum(1, np.round(3.0 / np.asarray(spacing_yx)).astype(int))
    yy, xx = np.ogrid[-r[0]:r[0] + 1, -r[1]:r[1] + 1]
    disk = (yy / r[0]) ** 2 + (xx / r[1]) ** 2 <= 1.0
    closed = ndi.binary_closing(bone, structure=disk)
    inside = ndi.binary_fill_holes(closed) & ~closed
    return _largest(inside)


def symmetry_plane(cavities: np.ndarray, spacing_mm) -> tuple[np.ndarray, float]:
    """(unit normal, offset) of the cavity's mirror plane ``normal . p = offset``, in mm
    (z, y, x) coordinates. In 3-D, because a head rolled a few degrees cuts each axial slice
    obliquely: a 2-D slice's own mirror axis then sits off the falx by h * tan(roll) (over 1 mm
    at the ventricles' height on the phantoms)."""
    spacing = np.asarray(spacing_mm, float)
    sigma = 2.0 / spacing
    sigma[0] = min(sigma[0], 1.0)
    smooth = ndi.gaussian_filter(cavities.astype(np.float32), sigma=sigma)
    idx = np.argwhere(smooth > 0.05)
    idx = idx[:: max(1, len(idx) // 60000)]
    weights = smooth[tuple(idx.T)]
    pts = idx * spacing
    centre = (pts * weights[:, None]).sum(0) / weights.sum()
    # the in-plane principal axis of the egg-shaped cavity is antero-posterior; the plane's
    # normal starts perpendicular to it, in-plane
    cov = np.cov((pts[:, 1:] - centre[1:]).T, aweights=weights)
    evals, evecs = np.linalg.eigh(cov)
    minor = evecs[:, int(np.argmin(evals))]
    yaw0 = float(np.arctan2(minor[0], minor[1]))

    def plane(params):
        yaw, tilt, offset = params
        normal = np.array([np.sin(tilt), np.cos(tilt) * np.sin(yaw), np.cos(tilt) * np.cos(yaw)])
        return normal, float(normal @ centre + offset)

    def cost(params):
        normal, c = plane(params)
        dist = pts @ normal - c
        mirrored = (pts - 2.0 * dist[:, None] * normal[None, :]) / spacing
        values = ndi.map_coordinates(smooth, mirrored.T, order=1, mode="constant")
        return -float((weights * values).sum() / weights.sum())

    best = optimize.minimize(
        cost, x0=[yaw0, 0.0, 0.0], method="Nelder-Mead",
        options={"xatol": 1e-4, "fatol": 1e-8,
                 "initial_simplex": [[yaw0, 0.0, 0.0], [yaw0 + 0.05, 0.0, 0.0],
                                     [yaw0, 0.05, 0.0], [yaw0, 0.0, 3.0]]},
    )
    return plane(best.x)


def line_on_slice(normal: np.ndarray, offset: float, z_mm: float,
                   near_yx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The plane's line on the axial plane z = ``z_mm``: (point nearest ``near_yx``, unit
    direction), both in mm (y, x)."""
    n2 = normal[1:]
    norm = float(np.linalg.norm(n2))
    n2 = n2 / norm
    c2 = (offset - normal[0] * z_mm) / norm
    p0 = near_yx - (near_yx @ n2 - c2) * n2
    return p0, np.array([-n2[1], n2[0]])


def exit_point(cavity: np.ndarray, spacing_yx, p0: np.ndarray, d: np.ndarray) -> np.ndarray:
    """Where the ray from ``p0`` along ``d`` leaves the cavity (the inner table), mm (y, x)."""
    sy, sx = spacing_yx
    ts = np.arange(0.0, 250.0, 0.25)
    pts = p0[None, :] + ts[:, None] * d[None, :]
    inside = ndi.map_coordinates(cavity.astype(np.float32), [pts[:, 0] / sy, pts[:, 1] / sx],
                                 order=1, mode="constant") >= 0.5
    first_out = int(np.argmin(inside)) if not inside.all() else len(ts) - 1
    return pts[max(0, first_out - 1)]


def lps_x_sign(volume: Volume, n_yx: np.ndarray) -> float:
    """+1 when the in-plane direction ``n_yx`` (mm, (y, x)) points to the patient's left."""
    d = volume.direction_matrix  # columns: LPS of the x (column), y (row), z axes
    lps = n_yx[1] * d[:, 0] + n_yx[0] * d[:, 1]
    return 1.0 if lps[0] >= 0 else -1.0


