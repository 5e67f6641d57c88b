"""The one place where numpy (z, y, x) meets SimpleITK (x, y, z).

Everything that needs SimpleITK geometry (resampling, NIfTI output) goes through here so
the axis swap and the LPS conventions are written once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from ichmodel.volume import Volume

log = logging.getLogger(__name__)


def _sitk():  # lazy: SimpleITK is heavy and the device machine has none
    import SimpleITK as sitk

    return sitk


def array_to_image(array: np.ndarray, like: Volume):
    """A SimpleITK image of ``array`` (z, y, x) on the grid of ``like``."""
    sitk = _sitk()
    if array.shape != like.shape:
        raise ValueError(f"array shape {array.shape} differs from the volume's {like.shape}")
    image = sitk.GetImageFromArray(np.ascontiguousarray(array))
    sz, sy, sx = like.spacing_mm
    image.SetSpacing((float(sx), float(sy), float(sz)))
    image.SetOrigin(tuple(float(v) for v in like.origin_mm))
    image.SetDirection(tuple(float(v) for v in like.direction))
    return image


def volume_to_image(volume: Volume):
    """The volume's HU as a SimpleITK float32 image with its geometry."""
    return array_to_image(volume.hu, volume)


def image_to_volume(image, template: Volume | None = None, **kwargs) -> Volume:
    """A :class:`Volume` from a SimpleITK image; metadata/warnings from ``template`` or kwargs."""
    sitk = _sitk()
    hu = sitk.GetArrayFromImage(image).astype(np.float32, copy=False)
    sx, sy, sz = image.GetSpacing()
    fields = dict(
        hu=hu,
        spacing_mm=(float(sz), float(sy), float(sx)),
        origin_mm=tuple(float(v) for v in image.GetOrigin()),
        direction=tuple(float(v) for v in image.GetDirection()),
    )
    if template is not None:
        fields.update(meta=template.meta, notices=template.notices)
    fields.update(kwargs)
    return Volume(**fields)


def write_nifti(path: str | Path, volume: Volume, array: np.ndarray | None = None) -> Path:
    """Write ``array`` (default: the HU) on the volume's grid as NIfTI (.nii or .nii.gz).

    SimpleITK converts LPS to NIfTI's RAS affine itself, so the file opens aligned in
    3D Slicer, ITK-SNAP and nibabel. Boolean masks are stored as uint8.
    """
    sitk = _sitk()
    data = volume.hu if array is None else array
    if data.dtype == bool:
        data = data.astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(array_to_image(data, volume), str(path), useCompression=True)
    log.info("wrote %s", path)
    return path


def read_nifti(path: str | Path) -> Volume:
    """Read a NIfTI file written by :func:`write_nifti` back into a Volume (float32)."""
    sitk = _sitk()
    image = sitk.Cast(sitk.ReadImage(str(path)), sitk.sitkFloat32)
    return image_to_volume(image)
