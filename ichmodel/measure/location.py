"""Where the hematoma is: supra- vs infratentorial, deep vs lobar (see also :mod:`.ivh`).

**Best effort, from image geometry alone** (no atlas, no registration). Everything is
expressed relative to the intracranial region found by :mod:`ichmodel.measure.brain`:

* Relative height h in [0, 1] from the lowest to the highest slice of the region (using the
  Volume's direction to know which way is up). Infratentorial (posterior fossa: cerebellum,
  brainstem) = centroid below ``TENTORIUM_HEIGHT`` and behind the region's centre; the
  tentorium lies roughly a third of the way up a skull-base-to-vertex head CT.
* Deep (basal ganglia, thalamus, internal capsule) = centroid near the centre of its slice's
  intracranial outline (elliptic radius < ``DEEP_RADIUS``); lobar = farther out.
* The midline: per slice, the region's centroid; its direction, the long (antero-posterior)
  principal axis of the whole region (heads are longer than wide), so a head turned a few
  degrees in the scanner is mirrored correctly by :mod:`.ivh`.

On a volume whose direction is not close to axial, locations are reported as unknown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ichmodel.measure import _morph

log = logging.getLogger(__name__)

#: In-plane grid (mm) on which head geometry and ventricles are computed (speed).
FRAME_MM = 1.5
TENTORIUM_HEIGHT = 0.33
#: Midline dural structures (see :func:`midline_sheets`), mm.
DURAL_OFFSET_MM = 4.0
DURAL_WIDTH_MM = 10.0
DEEP_RADIUS = 0.5


@dataclass(frozen=True)
class Orientation:
    """Signs telling which way the array axes point; ``axial`` False when we cannot tell."""

    superior: int  # +1: increasing z index goes up (superior), -1 down
    posterior: int  # +1: increasing y index goes to the back
    left: int  # +1: increasing x index goes to the patient's left
    axial: bool


def orientation_from_direction(direction: tuple[float, ...]) -> Orientation:
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    x_axis, y_axis, z_axis = d[:, 0], d[:, 1], d[:, 2]
    axial = abs(z_axis[2]) >= 0.7 and abs(y_axis[1]) >= 0.5 and abs(x_axis[0]) >= 0.5
    sign = lambda v: 1 if v >= 0 else -1  # noqa: E731
    return Orientation(sign(z_axis[2]), sign(y_axis[1]), sign(x_axis[0]), bool(axial))


@dataclass(frozen=True, eq=False)
class HeadFrame:
    """HU-range independent geometry of the intracranial crop (see the module doc)."""

    height: np.ndarray  # (z,) relative height of each crop slice, 0 = lowest, 1 = highest
    centre_yx: np.ndarray  # (z, 2) in-plane centre of the region on each slice (pixels)
    half_yx: np.ndarray  # (z, 2) in-plane half extents (pixels), >= 1
    region_centre_y: float  # the region's overall AP centre (pixels)
    midline_x: float  # pixels
    centroid_yx: np.ndarray  # (z, 2) centroid of the region on each slice (pixels)
    ap_axis_mm: np.ndarray  # (2,) unit (dy, dx) in mm: the head's antero-posterior axis
    spacing_mm: tuple[float, float, float]
    orientation: Orientation

    def elliptic_radius(self, shape: tuple[int, int, int], f: int = 1) -> np.ndarray:
        """Per voxel of a grid reduced in-plane by ``f``: the elliptic radius relative to its
        slice's outline (0 centre, 1 edge)."""
        return _elliptic_radius(shape, (self.centre_yx - (f - 1) / 2.0) / f, self.half_yx / f)

    def across_mm(self, z: np.ndarray, yx: np.ndarray) -> np.ndarray:
        """Signed distance (mm) from the midline plane of in-plane points ``yx`` ((n, 2) crop
        pixels, float or int) on slices ``z`` ((n,) int)."""
        normal = np.array([-self.ap_axis_mm[1], self.ap_axis_mm[0]])  # left-right unit (mm)
        return ((yx - self.centroid_yx[z]) * self.spacing_mm[1:]) @ normal

    def mirror_yx(self, zyx: np.ndarray) -> np.ndarray:
        """Mirror (n, 3) integer (z, y, x) voxel indices across the midline; (n, 2) float y, x."""
        sy, sx = self.spacing_mm[1:]
        c = self.centroid_yx[zyx[:, 0]]
        p = (zyx[:, 1:] - c) * (sy, sx)
        d = self.ap_axis_mm
        along = p @ d
        mirrored = 2.0 * along[:, None] * d[None, :] - p
        return c + mirrored / (sy, sx)


def build_frame(
    inside: np.ndarray,
    spacing_mm: tuple[float, float, float],
    orientation: Orientation,
) -> HeadFrame:
    """Head geometry of the intracranial crop (computed on a ~``FRAME_MM`` in-plane grid)."""
    f = max(1, int(round(FRAME_MM / min(spacing_mm[1:]))))
    inside_c = _morph.block_mean(inside.astype(np.float32), 1, f) >= 0.5
    nz = inside_c.shape[0]
    area = inside_c.reshape(nz, -1).sum(axis=1).astype(float)
    z_idx = np.arange(nz, dtype=float)
    solid = np.flatnonzero(area >= 0.1 * area.max()) if area.max() > 0 else np.arange(nz)
    lo, hi = float(solid[0]), float(solid[-1])
    height = np.clip((z_idx - lo) / max(hi - lo, 1.0), 0.0, 1.0)
    if orientation.superior < 0:
        height = 1.0 - height
    centre = np.zeros((nz, 2))
    half = np.ones((nz, 2))
    centroid = np.zeros((nz, 2))
    for k in range(nz):
        if area[k] == 0:
            continue
        ys = np.flatnonzero(inside_c[k].any(axis=1))
        xs = np.flatnonzero(inside_c[k].any(axis=0))
        centre[k] = ((ys[0] + ys[-1]) / 2.0, (xs[0] + xs[-1]) / 2.0)
        half[k] = (max(1.0, (ys[-1] - ys[0]) / 2.0), max(1.0, (xs[-1] - xs[0]) / 2.0))
        centroid[k] = ndi.center_of_mass(inside_c[k])
    empty = area == 0
    if empty.any():  # slices without region borrow the nearest geometry
        full_idx = np.flatnonzero(~empty)
        nearest = full_idx[np.abs(z_idx[:, None] - full_idx[None, :]).argmin(axis=1)]
        centre, half, centroid = centre[nearest], half[nearest], centroid[nearest]
    weights = area / area.sum()
    region_centre_y = float((centre[:, 0] * weights).sum())
    midline_x = float((centre[:, 1] * weights).sum())
    ap_axis = _ap_axis(inside_c, centroid, (spacing_mm[1] * f, spacing_mm[2] * f))
    # Back to the crop's pixel units (block k covers pixels k*f .. k*f + f - 1).
    to_crop = lambda a: a * f + (f - 1) / 2.0  # noqa: E731
    return HeadFrame(
        height=height,
        centre_yx=to_crop(centre),
        half_yx=half * f,
        region_centre_y=float(to_crop(region_centre_y)),
        midline_x=float(to_crop(midline_x)),
        centroid_yx=to_crop(centroid),
        ap_axis_mm=ap_axis,
        spacing_mm=tuple(float(s) for s in spacing_mm),  # type: ignore[arg-type]
        orientation=orientation,
    )


def _ap_axis(inside: np.ndarray, centroid: np.ndarray, spacing_yx) -> np.ndarray:
    """Unit (dy, dx) of the region's long in-plane principal axis, pointing along +y."""
    zyx = np.argwhere(inside)
    if len(zyx) > 200_000:
        zyx = zyx[:: len(zyx) // 200_000 + 1]
    p = (zyx[:, 1:] - centroid[zyx[:, 0]]) * np.asarray(spacing_yx)
    cov = p.T @ p
    values, vectors = np.linalg.eigh(cov)
    axis = vectors[:, int(np.argmax(values))]
    if abs(axis[0]) < abs(axis[1]):  # wider than long: not a usual head; assume the y axis
        return np.array([1.0, 0.0])
    return axis if axis[0] > 0 else -axis


def _elliptic_radius(shape, centre: np.ndarray, half: np.ndarray) -> np.ndarray:
    _, ny, nx = shape
    yy = np.arange(ny, dtype=np.float32)[None, :, None]
    xx = np.arange(nx, dtype=np.float32)[None, None, :]
    cy, cx = centre[:, 0, None, None], centre[:, 1, None, None]
    hy, hx = half[:, 0, None, None], half[:, 1, None, None]
    return np.sqrt(((yy - cy) / hy) ** 2 + ((xx - cx) / hx) ** 2).astype(np.float32)


def classify_site(
    mask: np.ndarray, frame: HeadFrame, offset_zyx: tuple[int, int, int] = (0, 0, 0)
) -> tuple[str, str]:
    """(site, description) of a hematoma mask lying at ``offset_zyx`` in the frame's crop.

    ``site`` is one of ichmodel.measure.SITES, or "unknown" for a non-axial series.
    """
    if not mask.any():
        return "none", "no hematoma"
    zc, yc, xc = (c + o for c, o in zip(ndi.center_of_mass(mask), offset_zyx, strict=True))
    return classify_centroid((zc, yc, xc), frame)


def classify_centroid(
    centroid_zyx: tuple[float, float, float], frame: HeadFrame
) -> tuple[str, str]:
    """(site, description) of a hematoma whose centroid is at ``centroid_zyx`` (crop index)."""
    if not frame.orientation.axial:
        return "unknown", "location not judged: the series is not axial"
    zc, yc, xc = centroid_zyx
    k = min(max(int(round(zc)), 0), len(frame.height) - 1)
    h = float(np.interp(zc, np.arange(len(frame.height)), frame.height))
    cy, cx = frame.centre_yx[k]
    hy, hx = frame.half_yx[k]
    radius = float(np.hypot((yc - cy) / hy, (xc - cx) / hx))
    posterior = (yc - frame.region_centre_y) * frame.orientation.posterior > 0
    lateral = (xc - frame.midline_x) * frame.orientation.left
    side = (
        "midline" if abs(xc - frame.midline_x) < 0.1 * hx else ("left" if lateral > 0 else "right")
    )
    if h < TENTORIUM_HEIGHT and posterior:
        site, words = "infratentorial", "infratentorial (posterior fossa)"
    elif radius < DEEP_RADIUS:
        site, words = "deep", "supratentorial, deep (basal ganglia / thalamus)"
    else:
        site, words = "lobar", "supratentorial, lobar"
    log.debug("site %s: height %.2f radius %.2f side %s", site, h, radius, side)
    return site, f"{side} {words}" if side != "midline" else f"midline {words}"


def midline_sheets(labels: np.ndarray, n: int, frame: HeadFrame) -> np.ndarray:
    """Per label (bool, index 0 unused): a narrow region hugging the midline plane, at most
    ``DURAL_WIDTH_MM`` across it and centred within ``DURAL_OFFSET_MM`` of it: the falx seen
    edge-on, the superior sagittal and straight sinuses. A midline hematoma of 1 ml or more
    (vermis, pons) is wider."""
    drop = np.zeros(n + 1, dtype=bool)
    if n == 0 or not frame.orientation.axial:
        return drop
    sy, sx = frame.spacing_mm[1:]
    for i, box in enumerate(ndi.find_objects(labels, max_label=n), start=1):
        if box is None:
            continue
        zyx = _morph.label_voxels(labels, i, box)
        across = frame.across_mm(zyx[:, 0], zyx[:, 1:])
        width = float(across.max() - across.min()) + max(sy, sx)
        drop[i] = abs(float(np.median(across))) <= DURAL_OFFSET_MM and width <= DURAL_WIDTH_MM
    return drop
