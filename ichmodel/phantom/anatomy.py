"""The phantom's normal head: scalp, skull, CSF, grey/white matter, nuclei, ventricles, cerebellum.

The cranial cavity is an egg-shaped ellipsoid whose floor is shallow in front (anterior and
middle fossae) and deep behind (posterior fossa). The layers outside and inside it are offsets
of its signed distance: inner table at 0, outer table at the skull thickness T (varying: thick
frontal/occipital, thin temporal), scalp with a fat layer and thicker temporalis muscle, a
subarachnoid CSF film, cortex (grey) with gyri and CSF-filled sulci, white matter beneath.
The posterior fossa below a tent-shaped tentorium is the infratentorial compartment
(cerebellum, brainstem).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from ichmodel.phantom.config import PhantomConfig
from ichmodel.phantom.geometry import Ellipsoid, Grid, HeadFrame, ramp, ramp_width, rotation_matrix

AIR_HU = -1000.0


@dataclass(frozen=True)
class Anatomy:
    """Sampled parameters of one normal head (lengths mm, densities HU)."""

    ax: float  # cavity half-width (left-right)
    ay: float  # cavity half-length (antero-posterior)
    az_up: float  # cavity height above the centre
    az_low_ant: float  # depth of the anterior/middle fossa floor below the centre
    az_low_post: float  # depth of the posterior fossa floor below the centre
    egg: float  # relative widening towards the back
    skull_mm: float
    scalp_mm: float
    csf_mm: float  # subarachnoid CSF film
    sulcal_depth_mm: float
    fissure_mm: float  # depth of the interhemispheric fissure
    tentorium_w: float  # tentorium height (w) at v = 10 mm, midline
    hu_table: float
    hu_diploe: float
    hu_scalp: float
    hu_fat: float
    fat_fraction: float
    hu_csf: float
    hu_gm: float
    hu_wm: float
    hu_deep_gm: float
    hu_cerebellum: float
    ventricle_scale: float
    ventricles: tuple[Ellipsoid, ...]
    nuclei: tuple[Ellipsoid, ...]
    calcifications: tuple[Ellipsoid, ...]
    calcification_hu: tuple[float, ...]
    posterior_fossa: Ellipsoid
    ipsi_ventricle_index: tuple[tuple[int, ...], tuple[int, ...]]  # (left ids, right ids)

    def layer_thickness(self, ex, ey, ez):
        """Skull and scalp thickness (mm) in the direction (ex, ey, ez) from the centre:
        thick frontal/occipital bone, thin temporal bone, thick temporalis muscle."""
        ex2, ey2 = ex * ex, ey * ey
        skull = np.float32(self.skull_mm) * (
            1 + 0.3 * ey2 - 0.35 * ex2 * (1 - ez * ez) + 0.15 * np.maximum(ez, 0)
        )
        scalp = np.float32(self.scalp_mm) * (1 + 1.2 * ex2 * np.clip(0.6 - ez, 0, 1))
        return skull, scalp

    def outer_surface_points(self, n: int = 1500) -> np.ndarray:
        """(n, 3) points (head coords, mm) on the skin surface, along a Fibonacci sphere of
        rays, to bound the head (1 mm radial accuracy)."""
        i = np.arange(n) + 0.5
        phi = np.arccos(1 - 2 * i / n)
        theta = math.pi * (1 + 5**0.5) * i
        d = np.stack([np.cos(theta) * np.sin(phi), np.sin(theta) * np.sin(phi), np.cos(phi)], 1)
        radii = np.arange(20.0, 160.0, 1.0)
        pts = (d[:, None, :] * radii[None, :, None]).astype(np.float32)
        dist, (ex, ey, ez), _ = self.cavity_distance(pts[..., 0], pts[..., 1], pts[..., 2])
        skull, scalp = self.layer_thickness(ex, ey, ez)
        outside = dist - skull - scalp > 0
        first = np.where(outside.any(axis=1), outside.argmax(axis=1), len(radii) - 1)
        return d * radii[first][:, None]

    # --- fields, usable on any head-coordinate arrays ----------------------------------------
    def cavity_distance(self, u, v, w):
        """Signed distance (mm) to the inner table (< 0 inside the cranial cavity), the unit
        direction (ex, ey, ez) from the centre, and the normal's direction in head coords."""
        sig = 1.0 / (1.0 + np.exp(-(v - np.float32(5.0)) / np.float32(12.0)))
        az_low = np.float32(self.az_low_ant) + np.float32(self.az_low_post - self.az_low_ant) * sig
        az = np.where(w >= 0, np.float32(self.az_up), az_low)
        ax = np.float32(self.ax) * (
            1 + np.float32(self.egg) * np.clip(v / np.float32(self.ay), -1, 1)
        )
        qx, qy, qz = u / ax, v * np.float32(1.0 / self.ay), w / az
        rho = np.sqrt(qx * qx + qy * qy + qz * qz) + np.float32(1e-6)
        gx, gy, gz = qx / ax, qy * np.float32(1.0 / self.ay), qz / az
        gnorm = np.sqrt(gx * gx + gy * gy + gz * gz) + np.float32(1e-9)
        dist = rho * (rho - 1) / gnorm
        return dist, (qx / rho, qy / rho, qz / rho), (gx / gnorm, gy / gnorm, gz / gnorm)

    def infratentorial_fraction(self, u, v, w, width_mm: float = 1.5):
        """Soft indicator (0..1) of the posterior fossa below the tentorium."""
        tent = (
            np.float32(self.tentorium_w) - np.float32(0.25) * (v - 10) - np.float32(0.004) * u * u
        )
        below = ramp(w - tent, width_mm)
        d_pf, _ = self.posterior_fossa.signed_distance(u, v, w, np.eye(3))
        return below * ramp(d_pf, width_mm)

    def parenchyma_fraction(self, u, v, w, width_mm: float = 1.0):
        """Soft indicator of brain tissue (inside the cavity, deeper than the CSF film + 1 mm)."""
        dist, _, _ = self.cavity_distance(u, v, w)
        return ramp(dist + np.float32(self.csf_mm + 1.0), width_mm)


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(rng.uniform(lo, hi))


def sample_anatomy(rng: np.random.Generator, config: PhantomConfig) -> Anatomy:
    """Draw one plausible adult head."""
    s = _u(rng, *config.head_scale)
    atrophy = float(rng.beta(1.6, 2.4))  # 0 young brain .. 1 marked atrophy
    sv = (0.75 + 0.85 * atrophy) * _u(rng, 0.85, 1.15)
    gm = _u(rng, 35.0, 40.0)
    wm_drop = _u(rng, 6, 10)
    ventricles, left, right = [], [], []
    for side in (1.0, -1.0):  # +u = patient's left
        ids = left if side > 0 else right
        yaw = rotation_matrix(side * 25.0, 0, 0)
        parts = [
            Ellipsoid(
                (side * (7 + 2 * sv) * s, -6 * s, 14 * s), (4 * sv + 1.5, 27 * s, 6 * sv + 1.5)
            ),
            Ellipsoid(
                (side * (15 + 2 * sv) * s, 26 * s, 8 * s),
                (5 * sv + 2, 13 * s + 2 * sv, 6 * sv + 1.5),
                yaw,
            ),
            Ellipsoid(
                (side * 27 * s, 2 * s, -16 * s),
                (2 * sv + 0.8, 13 * s, 2.2 * sv + 0.8),
                rotation_matrix(0, -20, 0),
            ),
        ]
        ids.extend(range(len(ventricles), len(ventricles) + len(parts)))
        ventricles.extend(parts)
    ventricles.append(Ellipsoid((0, 4 * s, 0), (1 + 1.2 * sv, 13 * s, 7 * s)))  # third
    ventricles.append(Ellipsoid((0, 36 * s, -36 * s), (5 + sv, 3.5 + sv, 6 * s)))  # fourth
    nuclei = []
    for side in (1.0, -1.0):
        nuclei += [
            Ellipsoid(
                (side * 23 * s, -1 * s, 2 * s),
                (5.5 * s, 13 * s, 9 * s),
                rotation_matrix(-side * 12, 0, 0),
            ),
            Ellipsoid((side * (12 + 2 * sv) * s, -16 * s, 10 * s), (4.5 * s, 7 * s, 8 * s)),
            Ellipsoid((side * 9 * s, 12 * s, 4 * s), (7 * s, 11 * s, 8 * s)),
        ]
    calcs, calc_hu = [], []
    want = config.calcifications
    if want is None or want:
        if want or rng.random() < 0.5:  # choroid plexus glomus, usually both sides
            for side in (1.0, -1.0):
                if want or side > 0 or rng.random() < 0.8:
                    r = _u(rng, 1.8, 3.2)
                    calcs.append(
                        Ellipsoid((side * (15 + 2 * sv) * s, 28 * s, 7 * s), (r, r * 1.2, r))
                    )
                    calc_hu.append(_u(rng, 150, 400))
        if want or rng.random() < 0.45:  # pineal gland
            r = _u(rng, 1.8, 3.5)
            calcs.append(Ellipsoid((0, 21 * s, 2 * s), (r, r, r)))
            calc_hu.append(_u(rng, 150, 400))
    return Anatomy(
        ax=67 * s * _u(rng, 0.95, 1.05),
        ay=84 * s * _u(rng, 0.95, 1.05),
        az_up=70 * s * _u(rng, 0.93, 1.05),
        az_low_ant=36 * s * _u(rng, 0.92, 1.08),
        az_low_post=62 * s * _u(rng, 0.95, 1.05),
        egg=_u(rng, 0.02, 0.08),
        skull_mm=_u(rng, 5.0, 8.0),
        scalp_mm=_u(rng, 3.5, 6.5),
        csf_mm=0.8 + 2.7 * atrophy,
        sulcal_depth_mm=2.0 + 6.0 * atrophy,
        fissure_mm=_u(rng, 25, 40) * s,
        tentorium_w=-10 * s,
        hu_table=_u(rng, 1150, 1500),
        hu_diploe=_u(rng, 700, 950),
        hu_scalp=_u(rng, 30, 45),
        hu_fat=_u(rng, -100, -70),
        fat_fraction=_u(rng, 0.2, 0.9),
        hu_csf=_u(rng, 2, 12),
        hu_gm=gm,
        hu_wm=gm - wm_drop,
        hu_deep_gm=gm - _u(rng, 0.5, 2.5),
        hu_cerebellum=gm - wm_drop / 2 + _u(rng, -1, 1),  # grey/white finely mixed
        ventricle_scale=sv,
        ventricles=tuple(ventricles),
        nuclei=tuple(nuclei),
        calcifications=tuple(calcs),
        calcification_hu=tuple(calc_hu),
        posterior_fossa=Ellipsoid((0, 35 * s, -40 * s), (55 * s, 45 * s, 30 * s)),
        ipsi_ventricle_index=(tuple(left), tuple(right)),
    )


def with_mass_effect(anatomy: Anatomy, side: float, volume_ml: float) -> Anatomy:
    """Shift the ventricles (and pineal/choroid calcifications) away from a supratentorial
    bleed on ``side`` (+1 left, -1 right) and compress the ipsilateral lateral ventricle;
    the midline shift grows with volume (0 below 15 ml, 10 mm from 65 ml)."""
    shift = min(10.0, max(0.0, (volume_ml - 15.0) * 0.2))
    squeeze = 1.0 - min(0.45, volume_ml / 200.0)
    ipsi = set(anatomy.ipsi_ventricle_index[0 if side > 0 else 1])
    moved = []
    for i, ell in enumerate(anatomy.ventricles):
        if i in ipsi:
            ell = ell.scaled((squeeze, 1.0, squeeze))
        if ell.center[2] > -25:  # the fourth ventricle stays in the posterior fossa
            ell = ell.moved(du=-side * shift * (1.0 if ell.center[2] > -5 else 0.5))
        moved.append(ell)
    # the pineal gland and the choroid plexus glomi travel with them (pineal shift)
    calcs = tuple(ell.moved(du=-side * shift) for ell in anatomy.calcifications)
    return replace(anatomy, ventricles=tuple(moved), calcifications=calcs)


def _band_noise(
    rng: np.random.Generator, shape: tuple[int, int], wavelength_px: float
) -> np.ndarray:
    """2-D band-pass noise with unit SD around ``wavelength_px`` (gyral pattern)."""
    white = rng.standard_normal(shape).astype(np.float32)
    sigma = max(wavelength_px / 4.0, 0.7)
    band = ndimage.gaussian_filter(white, sigma) - ndimage.gaussian_filter(white, 2 * sigma)
    return band / (band.std() + 1e-6)


@dataclass(frozen=True, eq=False)
class HeadRender:
    """The normal head on the grid: HU and the fractions other parts need."""

    hu: np.ndarray  # float32 (z, y, x)
    intracranial: np.ndarray  # bool: >= 50 % inside the inner table
    brain: np.ndarray  # fraction of brain tissue (not CSF, not bone)
    labels: np.ndarray  # uint8: 0 air, 1 scalp, 2 bone, 3 CSF, 4 brain (majority layer)


def render_head(
    grid: Grid, frame: HeadFrame, anatomy: Anatomy, rng: np.random.Generator
) -> HeadRender:
    """Scalp, skull, CSF film, cortex with gyri and sulci, white matter, cerebellum.

    Works in blocks of slices cropped to the head, so memory stays small at 512 x 512 and
    the arrays stay in cache.
    """
    nz, ny, nx = grid.shape
    h = grid.spacing_mm[1]
    fields = (_band_noise(rng, (ny, nx), 11.0 / h), _band_noise(rng, (ny, nx), 11.0 / h))
    hu = np.full(grid.shape, AIR_HU, dtype=np.float32)
    intracranial = np.zeros(grid.shape, dtype=bool)
    brain = np.zeros(grid.shape, dtype=np.float32)
    labels = np.zeros(grid.shape, dtype=np.uint8)
    extent = _head_extent(grid, frame, anatomy)
    pf = _pf_box(grid, frame, anatomy)
    step = max(1, 400_000 // (ny * nx))
    for k0 in range(0, nz, step):
        k1 = min(nz, k0 + step)
        rows = [extent[k] for k in range(k0, k1) if extent[k] is not None]
        if not rows:
            continue
        y0, x0 = min(r[0] for r in rows), min(r[2] for r in rows)
        y1, x1 = max(r[1] for r in rows), max(r[3] for r in rows)
        idx = (slice(k0, k1), slice(y0, y1), slice(x0, x1))
        with_pf = pf is not None and k0 < pf[1] and k1 > pf[0]
        hu[idx], intracranial[idx], brain[idx], labels[idx] = _head_block(
            grid, frame, anatomy, idx, (f[y0:y1, x0:x1] for f in fields), with_pf
        )
    return HeadRender(hu=hu, intracranial=intracranial, brain=brain, labels=labels)


def _head_extent(grid: Grid, frame: HeadFrame, anatomy: Anatomy) -> list[tuple | None]:
    """Per slice, the (y0, y1, x0, x1) pixel box holding the head (coarse pass), or None."""
    stride = 4
    ys, xs = grid.axis_mm(1)[::stride], grid.axis_mm(2)[::stride]
    u, v, w = frame.head_coords(grid.axis_mm(0), ys, xs)
    dist, _, _ = anatomy.cavity_distance(u, v, w)
    reach = 1.5 * anatomy.skull_mm + 2.3 * anatomy.scalp_mm + grid.spacing_mm[0] + 4.0
    inside = dist < reach
    out: list[tuple | None] = []
    ny, nx = grid.shape[1:]
    for plane in inside:
        r, c = np.nonzero(plane.any(axis=1))[0], np.nonzero(plane.any(axis=0))[0]
        if r.size == 0:
            out.append(None)
            continue
        out.append(
            (
                max(0, r[0] * stride - stride - 2),
                min(ny, r[-1] * stride + stride + 3),
                max(0, c[0] * stride - stride - 2),
                min(nx, c[-1] * stride + stride + 3),
            )
        )
    return out


def _head_block(grid, frame, a: Anatomy, idx, fields, with_pf: bool):
    """HU, intracranial and brain fractions of one block (slices x crop) of the grid."""
    t, h, _ = grid.spacing_mm
    zs, ys, xs = idx
    z_mm = grid.axis_mm(0, zs.start, zs.stop)
    u, v, w = frame.head_coords(
        z_mm, grid.axis_mm(1, ys.start, ys.stop), grid.axis_mm(2, xs.start, xs.stop)
    )
    dist, (ex, ey, ez), (nx, ny, nz) = a.cavity_distance(u, v, w)
    r = frame.rotation.astype(np.float32)
    nzg = r[2, 0] * nx + r[2, 1] * ny + r[2, 2] * nz
    width = ramp_width(nzg * nzg, h, t)
    skull, scalp = a.layer_thickness(ex, ey, ez)

    # gyri: 2-D band noise per slice, oscillating in z; thick slices average it (sinc)
    lam_z = 14.0
    field_a, field_b = fields
    phase = (2 * math.pi / lam_z) * z_mm
    gyri = (
        field_a[None] * np.cos(phase).astype(np.float32)[:, None, None]
        + field_b[None] * np.sin(phase).astype(np.float32)[:, None, None]
    ) * np.float32(np.sinc(t / lam_z))
    sulci = np.float32(a.sulcal_depth_mm) * np.clip((gyri - 0.6) * 1.5, 0, 1)
    # interhemispheric fissure above the corpus callosum / tentorium: a midline CSF wedge
    fissure = np.float32(a.fissure_mm) * np.exp(-((u * np.float32(1 / 1.3)) ** 2))
    fissure *= np.clip((w + 5) / 10, 0, 1)
    csf_edge = np.float32(a.csf_mm) + sulci + fissure
    cortex = np.clip(3.5 + 1.8 * gyri, 1.5, 7.0)

    in_skin = ramp(dist - skull - scalp, width)
    in_outer = ramp(dist - skull, width)
    in_inner = ramp(dist, width)
    in_brain = ramp(dist + csf_edge, width)
    in_wm = ramp(dist + csf_edge + cortex, width)

    depth = np.clip((dist - skull) / scalp, 0, 1)  # 0 at bone, 1 at skin
    fat = np.float32(a.fat_fraction) * np.clip(1 - np.abs(depth - 0.5) * 4, 0, 1)
    soft = np.float32(a.hu_scalp) + fat * np.float32(a.hu_fat - a.hu_scalp)
    s_bone = np.clip(dist / skull, 0, 1)
    diploe = np.clip((0.5 - np.abs(s_bone - 0.5)) * 5 - 0.9, 0, 1)
    bone = np.float32(a.hu_table) - diploe * np.float32(a.hu_table - a.hu_diploe)

    hu = in_skin * (soft - np.float32(AIR_HU))
    hu += np.float32(AIR_HU)
    hu += in_outer * (bone - soft)
    hu += in_inner * (np.float32(a.hu_csf) - bone)
    hu += in_brain * np.float32(a.hu_gm - a.hu_csf)
    hu += in_wm * np.float32(a.hu_wm - a.hu_gm)
    if with_pf:
        # cerebellum/brainstem: less grey-white contrast, fine folia averaged by the slice;
        # replace the grey/white mix of the brain fraction by cerebellar tissue
        infra = a.infratentorial_fraction(u, v, w)
        target = np.float32(a.hu_cerebellum) + np.float32(1.5) * gyri  # folia
        hu += infra * (
            in_brain * (target - np.float32(a.hu_gm)) - in_wm * np.float32(a.hu_wm - a.hu_gm)
        )
    labels = sum((f >= 0.5).view(np.uint8) for f in (in_skin, in_outer, in_inner, in_brain))
    return hu, in_inner >= 0.5, in_brain, labels


def _pf_box(grid: Grid, frame: HeadFrame, anatomy: Anatomy) -> tuple[int, int] | None:
    """Slice range (lo, hi) that can hold the posterior fossa."""
    pf = anatomy.posterior_fossa
    zc = frame.to_lps(np.asarray(pf.center))[2]
    reach = max(pf.radii) + 5.0
    z = grid.axis_mm(0)
    idx = np.nonzero(np.abs(z - zc) <= reach)[0]
    if idx.size == 0:
        return None
    return int(idx[0]), int(idx[-1]) + 1
