"""Test helper: tiny synthetic CT series, and ways to break them like real exports break.

Everything here is small (a few slices of 16-32 pixels) so tests stay fast.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pydicom

from ichmodel.io.write import write_dicom_series
from ichmodel.volume import SeriesMeta, Volume

AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def make_volume(
    shape: tuple[int, int, int] = (6, 16, 20),
    spacing_mm: tuple[float, float, float] = (2.5, 0.6, 0.5),
    *,
    seed: int = 0,
    origin_mm: tuple[float, float, float] = (-5.0, -4.0, 30.0),
    direction: Sequence[float] = AXIAL,
    description: str = "HEAD STD 2.5mm",
    kernel: str = "STANDARD",
    **meta: object,
) -> Volume:
    """A volume of integer HU (what DICOM int16 storage round-trips exactly)."""
    rng = np.random.default_rng(seed)
    hu = rng.integers(-1024, 1500, size=shape).astype(np.float32)
    fields = dict(
        patient_name="Test^Patient",
        patient_id="T0001",
        series_description=description,
        kernel=kernel,
        body_part="HEAD",
        slice_thickness_mm=spacing_mm[0],
    )
    fields.update(meta)
    return Volume(
        hu=hu,
        spacing_mm=spacing_mm,
        origin_mm=origin_mm,
        direction=tuple(direction),
        meta=SeriesMeta(**fields),  # type: ignore[arg-type]
    )


def sphere_volume(
    radius_mm: float = 15.0,
    shape: tuple[int, int, int] = (20, 48, 48),
    spacing_mm: tuple[float, float, float] = (2.0, 0.8, 0.8),
    *,
    inside_hu: float = 60.0,
    outside_hu: float = 0.0,
    direction: Sequence[float] = AXIAL,
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
    center_zyx_mm: tuple[float, float, float] | None = None,
    supersample: int = 4,
) -> tuple[Volume, float]:
    """A sphere with partial-volume edges, sampled on the (possibly sheared) grid.

    Voxel (k, j, i) sits at ``origin + D @ (i*sx, j*sy, k*sz)`` with D the direction matrix;
    a non-orthogonal D (third column the stacking direction) makes a gantry-tilted stack.
    Returns the volume and the sphere's exact volume in ml. Thresholding at the mid HU gives
    the volume within ~1%.
    """
    nz, ny, nx = shape
    sz, sy, sx = spacing_mm
    d = np.asarray(direction, dtype=float).reshape(3, 3)
    origin = np.asarray(origin_mm, dtype=float)
    if center_zyx_mm is None:
        center_idx = np.array([(nx - 1) * sx / 2, (ny - 1) * sy / 2, (nz - 1) * sz / 2])
        center = origin + d @ center_idx
    else:
        cz, cy, cx = center_zyx_mm
        center = np.array([cx, cy, cz])
    frac = np.zeros(shape, dtype=np.float32)
    offsets = (np.arange(supersample) + 0.5) / supersample - 0.5
    k, j, i = np.meshgrid(np.arange(nz), np.arange(ny), np.arange(nx), indexing="ij")
    for oz in offsets:
        for oy in offsets:
            for ox in offsets:
                idx_mm = np.stack([(i + ox) * sx, (j + oy) * sy, (k + oz) * sz], axis=-1)
                p = origin + idx_mm @ d.T
                frac += (np.linalg.norm(p - center, axis=-1) <= radius_mm).astype(np.float32)
    frac /= supersample**3
    hu = np.rint(outside_hu + (inside_hu - outside_hu) * frac).astype(np.float32)
    volume = Volume(
        hu=hu,
        spacing_mm=spacing_mm,
        origin_mm=tuple(float(v) for v in origin),  # type: ignore[arg-type]
        direction=tuple(float(v) for v in d.ravel()),
        meta=SeriesMeta(series_description="sphere", kernel="STANDARD", body_part="HEAD"),
    )
    return volume, 4.0 / 3.0 * np.pi * radius_mm**3 / 1000.0


def tilted_direction(tilt_deg: float) -> tuple[float, ...]:
    """Columns: row (1,0,0), column tilted about x, stacking along +z (a sheared grid)."""
    t = np.radians(tilt_deg)
    col = np.array([0.0, np.cos(t), -np.sin(t)])
    m = np.column_stack([[1.0, 0.0, 0.0], col, [0.0, 0.0, 1.0]])
    return tuple(float(v) for v in m.ravel())


def write(folder: Path, volume: Volume | None = None, **kwargs: object) -> list[Path]:
    """Write ``volume`` (default :func:`make_volume`) as a DICOM series into ``folder``."""
    return write_dicom_series(volume if volume is not None else make_volume(), folder, **kwargs)


def retag(paths: Sequence[Path], **tags: object) -> None:
    """Set (or with value None delete) DICOM keywords in each file, in place."""
    for path in paths:
        ds = pydicom.dcmread(path)
        for keyword, value in tags.items():
            if value is None:
                if keyword in ds:
                    delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        ds.save_as(path)


def make_localizer(folder: Path, seed: int = 1) -> list[Path]:
    paths = write(folder, make_volume((1, 16, 20), seed=seed, description="Topogram"))
    retag(paths, ImageType=["ORIGINAL", "PRIMARY", "LOCALIZER"])
    return paths


def make_derived(folder: Path, seed: int = 2) -> list[Path]:
    paths = write(folder, make_volume((3, 16, 20), seed=seed, description="Exam Summary"))
    retag(
        paths,
        ImageType=["DERIVED", "SECONDARY", "SCREEN SAVE"],
        SOPClassUID="1.2.840.10008.5.1.4.1.1.7",
        PixelSpacing=None,
    )
    return paths


def make_mr(folder: Path, seed: int = 3) -> list[Path]:
    paths = write(folder, make_volume((5, 16, 20), seed=seed, description="T2 AX"))
    retag(paths, Modality="MR", SOPClassUID="1.2.840.10008.5.1.4.1.1.4")
    return paths


def random_bytes_file(path: Path, n: int = 4096, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(seed).bytes(n))
    return path


def truncate(path: Path, keep_fraction: float = 0.5) -> Path:
    """Cut the file to a fraction of its size (an interrupted copy)."""
    size = os.path.getsize(path)
    with open(path, "r+b") as handle:
        handle.truncate(int(size * keep_fraction))
    return path


def shorten_pixel_data(path: Path, keep_bytes: int | None = None) -> Path:
    """A well-formed file whose PixelData is shorter than Rows x Columns x 2 bytes."""
    ds = pydicom.dcmread(path)
    data = ds.PixelData
    keep = len(data) // 2 if keep_bytes is None else keep_bytes
    ds.PixelData = data[: keep - keep % 2]
    ds.save_as(path)
    return path


def make_dicomdir(folder: Path, sources: Sequence[Path]) -> tuple[Path, list[Path]]:
    """A DICOMDIR (pydicom FileSet) over copies of ``sources`` in ``folder``.

    Returns the DICOMDIR path and the copied image paths.
    """
    from pydicom.fileset import FileSet

    fs = FileSet()
    for src in sources:
        fs.add(pydicom.dcmread(src))
    fs.write(folder)
    dicomdir = folder / "DICOMDIR"
    images = [Path(inst.path) for inst in FileSet(pydicom.dcmread(dicomdir))]
    return dicomdir, images
