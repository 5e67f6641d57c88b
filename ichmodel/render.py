"""Composite one axial slice in numpy (no Qt): window, heatmap, contour, lines.

Used by the PDF report (``ichviewer.report``) and the DICOM key images (:mod:`ichmodel.dicom_out`).

:func:`render_slice` resamples the slice onto square pixels (so the picture has the true aspect
ratio from the pixel spacing), maps HU through a display window (brain 40/80 HU by default),
blends a Grad-CAM map through a colormap at the given opacity, and draws the hematoma contour
and the ABC/2 diameters on top. Row 0 is at the top and column 0 on the left, as the viewer
shows it (radiological convention for an LPS axial series: the patient's right on the left).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ichmodel.volume import Volume

BRAIN_WINDOW_HU = (40.0, 80.0)
# The colours the viewer draws with too (ichviewer.widgets.slice_items, edit_tools), so the
# report shows what the reader saw on screen.
CONTOUR_RGB = (0, 230, 118)
#: The outline of the blood counted as intraventricular (apart from the hematoma's green).
IVH_RGB = (64, 156, 255)
#: The outline of hematomas the reader excluded from the volume (dashed).
EXCLUDED_RGB = (224, 64, 251)  # violet: stands out on the inferno heatmap, unlike orange
A_SEGMENT_RGB = (255, 196, 0)
B_SEGMENT_RGB = (0, 200, 255)
#: The reader's rulers (pink) and elliptical ROIs (violet): apart from the contour and A/B.
RULER_RGB = (255, 110, 199)
ROI_RGB = (186, 148, 255)
#: Grad-CAM values under this are fully transparent; the opacity ramps up to full by CAM_FULL.
CAM_FLOOR = 0.2
CAM_FULL = 0.65

# Colormaps as anchor colours at evenly spaced positions in [0, 1] (linear interpolation).
_COLORMAPS: dict[str, tuple[tuple[int, int, int], ...]] = {
    "inferno": (
        (0, 0, 4), (40, 11, 84), (101, 21, 110), (159, 42, 99),
        (212, 72, 66), (245, 125, 21), (250, 193, 39), (252, 255, 164),
    ),
    "jet": (
        (0, 0, 128), (0, 0, 255), (0, 128, 255), (0, 255, 255),
        (128, 255, 128), (255, 255, 0), (255, 128, 0), (255, 0, 0), (128, 0, 0),
    ),
    "hot": ((0, 0, 0), (230, 0, 0), (255, 210, 0), (255, 255, 255)),
    "viridis": (
        (68, 1, 84), (70, 50, 126), (54, 92, 141), (39, 127, 142),
        (31, 161, 135), (74, 193, 109), (160, 218, 57), (253, 231, 37),
    ),
}  # fmt: skip


def colormap_names() -> tuple[str, ...]:
    return tuple(_COLORMAPS)


@dataclass(frozen=True, eq=False)
class RenderedSlice:
    """An RGB picture of one slice on square pixels of ``pixel_mm`` (uint8, (rows, cols, 3))."""

    rgb: np.ndarray
    slice_index: int
    pixel_mm: float

    @property
    def height_mm(self) -> float:
        return self.rgb.shape[0] * self.pixel_mm

    @property
    def width_mm(self) -> float:
        return self.rgb.shape[1] * self.pixel_mm


def window_to_unit(hu: np.ndarray, center_hu: float, width_hu: float) -> np.ndarray:
    """HU through a display window (center/width, HU) to grey levels in [0, 1] (float32)."""
    low = center_hu - width_hu / 2.0
    return np.clip((np.asarray(hu, dtype=np.float32) - low) / float(width_hu), 0.0, 1.0)


def apply_colormap(values: np.ndarray, name: str = "inferno") -> np.ndarray:
    """Values in [0, 1] to RGB in [0, 1] (float32, shape + (3,)) through a named colormap."""
    try:
        anchors = np.asarray(_COLORMAPS[name], dtype=np.float32) / 255.0
    except KeyError:
        raise ValueError(
            f"unknown colormap {name!r}; choose one of {', '.join(_COLORMAPS)}"
        ) from None
    values = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float32)), 0.0, 1.0)
    positions = np.linspace(0.0, 1.0, len(anchors))
    return np.stack(
        [np.interp(values, positions, anchors[:, c]).astype(np.float32) for c in range(3)],
        axis=-1,
    )


def mask_outline(mask: np.ndarray, thickness_px: int = 1) -> np.ndarray:
    """The boundary pixels of a 2-D boolean mask (inside the mask), ``thickness_px`` wide."""
    from scipy import ndimage

    mask = np.asarray(mask, dtype=bool)
    if not mask.any():
        return np.zeros_like(mask)
    eroded = ndimage.binary_erosion(mask, iterations=max(1, thickness_px), border_value=0)
    return mask & ~eroded


def resample_grid(
    shape_yx: tuple[int, int], spacing_yx: tuple[float, float], max_side_px: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """Source (row, col) coordinates of a square-pixel output grid covering the slice."""
    ny, nx = shape_yx
    sy, sx = spacing_yx
    height_mm, width_mm = ny * sy, nx * sx
    pixel_mm = max(height_mm, width_mm) / float(max_side_px)
    rows = max(1, int(round(height_mm / pixel_mm)))
    cols = max(1, int(round(width_mm / pixel_mm)))
    src_r = (np.arange(rows) + 0.5) * pixel_mm / sy - 0.5
    src_c = (np.arange(cols) + 0.5) * pixel_mm / sx - 0.5
    return src_r, src_c, pixel_mm


def head_bbox_yx(
    volume: Volume, threshold_hu: float = -300.0, margin_mm: float = 5.0
) -> tuple[int, int, int, int] | None:
    """In-plane box (row start, row stop, column start, column stop) holding everything above
    ``threshold_hu`` (the head, and the table) on any slice, grown by ``margin_mm``; None when
    nothing is above it. Cropping the air around the head makes the anatomy larger on paper."""
    above = np.asarray(volume.hu > threshold_hu).any(axis=0)
    if not above.any():
        return None
    rows = np.flatnonzero(above.any(axis=1))
    cols = np.flatnonzero(above.any(axis=0))
    _, sy, sx = volume.spacing_mm
    my, mx = int(np.ceil(margin_mm / sy)), int(np.ceil(margin_mm / sx))
    ny, nx = volume.shape[1:]
    return (
        max(0, int(rows[0]) - my),
        min(ny, int(rows[-1]) + 1 + my),
        max(0, int(cols[0]) - mx),
        min(nx, int(cols[-1]) + 1 + mx),
    )


def sample_image(
    image: np.ndarray, src_r: np.ndarray, src_c: np.ndarray, order: int
) -> np.ndarray:
    from scipy import ndimage

    rr, cc = np.meshgrid(src_r, src_c, indexing="ij")
    return ndimage.map_coordinates(
        np.asarray(image, dtype=np.float32), [rr, cc], order=order, mode="nearest"
    )


def _draw_line(
    rgb: np.ndarray, start_rc: tuple[float, float], end_rc: tuple[float, float],
    colour: tuple[int, int, int], half_width: int,
) -> None:  # fmt: skip
    """Draw a straight line (output pixel coordinates) into ``rgb`` in place."""
    length = float(np.hypot(end_rc[0] - start_rc[0], end_rc[1] - start_rc[1]))
    n = max(2, int(np.ceil(length * 2)) + 1)
    rows = np.rint(np.linspace(start_rc[0], end_rc[0], n)).astype(int)
    cols = np.rint(np.linspace(start_rc[1], end_rc[1], n)).astype(int)
    h, w = rgb.shape[:2]
    for dr in range(-half_width, half_width + 1):
        for dc in range(-half_width, half_width + 1):
            r, c = rows + dr, cols + dc
            ok = (r >= 0) & (r < h) & (c >= 0) & (c < w)
            rgb[r[ok], c[ok]] = colour


def render_slice(
    volume: Volume,
    slice_index: int,
    *,
    hematoma_mask: np.ndarray | None = None,
    excluded_mask: np.ndarray | None = None,
    ivh_mask: np.ndarray | None = None,
    cam: np.ndarray | None = None,
    heatmap_opacity: float = 0.4,
    window_hu: tuple[float, float] = BRAIN_WINDOW_HU,
    colormap: str = "inferno",
    segments_zyx: Sequence[tuple[Sequence[Sequence[float]], tuple[int, int, int]]] = (),
    max_side_px: int = 512,
    crop_yx: tuple[int, int, int, int] | None = None,
) -> RenderedSlice:
    """Render axial slice ``slice_index`` of ``volume`` as an RGB picture with overlays.

    ``hematoma_mask`` (bool, (z, y, x)) is drawn as a green outline, ``excluded_mask`` (the
    hematomas a reader excluded) as a dashed violet one, ``ivh_mask`` (the blood counted as
    intraventricular) as a blue one; ``cam`` (float in [0, 1],
    (z, y, x) on the volume grid) is blended through ``colormap`` with alpha
    ``heatmap_opacity`` where the map is high (transparent below :data:`CAM_FLOOR`);
    ``segments_zyx`` are (segment, RGB colour) pairs, a segment being ((z, y, x), (z, y, x)) in
    voxel indices; each is drawn when it lies on this slice. ``window_hu`` is (center, width) in HU.
    """
    n_z = volume.shape[0]
    if not 0 <= slice_index < n_z:
        raise ValueError(f"slice_index {slice_index} is outside the volume's 0..{n_z - 1}")
    if not 0.0 <= heatmap_opacity <= 1.0:
        raise ValueError(f"heatmap_opacity is a fraction in [0, 1], got {heatmap_opacity}")
    _, sy, sx = volume.spacing_mm
    r0, r1, c0, c1 = crop_yx if crop_yx is not None else (0, volume.shape[1], 0, volume.shape[2])
    if not (0 <= r0 < r1 <= volume.shape[1] and 0 <= c0 < c1 <= volume.shape[2]):
        raise ValueError(f"crop_yx {crop_yx} is outside the slice's {volume.shape[1:]} pixels")
    window = np.s_[r0:r1, c0:c1]
    src_r, src_c, pixel_mm = resample_grid((r1 - r0, c1 - c0), (sy, sx), max_side_px)

    grey = window_to_unit(sample_image(volume.hu[slice_index][window], src_r, src_c, 1), *window_hu)
    rgb = np.repeat(grey[..., None], 3, axis=-1)

    if cam is not None and heatmap_opacity > 0:
        cam = np.asarray(cam)
        if cam.shape != volume.shape:
            raise ValueError(f"cam shape {cam.shape} differs from the volume's {volume.shape}")
        cam_slice = np.clip(sample_image(cam[slice_index][window], src_r, src_c, 1), 0.0, 1.0)
        ramp = np.clip((cam_slice - CAM_FLOOR) / (CAM_FULL - CAM_FLOOR), 0.0, 1.0)
        alpha = (heatmap_opacity * ramp)[..., None]
        rgb = (1.0 - alpha) * rgb + alpha * apply_colormap(cam_slice, colormap)

    out = np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)
    thickness = max(1, int(round(max(out.shape[:2]) / 300.0)))

    def outline_of(mask: np.ndarray, name: str) -> np.ndarray:
        mask = np.asarray(mask)
        if mask.shape != volume.shape:
            raise ValueError(f"{name} mask shape {mask.shape} differs from the volume's "
                             f"{volume.shape}")
        plane = sample_image(mask[slice_index][window].astype(np.float32), src_r, src_c, 0)
        return mask_outline(plane > 0.5, thickness)

    if ivh_mask is not None:
        out[outline_of(ivh_mask, "IVH")] = IVH_RGB
    if hematoma_mask is not None:
        out[outline_of(hematoma_mask, "hematoma")] = CONTOUR_RGB
    if excluded_mask is not None:
        outline = outline_of(excluded_mask, "excluded")
        rr, cc = np.indices(outline.shape)
        dash = max(3, 3 * thickness)  # dashes of ~3 outline pixels along both axes
        out[outline & (((rr + cc) // dash) % 2 == 0)] = EXCLUDED_RGB

    for segment, colour in segments_zyx:
        (z0, y0, x0), (z1, y1, x1) = segment
        if int(round(z0)) != slice_index and int(round(z1)) != slice_index:
            continue
        start = ((y0 - r0 + 0.5) * sy / pixel_mm - 0.5, (x0 - c0 + 0.5) * sx / pixel_mm - 0.5)
        end = ((y1 - r0 + 0.5) * sy / pixel_mm - 0.5, (x1 - c0 + 0.5) * sx / pixel_mm - 0.5)
        _draw_line(out, start, end, colour, max(0, thickness // 2))

    return RenderedSlice(rgb=out, slice_index=int(slice_index), pixel_mm=float(pixel_mm))
