"""The paper's preprocessing, with the way back to the :class:`~ichmodel.volume.Volume` grid.

1. Crop the blank space around the head: the bounding box of the head in ``hu >
   head_threshold_hu`` (raw HU, *not* the brain window, so the skull and scalp count), plus
   ``margin_mm``. The head is the largest connected component on a coarse grid
   (majority-downsampled to ``component_grid`` voxels a side, then eroded in-plane by one coarse
   voxel so thin head holders and tables touching it split off); the box is then taken on the
   full grid, from the tissue inside the head's in-plane footprint (grown back: an opening).
2. Clip to the brain window [40, 110] HU and scale to [0, 1].
3. Resize to ``output_shape`` (32, 224, 224) (z, y, x) with (tri)linear interpolation,
   ``align_corners=False``. With ``antialias`` an odd box filter (stride 1, so the grid does not
   move) is applied first along axes shrunk by a factor >= 2 (e.g. thin-slice studies in z) -
   a departure from the paper that keeps small bleeds from falling between sampled slices.

Every parameter lives in the frozen :class:`PreprocessConfig` that checkpoints store. The result,
:class:`ModelInput`, remembers the crop box and the volume's shape, so
:meth:`ModelInput.to_volume_grid` puts a model-resolution map (a CAM, a mask) on exactly the
voxels of the original study. Only numpy and torch are used (no SimpleITK/scipy).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ichmodel import notices
from ichmodel.notices import Notice, Source, texts

log = logging.getLogger(__name__)

CropBox = tuple[tuple[int, int], tuple[int, int], tuple[int, int]]


@dataclass(frozen=True)
class PreprocessConfig:
    """Parameters of :func:`preprocess` (saved inside every checkpoint)."""

    window_hu: tuple[float, float] = (40.0, 110.0)
    head_threshold_hu: float = -300.0
    margin_mm: float = 5.0
    output_shape: tuple[int, int, int] = (32, 224, 224)
    crop_head: bool = True
    antialias: bool = True
    #: Longest side of the coarse grid used to find the head's largest component.
    component_grid: int = 64

    def __post_init__(self) -> None:
        object.__setattr__(self, "window_hu", tuple(float(v) for v in self.window_hu))
        object.__setattr__(self, "output_shape", tuple(int(v) for v in self.output_shape))
        lo, hi = self.window_hu
        if not hi > lo:
            raise ValueError(f"window_hu must be (low, high) with high > low, got {self.window_hu}")
        if len(self.output_shape) != 3 or min(self.output_shape) < 1:
            raise ValueError(f"output_shape must be 3 positive ints, got {self.output_shape}")
        if self.margin_mm < 0 or self.component_grid < 4:
            raise ValueError("margin_mm must be >= 0 and component_grid >= 4")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["window_hu"] = list(self.window_hu)
        d["output_shape"] = list(self.output_shape)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PreprocessConfig:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ValueError(f"unknown PreprocessConfig fields {sorted(unknown)}")
        kwargs = dict(data)
        for key in ("window_hu", "output_shape"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)


@dataclass(frozen=True, eq=False)
class ModelInput:
    """A preprocessed study and the geometry to map model-resolution results back.

    ``array`` is float32 (1, z, y, x) in [0, 1]; ``crop_zyx`` the half-open voxel box
    ((z0, z1), (y0, y1), (x0, x1)) of the Volume that was resized into it.
    """

    array: np.ndarray
    crop_zyx: CropBox
    volume_shape: tuple[int, int, int]
    spacing_mm: tuple[float, float, float]
    config: PreprocessConfig
    head_found: bool = True
    notices: tuple[Notice, ...] = field(default=())

    @property
    def warnings(self) -> tuple[str, ...]:
        return texts(self.notices)

    @property
    def crop_shape(self) -> tuple[int, int, int]:
        return tuple(b - a for a, b in self.crop_zyx)  # type: ignore[return-value]

    @property
    def model_spacing_mm(self) -> tuple[float, float, float]:
        """Physical size (z, y, x) in mm of one voxel of ``array``."""
        return tuple(  # type: ignore[return-value]
            c * s / o
            for c, s, o in zip(self.crop_shape, self.spacing_mm, self.array.shape[1:], strict=True)
        )

    @property
    def model_voxel_mm3(self) -> float:
        """Physical volume in mm^3 of one voxel of ``array``: the head's scale, which the resize
        to a fixed grid hides from the network (see :class:`ichmodel.labels.LabelTransform`)."""
        return float(np.prod(self.model_spacing_mm))

    def tensor(self) -> torch.Tensor:
        """``array`` as a (1, 1, z, y, x) tensor (shares memory)."""
        return torch.from_numpy(self.array).unsqueeze(0)

    def to_volume_grid(self, map_zyx: np.ndarray | torch.Tensor) -> np.ndarray:
        """A map over the model input's field of view, resampled onto the Volume's voxels.

        ``map_zyx`` may have the model's resolution or a coarser one (a feature map): it is taken
        to cover the crop box cell-centre to cell-centre (``align_corners=False``) and resized
        (trilinear) to the crop; voxels outside the crop are 0. Returns float32 (z, y, x).
        """
        t = torch.as_tensor(map_zyx).detach().to("cpu", torch.float32)
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 3:
            raise ValueError(f"map must be (z, y, x), got shape {tuple(t.shape)}")
        crop = resize_trilinear(t[None, None], self.crop_shape)[0, 0]
        out = np.zeros(self.volume_shape, dtype=np.float32)
        (z0, z1), (y0, y1), (x0, x1) = self.crop_zyx
        out[z0:z1, y0:y1, x0:x1] = crop.numpy()
        return out

    def to_model_grid(self, map_zyx: np.ndarray) -> np.ndarray:
        """A map on the Volume's voxels (e.g. a hematoma mask) resampled exactly as the input was:
        cropped to ``crop_zyx``, box-prefiltered where ``config.antialias`` says so, resized
        (trilinear) to the model's shape. A mask becomes the fraction of each model voxel that
        lies inside it. Returns float32 (1, z, y, x), the layout of ``array``.
        """
        a = np.asarray(map_zyx)
        if a.shape != tuple(self.volume_shape):
            raise ValueError(f"map shape {a.shape} is not the volume's {tuple(self.volume_shape)}")
        (z0, z1), (y0, y1), (x0, x1) = self.crop_zyx
        crop = np.ascontiguousarray(a[z0:z1, y0:y1, x0:x1], dtype=np.float32)
        t = _to_model_shape(torch.from_numpy(crop)[None, None], self.config)
        return np.ascontiguousarray(t[0].numpy(), dtype=np.float32)


def resize_trilinear(t: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """(B, C, z, y, x) resized to ``shape``, cell centre to cell centre (``align_corners=False``),
    the one convention for inputs and maps alike."""
    if tuple(t.shape[2:]) == tuple(shape):
        return t
    return F.interpolate(t, size=tuple(shape), mode="trilinear", align_corners=False)


def _to_model_shape(t: torch.Tensor, config: PreprocessConfig) -> torch.Tensor:
    """A cropped (1, 1, z, y, x) array resized to ``config.output_shape``: box-prefiltered
    where ``config.antialias`` says so, then trilinear (inputs and masks alike)."""
    if config.antialias:
        t = _box_prefilter(t, config.output_shape)
    return resize_trilinear(t, config.output_shape)


def _box_prefilter(t: torch.Tensor, shape: tuple[int, int, int]) -> torch.Tensor:
    """Odd box filter (stride 1, grid unchanged) along axes shrunk by a factor >= 2.

    Near the edges the box is truncated and the mean taken over the voxels inside.
    """
    for axis, (n_in, n_out) in enumerate(zip(t.shape[2:], shape, strict=True)):
        k = 2 * int(n_in / n_out / 2) + 1
        if k <= 1:
            continue
        dim, r = axis + 2, k // 2
        zero = torch.zeros_like(t.narrow(dim, 0, 1))
        csum = torch.cat([zero, torch.cumsum(t, dim=dim)], dim=dim)
        idx = torch.arange(n_in)
        hi, lo = (idx + r + 1).clamp(max=n_in), (idx - r).clamp(min=0)
        view = [1, 1, 1, 1, 1]
        view[dim] = n_in
        count = (hi - lo).to(t.dtype).reshape(view)
        t = (csum.index_select(dim, hi) - csum.index_select(dim, lo)) / count
    return t


def _grow_max(labels: np.ndarray, axes: tuple[int, ...] = (0, 1, 2)) -> np.ndarray:
    """Max over each voxel's 3-neighbourhood along ``axes`` (separable: the 3x3x3 cube, so
    26-connected, for all three axes)."""
    out = labels.copy()
    for axis in axes:
        src = out.copy()
        lead = [slice(None)] * 3
        lag = [slice(None)] * 3
        lead[axis], lag[axis] = slice(1, None), slice(None, -1)
        np.maximum(out[tuple(lead)], src[tuple(lag)], out=out[tuple(lead)])
        np.maximum(out[tuple(lag)], src[tuple(lead)], out=out[tuple(lag)])
    return out


def _largest_component(mask: np.ndarray, max_iter: int) -> np.ndarray:
    """Largest 26-connected component of a small boolean (z, y, x) array."""
    labels = np.arange(1, mask.size + 1, dtype=np.int32).reshape(mask.shape) * mask
    for _ in range(max_iter):
        grown = _grow_max(labels) * mask
        if np.array_equal(grown, labels):
            break
        labels = grown
    values, counts = np.unique(labels[labels > 0], return_counts=True)
    if values.size == 0:
        return np.zeros_like(mask)
    return (labels == values[np.argmax(counts)]) & mask


def head_bounding_box(
    hu: np.ndarray, spacing_mm: tuple[float, float, float], config: PreprocessConfig
) -> CropBox | None:
    """Half-open (z, y, x) box of the head plus margin, or None when nothing is above threshold."""
    mask = hu > config.head_threshold_hu
    if not mask.any():
        return None
    shape = mask.shape
    factors = [max(1, -(-s // config.component_grid)) for s in shape]  # ceil division
    padded = np.pad(mask, [(0, -s % f) for s, f in zip(shape, factors, strict=True)])
    cz, cy, cx = (p // f for p, f in zip(padded.shape, factors, strict=True))
    fz, fy, fx = factors
    counts = padded.reshape(cz, fz, cy, fy, cx, fx).sum(axis=(1, 3, 5), dtype=np.int32)
    coarse = counts * 2 >= fz * fy * fx  # majority vote: drops thin bridges to the table
    if not coarse.any():
        coarse = counts > 0
    # Erode in-plane by one coarse voxel first: thin shells (head holder, table, blanket) that
    # touch the head do not survive, so they cannot join its component.
    core = ~_grow_max(~coarse, axes=(1, 2))
    component = _largest_component(core if core.any() else coarse, 4 * max(coarse.shape))
    # The head's in-plane footprint grown back by the erosion (an opening), over every slice so
    # the vertex and skull base are kept whatever the slice thickness; margin_mm adds the slack.
    footprint = _grow_max(component.any(axis=0)[None].astype(np.uint8), axes=(1, 2))
    footprint_full = np.repeat(np.repeat(footprint[0] > 0, fy, axis=0), fx, axis=1)
    head = mask & footprint_full[None, : shape[1], : shape[2]]
    if not head.any():  # pragma: no cover - the component lies inside the mask by construction
        head = mask
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        idx = np.flatnonzero(head.any(axis=other))
        margin = int(np.ceil(config.margin_mm / float(spacing_mm[axis])))
        box.append((max(0, int(idx[0]) - margin), min(shape[axis], int(idx[-1]) + 1 + margin)))
    return tuple(box)  # type: ignore[return-value]


def preprocess(volume, config: PreprocessConfig | None = None) -> ModelInput:
    """Crop the head, window to [0, 1] and resize a :class:`~ichmodel.volume.Volume`."""
    config = config or PreprocessConfig()
    hu = np.asarray(volume.hu)
    shape = tuple(int(s) for s in hu.shape)
    spacing = tuple(float(s) for s in volume.spacing_mm)
    found: list[Notice] = []
    box = head_bounding_box(hu, spacing, config) if config.crop_head else None
    head_found = box is not None or not config.crop_head
    if box is None:
        box = tuple((0, s) for s in shape)
        if config.crop_head:
            found.append(notices.warning(
                "preprocess.no_head_found",
                f"no voxel above {config.head_threshold_hu:g} HU was found, so the whole volume "
                "went into the model: is this a head CT in Hounsfield units?",
                Source.PREPROCESS,
            ))
    (z0, z1), (y0, y1), (x0, x1) = box
    lo, hi = config.window_hu
    crop = hu[z0:z1, y0:y1, x0:x1].astype(np.float32, copy=False)
    windowed = np.clip((crop - np.float32(lo)) / np.float32(hi - lo), 0.0, 1.0, dtype=np.float32)
    t = torch.from_numpy(np.ascontiguousarray(windowed))[None, None]
    t = _to_model_shape(t, config).clamp_(0.0, 1.0)
    log.debug("preprocess: volume %s crop %s -> %s", shape, box, config.output_shape)
    return ModelInput(
        array=np.ascontiguousarray(t[0].numpy(), dtype=np.float32),
        crop_zyx=box,  # type: ignore[arg-type]
        volume_shape=shape,  # type: ignore[arg-type]
        spacing_mm=spacing,  # type: ignore[arg-type]
        config=config,
        head_found=head_found,
        notices=tuple(found),
    )
