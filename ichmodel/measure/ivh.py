"""Intraventricular blood (IVH): best effort, from image geometry alone.

What is counted where: ``Measurement.hematoma_volume_ml`` is intraparenchymal blood only;
blood inside a ventricle is ``ivh_volume_ml`` (its partial volume against the CSF or the
ventricle's wall, :func:`ichmodel.measure.partial.fractional_ivh_ml`; the voxel count is
``ivh_threshold_volume_ml``). The phantom's truth uses the
same split (its ``hematoma_volume_ml`` excludes the intraventricular blood, ``ivh_volume_ml``
holds it), so a missed IVH shows up as an inflated parenchymal volume.

* Ventricles = CSF-range (smoothed HU in [``CSF_MIN_HU``, ``CSF_MAX_HU``]) connected regions
  of at least ``MIN_VENTRICLE_ML`` lying mostly in the central part of the brain (sulci and
  cisterns are CSF too, but peripheral; where thin sheets of CSF join them to the ventricles
  they are cut off, :func:`_ventricular_csf`), found on a coarse grid for their envelope and again
  at full resolution (the 2-3 mm of CSF left in front of blood layering in a horn). Their
  in-plane envelope (closed by ``ENVELOPE_CLOSING_MM``, holes filled,
  ``ENVELOPE_MARGIN_MM`` margin) is the ventricular space: blood inside it is IVH, and a
  blood region lying mostly inside it is IVH as a whole.
* A ventricle cast with blood has no CSF left to find. The ventricles are paired across the
  midline, so a central blood region with no ventricular CSF right behind it
  (:func:`csf_behind`: in a supine patient blood sinks to the back of a ventricle, while a
  hematoma beside a ventricle usually has the body or atrium running on behind it; a clot
  with CSF nearly all round it in-plane floats in the ventricle, :func:`enclosed_by_csf`) whose
  mirror image (across the head's own midline) falls mostly (``MIRROR_FRACTION``) on
  ventricular CSF or on another such region (both horns cast), or on central blood too
  thin for a hematoma core (the other horn cast with thinner blood), is IVH. Not in the
  posterior fossa off the midline: its one ventricle, the fourth, is on the midline.
* Layering blood too thin for a hematoma core, often diluted below the hematoma range
  (:func:`ivh_candidates`: ``IVH_MARGIN_HU`` lower), touching ventricular CSF within
  ``LAYERING_REACH_MM`` of it and with no CSF behind it, is IVH (:func:`layering_ivh`).
* Less than ``MIN_IVH_ML`` in all is not called IVH: partial volume at a ventricle wall.

Known gaps: a midline cast (third ventricle) with no CSF around is counted as parenchymal;
bilateral symmetric parenchymal bleeds with no CSF behind them would be called IVH; a
hematoma that has broken into its ventricle as one connected region is split only where
its mirror image falls on a cast horn.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from scipy import ndimage as ndi

from ichmodel.measure import _morph
from ichmodel.measure.location import (
    DURAL_OFFSET_MM,
    DURAL_WIDTH_MM,
    FRAME_MM,
    HeadFrame,
    classify_centroid,
    midline_sheets,
)
from ichmodel.volume import voxel_volume_ml

log = logging.getLogger(__name__)

_CROSS_Z = np.zeros((3, 1, 1), dtype=bool)
_CROSS_Z[:, 0, 0] = True

CSF_MIN_HU = -10.0
CSF_MAX_HU = 15.0
MIN_VENTRICLE_ML = 0.3
#: A CSF region is ventricular when this fraction of it lies in the central zone.
VENTRICLE_CENTRAL_FRACTION = 0.6
#: Central zone: elliptic radius below this, relative height within these bounds.
CENTRAL_RADIUS = 0.6
CENTRAL_HEIGHT = (0.2, 0.85)
#: CSF sheets thinner than about twice this (mm) do not join a cistern or sulcus to the
#: ventricles (see :func:`_ventricular_csf`).
CSF_BRIDGE_MM = 1.5
#: Closing radius (mm) that merges a ventricle's CSF with blood layering inside it.
ENVELOPE_CLOSING_MM = 3.0
#: Partial-volume margin (mm) around the ventricular space.
ENVELOPE_MARGIN_MM = 1.0
#: A blood region with at least this fraction inside the ventricular space is IVH entirely.
IVH_WHOLE_FRACTION = 0.5
#: Mirror test: tolerance (mm) for an imperfect midline, and the fraction that must match.
MIRROR_TOLERANCE_MM = 2.5
MIRROR_FRACTION = 0.75
#: Ventricular CSF directly behind a blood region (within this reach, over at least this
#: area) marks it as beside a ventricle, not in it (see :func:`csf_behind`).
BEHIND_REACH_MM = 3.0
BEHIND_MIN_MM2 = 10.0
#: Layering blood lies in the ventricle: it is looked for within this reach (mm) of the
#: ventricular CSF (with the mirror tolerance).
LAYERING_REACH_MM = 6.0
#: Layering blood has ventricular CSF in front of at least this fraction of its front face
#: (the fluid level); dura by a horn has brain in front of it.
LAYERING_FRONT_FRACTION = 0.2
#: A cast horn standing in another's mirror test is smaller than this (ml).
MAX_CAST_ML = 30.0
#: Intraventricular blood is looked for this far (HU) below the hematoma range: blood
#: mixed with CSF is thinner than a clot.
IVH_MARGIN_HU = 8.0
#: The full-resolution CSF may reach this much (HU) above ``CSF_MAX_HU``: a thin CSF layer
#: is partial volume with the wall.
FULL_CSF_EXTRA_HU = 3.0
#: Only blood regions centred within this elliptic radius are tested by mirror (ventricles
#: are central; a lobar bleed is not intraventricular).
MIRROR_MAX_RADIUS = 0.7
#: A hematoma's partial-volume edge reaches this far (mm) beyond its mask (see
#: :func:`_hematoma_edge`).
EDGE_RING_MM = 2.0
#: A dim region smaller than this (ml) is not tested as a cast horn (:func:`cast_ivh`).
MIN_CAST_REGION_ML = 0.1
#: See :func:`_cast_parts`.
CAST_DIMMER_HU = 5.0
#: A cast piece of a hematoma is beside its ventricle, not in it, when ventricular CSF lies
#: behind this fraction of its back face (a few voxels of the hematoma's own edge next to
#: the CSF do not count).
CAST_BEHIND_FRACTION = 0.2
#: See :func:`_cast_parts`.
CAST_CORE_MM = 1.5
#: A dim cast keeps this much (ml) inside the ``CAST_CORE_MM`` margin (:func:`_with_core`).
CAST_MIN_CORE_ML = 0.05
#: Less intraventricular blood than this (ml) is not called IVH.
MIN_IVH_ML = 0.3
#: Thin blood no core claimed is looked at as a layer or a cast only when it spans at least
#: this height (mm: slices x thickness; see :func:`_too_flat`).
MIN_IVH_HEIGHT_MM = 4.0
#: A blood region whose in-plane rim lies on the ventricular CSF (with the mirror tolerance)
#: over at least this fraction floats in a ventricle (see :func:`enclosed_by_csf`).
ENCLOSED_FRACTION = 0.9


@dataclass(frozen=True, eq=False)
class Ventricles:
    """Ventricular CSF found on the crop, as bool (z, y, x) masks on the crop grid."""

    volume_ml: float
    space: np.ndarray  # envelope of the ventricles: blood in here is IVH
    target: np.ndarray  # ventricular CSF with a tolerance, for the mirror test
    csf: np.ndarray  # the ventricular CSF itself
    #: the central zone (``CENTRAL_RADIUS``, ``CENTRAL_HEIGHT``) and the voxels within
    #: ``LAYERING_REACH_MM`` of ``target``: HU-range independent, kept for each measure
    central: np.ndarray | None = None
    near: np.ndarray | None = None

    @property
    def found(self) -> bool:
        return self.volume_ml > 0.0


def find_ventricles(inside: np.ndarray, smoothed: np.ndarray, frame: HeadFrame) -> Ventricles:
    """Ventricles of the intracranial crop (HU-range independent: done once per volume)."""
    spacing = frame.spacing_mm
    f = max(1, int(round(FRAME_MM / min(spacing[1:]))))
    inside_c = _morph.block_mean(inside.astype(np.float32), 1, f) >= 0.5
    smoothed_c = _morph.block_mean(smoothed, 1, f)
    spacing_c = (spacing[0], spacing[1] * f, spacing[2] * f)
    radius = frame.elliptic_radius(inside_c.shape, f)
    band = (frame.height >= CENTRAL_HEIGHT[0]) & (frame.height <= CENTRAL_HEIGHT[1])
    central = (radius < CENTRAL_RADIUS) & band[:, None, None]
    csf = inside_c & (smoothed_c >= CSF_MIN_HU) & (smoothed_c <= CSF_MAX_HU)
    ventricles = _ventricular_csf(csf, central, spacing_c)
    voxel_ml_c = voxel_volume_ml(spacing_c)
    volume_ml = float(np.count_nonzero(ventricles)) * voxel_ml_c
    if not ventricles.any():
        empty = np.zeros_like(inside)
        return Ventricles(0.0, empty, empty, empty, empty, empty)
    closed = ndi.binary_closing(
        ventricles, structure=_morph.disk(ENVELOPE_CLOSING_MM, spacing_c[1:]), border_value=0
    )
    space_c = _morph.fill_holes_per_slice(closed | ventricles)
    space_c = _morph.dilate(space_c, _morph.disk(ENVELOPE_MARGIN_MM, spacing_c[1:])) & inside_c
    space = _morph.upsample(space_c, 1, f, inside.shape) & inside
    band = (frame.height >= CENTRAL_HEIGHT[0]) & (frame.height <= CENTRAL_HEIGHT[1])
    central_full = (frame.elliptic_radius(inside.shape) < CENTRAL_RADIUS) & band[:, None, None]
    csf_full = _full_resolution_csf(inside, smoothed, central_full, frame)
    box = _morph.bbox(csf_full | space, pad=(0, 8, 8))
    target = space.copy()
    if box is not None:
        tol = _morph.disk(MIRROR_TOLERANCE_MM, spacing[1:])
        target[box] |= _morph.dilate(csf_full[box], tol)
    log.debug("ventricles %.1f ml", volume_ml)
    near = _near_target(target, frame)
    return Ventricles(volume_ml, space, target, csf_full, central_full, near)


def _full_resolution_csf(
    inside: np.ndarray, smoothed: np.ndarray, central: np.ndarray, frame: HeadFrame
) -> np.ndarray:
    """Ventricular CSF on the crop's own grid: the thin CSF left in front of blood layering in
    an occipital horn or an atrium (2-3 mm) does not survive the coarse grid."""
    csf = inside & (smoothed >= CSF_MIN_HU) & (smoothed <= CSF_MAX_HU + FULL_CSF_EXTRA_HU)
    return _ventricular_csf(csf, central, frame.spacing_mm)


def _ventricular_csf(csf: np.ndarray, central: np.ndarray, spacing_mm) -> np.ndarray:
    """The central CSF components, less the peripheral CSF that only thin sheets join to them.

    In an atrophic head the ventricles, the basal cisterns, the insular cisterns and the
    widened sulci can be one connected CSF region that passes the central-fraction test as
    a whole; a lobar bleed whose mirror image falls on the other side's insular cistern or
    sulci then looks like a cast horn. Opening the selection in-plane by ``CSF_BRIDGE_MM``
    cuts the sheets of a few millimetres that join them. Taken out: a part that survives
    the opening on its own and is not central (a cistern, a pool of sulcal CSF), with its
    surroundings; and thin CSF outside the central zone that is not near a central part
    that survives (sulci). Kept: the ventricles' own thin parts in the central zone (a
    sliver of CSF beside a clot) and near their thick parts (the edges of a horn).
    """
    selected = _central_components(csf, central, spacing_mm)
    if not selected.any():
        return selected
    core = ndi.binary_opening(selected, structure=_morph.disk(CSF_BRIDGE_MM, spacing_mm[1:]))
    labels, big, is_central = _component_tests(core, central, spacing_mm)
    peripheral, kept = big & ~is_central, big & is_central
    peripheral[0] = kept[0] = False
    around = _morph.disk(2 * CSF_BRIDGE_MM + max(spacing_mm[1:]), spacing_mm[1:])
    near_kept = _morph.dilate(kept[labels], around)
    thin_and_peripheral = ~central & ~near_kept
    return selected & ~_morph.dilate(peripheral[labels], around) & ~thin_and_peripheral


def _central_components(csf: np.ndarray, central: np.ndarray, spacing_mm) -> np.ndarray:
    labels, big, is_central = _component_tests(csf, central, spacing_mm)
    ok = big & is_central
    ok[0] = False
    return ok[labels]


def _component_tests(
    mask: np.ndarray, central: np.ndarray, spacing_mm
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels of ``mask``'s components and, per label, whether it is at least
    ``MIN_VENTRICLE_ML`` and whether ``VENTRICLE_CENTRAL_FRACTION`` of it is central."""
    labels, n = ndi.label(mask)
    sizes = np.bincount(labels.ravel(), minlength=n + 1).astype(float)
    in_centre = np.bincount(labels[central], minlength=n + 1).astype(float)
    big = sizes * voxel_volume_ml(spacing_mm) >= MIN_VENTRICLE_ML
    return labels, big, in_centre >= VENTRICLE_CENTRAL_FRACTION * sizes


def layering_ivh(
    candidates: np.ndarray,
    ventricles: Ventricles,
    frame: HeadFrame,
    hematoma: np.ndarray | None = None,
) -> np.ndarray:
    """Thin intraventricular blood no hematoma core found: blood-range regions
    (``candidates``, bool: :func:`ivh_candidates` less the parenchymal hematomas) touching
    ventricular CSF with no CSF behind them. Layering blood in an occipital horn is a few
    millimetres thick (no 3 mm core), lies against the CSF in front of it (the patient is
    supine: blood sinks to the back) and is often diluted below the hematoma range; bone
    partial volume and dura never touch the ventricles, and the partial-volume wall between
    CSF and brain rings the ventricle, so it has CSF behind it too."""
    if not ventricles.found or not candidates.any():
        return np.zeros_like(candidates)
    central = _central(ventricles, frame, candidates.shape)
    # the falx and the tentorium (40-60 HU) may graze a ventricle but run on far beyond
    # it: only what lies within reach of the ventricular CSF is looked at
    candidates = candidates & central & _near(ventricles, frame)
    labels, n = _morph.label_in_box(candidates)
    if n == 0:
        return np.zeros_like(candidates)
    touching = np.zeros(n + 1, dtype=bool)
    touching[np.unique(labels[ventricles.target & candidates])] = True
    touching &= ~csf_behind(labels, n, ventricles.csf, frame)
    touching &= csf_in_front(labels, n, ventricles.csf, frame, LAYERING_FRONT_FRACTION)
    touching &= ~midline_sheets(labels, n, frame)  # the falx above the septum
    touching &= ~_on_midline(labels, n, frame)  # pineal, choroid of the third ventricle
    touching &= ~_too_flat(labels, n, frame)
    if hematoma is not None and hematoma.any():
        touching &= ~_hematoma_edge(labels, n, hematoma, frame, touching)
    touching[0] = False
    return touching[labels]


def _mirrored(zyx: np.ndarray, frame: HeadFrame, shape: tuple[int, ...]
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The voxels (z, y, x arrays) mirroring ``zyx`` across the midline on their own slices,
    clipped to the grid."""
    m = np.rint(frame.mirror_yx(zyx)).astype(int)
    return zyx[:, 0], np.clip(m[:, 0], 0, shape[1] - 1), np.clip(m[:, 1], 0, shape[2] - 1)


def _on_midline(labels: np.ndarray, n: int, frame: HeadFrame) -> np.ndarray:
    """Per label: centred within ``DURAL_OFFSET_MM`` of the midline plane. Layering blood
    sinks into the lateral ventricles' atria and occipital horns; blood-range voxels touching
    the CSF on the midline are the pineal gland or a dimmed calcification by the third
    ventricle (dev phantom 200037: 0.4 ml called IVH)."""
    out = np.zeros(n + 1, dtype=bool)
    if not frame.orientation.axial:
        return out
    for i, box in enumerate(ndi.find_objects(labels, max_label=n), start=1):
        if box is None:
            continue
        zyx = _morph.label_voxels(labels, i, box)
        across = frame.across_mm(zyx[:, 0], zyx[:, 1:])
        out[i] = abs(float(np.median(across))) <= DURAL_OFFSET_MM
    return out


def _too_flat(labels: np.ndarray, n: int, frame: HeadFrame, min_slices: int = 1) -> np.ndarray:
    """Per label: spans less than ``MIN_IVH_HEIGHT_MM`` (its slices times their thickness) or
    fewer than ``min_slices`` slices. An occipital horn or an atrium is well over a
    centimetre high, so blood layering or cast in it is seen on more than one thin slice; the
    tentorium crossing a slice obliquely beside a temporal horn or an atrium is one slice's
    band of dura (dev phantoms 200205 and 200310: 0.6-0.7 ml called IVH, on 2.5 and 3 mm
    slices)."""
    out = np.zeros(n + 1, dtype=bool)
    for i, box in enumerate(ndi.find_objects(labels, max_label=n), start=1):
        if box is not None:
            slices = box[0].stop - box[0].start
            out[i] = slices * frame.spacing_mm[0] < MIN_IVH_HEIGHT_MM or slices < min_slices
    return out


def _beside_fourth_ventricle(zyx: np.ndarray, frame: HeadFrame) -> bool:
    """Voxels ``zyx`` lie in the posterior fossa (:func:`classify_centroid`) off the midline
    (beyond ``DURAL_WIDTH_MM``): the only ventricle there is the fourth, on the midline, so
    the mirror test, which pairs the lateral ventricles, does not apply; a cerebellar bleed's
    mirror image can be the cisterns' CSF (dev GE insertions 400411/400419/400439: 1.6-2.0 ml
    called IVH)."""
    site, _ = classify_centroid(tuple(float(c) for c in zyx.mean(axis=0)), frame)
    if site != "infratentorial":
        return False
    return abs(float(np.median(frame.across_mm(zyx[:, 0], zyx[:, 1:])))) > DURAL_WIDTH_MM


def _hematoma_edge(
    labels: np.ndarray, n: int, hematoma: np.ndarray, frame: HeadFrame, which: np.ndarray
) -> np.ndarray:
    """Per label (those where ``which`` holds): mostly (half or more) within
    ``EDGE_RING_MM`` in-plane (and one slice) of a hematoma: its partial-volume edge, a few
    HU under the hematoma range, that touches a ventricle next to it (dev phantom 200002:
    0.4 ml called IVH)."""
    out = np.zeros(n + 1, dtype=bool)
    disk = _morph.disk(EDGE_RING_MM, frame.spacing_mm[1:])
    pad = (1, disk.shape[1] // 2 + 1, disk.shape[2] // 2 + 1)
    box = _morph.bbox(which[labels], pad=pad)
    if box is None:
        return out
    part = hematoma[box]
    ring = _morph.dilate(part, disk) | ndi.binary_dilation(part, structure=_CROSS_Z)
    sizes = np.bincount(labels[box].ravel(), minlength=n + 1)
    near = np.bincount(labels[box][ring], minlength=n + 1)
    out[:] = near >= 0.5 * np.maximum(sizes, 1)
    out &= which
    return out


def cast_ivh(
    candidates: np.ndarray,
    ventricles: Ventricles,
    frame: HeadFrame,
    voxel_ml: float,
    layering: np.ndarray | None = None,
) -> np.ndarray:
    """A horn cast with thin blood: blood-range regions (``candidates``, bool: as for
    :func:`layering_ivh`) too dim for a hematoma core (blood mixed with CSF reads 45-60 HU, no
    seed), central, with no ventricular CSF behind them (unless CSF is all round them,
    :func:`enclosed_by_csf`), whose mirror image falls mostly
    (``MIRROR_FRACTION``) on the other side's ventricular CSF. A cast atrium or body is
    several millimetres from the CSF left in front of it, out of :func:`layering_ivh`'s reach;
    grey matter and edema mirror onto brain. ``layering`` (bool): what :func:`layering_ivh`
    found; a region next to it runs on into the ventricle as well. A cast fills its horn
    through the horn's height: seen on two slices or more (:func:`_too_flat`; dev phantoms
    200135 and 200327 at 5 mm: a hematoma's dim rim and a pair of tentorium bands, one slice
    each, 0.85-1.2 ml called IVH)."""
    out = np.zeros_like(candidates)
    if not ventricles.found or not candidates.any() or not frame.orientation.axial:
        return out
    central = _central(ventricles, frame, candidates.shape)
    labels, n = _morph.label_in_box(candidates & central)
    if n == 0:
        return out
    sizes = np.bincount(labels.ravel(), minlength=n + 1)
    ok = sizes * voxel_ml >= MIN_CAST_REGION_ML
    ok &= _with_core(labels, n, frame, voxel_ml, CAST_MIN_CORE_ML)
    ok &= ~_behind_unless_enclosed(labels, n, candidates, ventricles, frame)
    ok &= ~midline_sheets(labels, n, frame)
    ok &= ~_too_flat(labels, n, frame, min_slices=2)
    ok[0] = False
    # both atria cast: each mirrors onto the other, and each lies by a horn that still holds
    # CSF (within ``LAYERING_REACH_MM`` of it in-plane or on the next slice, or next to
    # layering blood); symmetric grey matter does not mirror onto a ventricle or lies away
    # from it. The next slice: on 5 mm slices a fully cast atrium can have the CSF of the
    # body only above it (dev phantom 200359: 8.4 ml in both atria, none found)
    touching = np.zeros(n + 1, dtype=bool)
    near_csf = _near(ventricles, frame)
    pairs = ((labels, near_csf), (labels[1:], near_csf[:-1]), (labels[:-1], near_csf[1:]))
    for here, there in pairs:
        touching[np.unique(here[there & (here > 0)])] = True
    if layering is not None and layering.any():
        near = _morph.dilate(layering, _morph.IN_PLANE) | ndi.binary_dilation(
            layering, structure=_CROSS_Z
        )
        touching[np.unique(labels[near & (labels > 0)])] = True
    touching[0] = False
    casts = np.where((ok & touching)[labels], labels, 0)
    tol = _morph.disk(MIRROR_TOLERANCE_MM, frame.spacing_mm[1:])
    cast_box = _morph.bbox(casts > 0, pad=(0, tol.shape[1] // 2 + 1, tol.shape[2] // 2 + 1))
    if cast_box is not None:
        casts[cast_box] = ndi.grey_dilation(casts[cast_box], footprint=tol)
    hit = np.zeros(n + 1, dtype=bool)
    for i, box in enumerate(ndi.find_objects(labels, max_label=n), start=1):
        if box is None or not ok[i]:
            continue
        zyx = _morph.label_voxels(labels, i, box)
        z, y, x = _mirrored(zyx, frame, labels.shape)
        on = ventricles.target[z, y, x]
        if touching[i]:
            other = casts[z, y, x]
            on = on | ((other > 0) & (other != i))
        fraction = float(np.count_nonzero(on)) / len(zyx)
        log.debug(
            "dim blood region %d (%d voxels): mirror on ventricle %.2f", i, len(zyx), fraction
        )
        hit[i] = fraction >= MIRROR_FRACTION
    return hit[labels]


def _near_target(target: np.ndarray, frame: HeadFrame) -> np.ndarray:
    """Voxels within ``LAYERING_REACH_MM`` in-plane of ``target`` (the ventricular CSF with
    the mirror tolerance), on the frame's coarse grid for speed."""
    f = max(1, int(round(FRAME_MM / min(frame.spacing_mm[1:]))))
    spacing_c = (frame.spacing_mm[1] * f, frame.spacing_mm[2] * f)
    near_c = _morph.dilate(
        _morph.block_any(target, 1, f), _morph.disk(LAYERING_REACH_MM, spacing_c)
    )
    return _morph.upsample(near_c, 1, f, target.shape)


def _near(ventricles: Ventricles, frame: HeadFrame) -> np.ndarray:
    return (
        ventricles.near if ventricles.near is not None else _near_target(ventricles.target, frame)
    )


def _central(ventricles: Ventricles, frame: HeadFrame, shape) -> np.ndarray:
    if ventricles.central is not None:
        return ventricles.central
    band = (frame.height >= CENTRAL_HEIGHT[0]) & (frame.height <= CENTRAL_HEIGHT[1])
    return (frame.elliptic_radius(shape) < CENTRAL_RADIUS) & band[:, None, None]


def ivh_candidates(
    smoothed: np.ndarray, allowed: np.ndarray, hu_min: float, hu_max: float
) -> np.ndarray:
    """Voxels that may hold intraventricular blood: ``IVH_MARGIN_HU`` below the hematoma
    range (blood mixed with CSF), within ``allowed`` (bool: intracranial, calcifications
    and their partial-volume halo out: the choroid plexus glomus sits in the atrium, and
    its halo is in the blood range; tried without it: 0.4-1.6 ml false IVH on most heads)."""
    return allowed & (smoothed >= hu_min - IVH_MARGIN_HU) & (smoothed <= hu_max)


def csf_behind(
    labels: np.ndarray, n: int, csf: np.ndarray, frame: HeadFrame, min_fraction: float = 0.0
) -> np.ndarray:
    """Per label (index 0 unused): is there ventricular CSF right behind it (within
    ``BEHIND_REACH_MM`` posterior, over at least ``BEHIND_MIN_MM2``, and behind at least
    ``min_fraction`` of its back face)? Blood in a ventricle of a supine patient lies at the
    back of it; a hematoma beside a ventricle often has CSF behind it (the body and atrium of
    a ventricle run back past the basal ganglia)."""
    return _csf_beside(labels, n, csf, frame, min_fraction, behind=True)


def csf_in_front(
    labels: np.ndarray, n: int, csf: np.ndarray, frame: HeadFrame, min_fraction: float = 0.0
) -> np.ndarray:
    """Per label: ventricular CSF right in front of it (as :func:`csf_behind`, anterior)."""
    return _csf_beside(labels, n, csf, frame, min_fraction, behind=False)


def _csf_beside(
    labels: np.ndarray, n: int, csf: np.ndarray, frame: HeadFrame, min_fraction: float,
    behind: bool
) -> np.ndarray:
    out = np.zeros(n + 1, dtype=bool)
    if n == 0 or not csf.any():
        return out
    sz, sy, sx = frame.spacing_mm
    reach = max(1, int(round(BEHIND_REACH_MM / sy)))
    # +1: the CSF lies at larger row indices than the label
    sign = frame.orientation.posterior if behind else -frame.orientation.posterior
    beside = np.zeros_like(csf)
    for d in range(1, reach + 1):  # voxels with ventricular CSF d pixels beside them
        if sign > 0:
            beside[:, :-d] |= csf[:, d:]
        else:
            beside[:, d:] |= csf[:, :-d]
    hit = np.bincount(labels[beside & (labels > 0)], minlength=n + 1)
    out[:] = hit * (sz * sx) >= BEHIND_MIN_MM2
    if min_fraction > 0:
        face = np.zeros_like(csf)  # a label's voxels with no voxel of it next on that side
        if sign > 0:
            face[:, :-1] = labels[:, :-1] != labels[:, 1:]
            face[:, -1] = True
        else:
            face[:, 1:] = labels[:, 1:] != labels[:, :-1]
            face[:, 0] = True
        n_face = np.bincount(labels[face & (labels > 0)], minlength=n + 1)
        out &= hit >= min_fraction * n_face
    out[0] = False
    return out


def enclosed_by_csf(
    labels: np.ndarray, n: int, blood: np.ndarray, target: np.ndarray
) -> np.ndarray:
    """Per label: its in-plane rim (the voxels next to it that are not ``blood``) lies on
    ``target`` (ventricular CSF with the mirror tolerance) over ``ENCLOSED_FRACTION`` of it:
    a clot with CSF all round it in-plane, in front and behind, floats in a ventricle. The
    CSF behind it (:func:`csf_behind`) then says nothing about a hematoma beside a ventricle,
    whose rim is mostly brain (dev GE follow-up pairs 354/355: 1.7-2.2 ml clots in a lateral
    ventricle counted as parenchymal)."""
    out = np.zeros(n + 1, dtype=bool)
    box = _morph.bbox(labels > 0, pad=(0, 2, 2))
    if box is None:
        return out
    part = labels[box]
    grown = ndi.grey_dilation(part, footprint=_morph.IN_PLANE)
    rim = (part == 0) & (grown > 0) & ~blood[box]
    n_rim = np.bincount(grown[rim], minlength=n + 1)
    on = np.bincount(grown[rim & target[box]], minlength=n + 1)
    out[:] = (n_rim > 0) & (on >= ENCLOSED_FRACTION * n_rim)
    out[0] = False
    return out


def _behind_unless_enclosed(
    labels: np.ndarray, n: int, blood: np.ndarray, ventricles: Ventricles, frame: HeadFrame
) -> np.ndarray:
    """Per label: ventricular CSF behind it (:func:`csf_behind`) and not a clot floating in
    the ventricle (:func:`enclosed_by_csf`, looked at only where some label has CSF behind)."""
    behind = csf_behind(labels, n, ventricles.csf, frame)
    if behind.any():
        behind &= ~enclosed_by_csf(labels, n, blood, ventricles.target)
    return behind


def _with_core(
    labels: np.ndarray, n: int, frame: HeadFrame, voxel_ml: float, min_core_ml: float
) -> np.ndarray:
    """Per label: keeps ``min_core_ml`` inside a ``CAST_CORE_MM`` in-plane margin. A cast
    fills a horn; a hematoma's dim texture and partial-volume edge are thin, and so is the
    tentorium's edge along the petrous ridge, dimmed on a thick slice (dev re-scans of the GE
    head: 0.18 ml by a temporal horn called a cast, 0.01 ml of it deeper than the margin)."""
    core = np.zeros(labels.shape, dtype=bool)
    box = _morph.bbox(labels > 0)
    if box is not None:
        core[box] = _morph.erode(labels[box] > 0, _morph.disk(CAST_CORE_MM, frame.spacing_mm[1:]))
    return np.bincount(labels[core], minlength=n + 1) * voxel_ml >= min_core_ml


def split_ivh(
    blood: np.ndarray,
    labels: np.ndarray,
    frame: HeadFrame,
    ventricles: Ventricles,
    voxel_ml: float,
    min_region_ml: float = 0.1,
    thin_ivh: np.ndarray | None = None,
    smoothed: np.ndarray | None = None,
    dim_blood: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(parenchymal, intraventricular) blood masks on the crop; see the module doc.

    ``thin_ivh`` (bool): intraventricular blood already found among the voxels no hematoma
    core claimed (:func:`layering_ivh`, :func:`cast_ivh`); a region mirroring onto it is a
    horn cast like the other (both occipital horns layered, one dense enough for a core).
    ``dim_blood`` (bool): the other blood-range voxels no core claimed; a small central
    region mirroring onto them where they are central too is one of two cast atria, the
    other too thin for a core and waiting on this one in :func:`cast_ivh`."""
    none = np.zeros_like(blood)
    if not ventricles.found or not blood.any():
        return blood, none
    blood_labels = labels[blood]
    n = int(blood_labels.max())
    sizes = np.bincount(blood_labels, minlength=n + 1).astype(float)
    in_space = blood & ventricles.space
    inside = np.bincount(labels[in_space], minlength=n + 1).astype(float)
    whole = inside >= IVH_WHOLE_FRACTION * np.maximum(sizes, 1.0)
    whole[0] = False
    paired = thin_ivh
    if dim_blood is not None:
        dim = dim_blood & _central(ventricles, frame, blood.shape) & ~blood
        paired = dim if thin_ivh is None else thin_ivh | dim
    mirrored, partial = _mirror_matches(labels, sizes, whole, frame, ventricles, voxel_ml, paired)
    ivh = in_space | (whole | mirrored)[labels] | partial
    if smoothed is not None:
        ivh |= _cast_parts(labels, sizes, whole | mirrored, frame, ventricles, voxel_ml, smoothed)
    if float(np.count_nonzero(ivh)) * voxel_ml < MIN_IVH_ML:
        return blood, none
    parenchymal = blood & ~ivh
    # Crumbs of a split region (smaller than a hematoma we would report) that touch the
    # intraventricular part belong with it.
    crumbs, n_crumbs = _morph.label_in_box(parenchymal)
    if n_crumbs > 1:
        crumb_sizes = np.bincount(crumbs.ravel(), minlength=n_crumbs + 1)
        touching = np.zeros(n_crumbs + 1, dtype=bool)
        touching[np.unique(crumbs[_morph.dilate(ivh, _morph.IN_PLANE) & parenchymal])] = True
        small = crumb_sizes * voxel_ml < min_region_ml
        move = small & touching
        move[0] = False
        ivh = ivh | move[crumbs]
        parenchymal = blood & ~ivh
    return parenchymal, ivh


def _cast_parts(
    labels: np.ndarray,
    sizes: np.ndarray,
    is_ivh: np.ndarray,
    frame: HeadFrame,
    ventricles: Ventricles,
    voxel_ml: float,
    smoothed: np.ndarray,
) -> np.ndarray:
    """Voxels of a blood region that is not IVH as a whole but mirrors, in part, onto the
    other side's ventricular CSF: a hematoma grown into its cast atrium or body as one
    connected region (thin slices join them). Within the mirrored part, the cast is the
    voxels thinner than the rest of the region by ``CAST_DIMMER_HU`` (blood mixed with CSF),
    opened in-plane, in pieces keeping a core of ``MIN_CAST_REGION_ML`` inside a
    ``CAST_CORE_MM`` margin (a hematoma's dim texture and partial-volume edge are thin), with
    no ventricular CSF behind ``CAST_BEHIND_FRACTION`` of their back face
    (:func:`csf_behind`), on two slices or more (:func:`_too_flat`: a lobe's end is dimmed
    by the next slice's brain on one thick slice; dev phantoms 200111 and 200461 at 5 mm:
    0.7-0.85 ml of hematoma called IVH). A piece takes back its own edge within the mirrored
    part. Voxel
    by voxel, because the mirrored part can be mostly hematoma (dev phantom 200056: a
    hematoma in front of its cast atrium, both on the other ventricle's mirror image); a
    hematoma that took the place of a compressed ventricle is as dense as the rest of itself
    (dev phantom 200017: a hematoma's own lobe 3 HU under the rest)."""
    out = np.zeros(labels.shape, dtype=bool)
    if not frame.orientation.axial:
        return out
    objects = ndi.find_objects(labels)
    for i in np.argsort(-sizes[1:])[:10] + 1:
        if is_ivh[i] or sizes[i] == 0 or i - 1 >= len(objects) or objects[i - 1] is None:
            continue
        box = objects[i - 1]
        zyx = _morph.label_voxels(labels, i, box)
        z, y, x = _mirrored(zyx, frame, labels.shape)
        on = ventricles.target[z, y, x]
        if np.count_nonzero(on) * voxel_ml < MIN_CAST_REGION_ML:
            continue
        part = np.zeros(labels.shape, dtype=bool)
        part[zyx[on, 0], zyx[on, 1], zyx[on, 2]] = True
        others = (labels[box] == i) & ~part[box]
        if not others.any():
            continue
        rest = float(np.median(smoothed[box][others]))
        # the mirrored part can hold hematoma as well as the cast (a hematoma pressing on its
        # ventricle): the cast is the part's voxels thinner than the rest, less the
        # partial-volume edges (an in-plane opening removes bands a voxel or two wide)
        dim = np.zeros_like(part)
        dim[box] = ndi.binary_opening(
            part[box] & (smoothed[box] <= rest - CAST_DIMMER_HU), structure=_morph.IN_PLANE
        )
        pieces, n = _morph.label_in_box(dim)
        if n == 0:
            continue
        keep = _with_core(pieces, n, frame, voxel_ml, MIN_CAST_REGION_ML)
        keep &= ~csf_behind(pieces, n, ventricles.csf, frame, CAST_BEHIND_FRACTION)
        keep &= ~_too_flat(pieces, n, frame, min_slices=2)
        keep[0] = False
        log.debug("region %d (rest %.1f HU): %d of %d dim mirrored pieces are a cast", i, rest,
                  int(np.count_nonzero(keep)), n)
        # a kept piece takes back its own edge within the mirrored part
        grown = ndi.binary_dilation(keep[pieces[box]], structure=_morph.IN_PLANE)
        out[box] |= grown & part[box]
    return out


def _mirror_matches(
    labels: np.ndarray,
    sizes: np.ndarray,
    already: np.ndarray,
    frame: HeadFrame,
    ventricles: Ventricles,
    voxel_ml: float,
    thin_ivh: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror test. Returns (per label: IVH as a whole, bool mask of further IVH voxels).

    Pass 1: a central label with no ventricular CSF behind it (:func:`csf_behind`) whose
    mirror image falls mostly (``MIRROR_FRACTION``) on ventricular CSF or on another central
    label (both horns cast, the other one perhaps joined to a hematoma) is IVH. A deep
    hematoma mirrors onto brain, or has CSF behind it (bilateral symmetric bleeds: a known
    gap).
    Pass 2: in the other labels, voxels whose mirror falls on an IVH label are IVH too (a
    hematoma that broke into one horn while the other horn is cast as well).
    """
    n = len(sizes) - 1
    whole = np.zeros(n + 1, dtype=bool)
    partial = np.zeros(labels.shape, dtype=bool)
    if not frame.orientation.axial:
        return whole, partial
    sy, sx = frame.spacing_mm[1:]
    candidates = [i for i in np.argsort(-sizes[1:])[:10] + 1 if not already[i] and sizes[i] > 0]
    if not candidates:
        return whole, partial
    objects = ndi.find_objects(labels)
    tol = _morph.disk(MIRROR_TOLERANCE_MM, (sy, sx))
    box_all = _morph.bbox(labels > 0, pad=(0, tol.shape[1] // 2, tol.shape[2] // 2))
    assert box_all is not None
    origin = np.array([b.start for b in box_all])
    blood_tol = ndi.grey_dilation(labels[box_all], footprint=tol) if n > 1 else labels[box_all]
    behind = _behind_unless_enclosed(labels, n, labels > 0, ventricles, frame)
    thin_tol = thin_ivh
    if thin_ivh is not None and thin_ivh.any():
        thin_box = _morph.bbox(thin_ivh, pad=(0, tol.shape[1] // 2 + 1, tol.shape[2] // 2 + 1))
        assert thin_box is not None
        thin_tol = np.zeros_like(thin_ivh)
        thin_tol[thin_box] = _morph.dilate(thin_ivh[thin_box], tol)
    central = np.zeros(n + 1, dtype=bool)
    coords: dict[int, np.ndarray] = {}
    for i in range(1, n + 1):
        box = objects[i - 1] if i - 1 < len(objects) else None
        if box is None or sizes[i] == 0:
            continue
        zyx = _morph.label_voxels(labels, i, box)
        zc, yc, xc = zyx.mean(axis=0)
        k = int(round(zc))
        cy, cx = frame.centre_yx[k]
        hy, hx = frame.half_yx[k]
        central[i] = np.hypot((yc - cy) / hy, (xc - cx) / hx) < MIRROR_MAX_RADIUS
        central[i] &= not _beside_fourth_ventricle(zyx, frame)
        if i in candidates:
            coords[i] = zyx
    # a target: any central region under MAX_CAST_ML, also one with CSF behind it (a hematoma
    # that has taken in the other horn's cast: dev phantom 200020); the region tested must
    # itself be central with no CSF behind it
    ventricular = (already | central) & (sizes * voxel_ml < MAX_CAST_ML)
    ventricular[0] = False
    tested: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for i, zyx in coords.items():
        if not central[i] or behind[i]:
            continue
        z, y, x = _mirrored(zyx, frame, labels.shape)
        on_csf = ventricles.target[z, y, x]
        if thin_ivh is not None:
            on_csf = on_csf | thin_tol[z, y, x]
        bz, by, bx = z - origin[0], y - origin[1], x - origin[2]
        inb = (by >= 0) & (by < blood_tol.shape[1]) & (bx >= 0) & (bx < blood_tol.shape[2])
        other = np.zeros(len(z), dtype=labels.dtype)
        other[inb] = blood_tol[bz[inb], by[inb], bx[inb]]
        other[other == i] = 0
        on_blood = ventricular[other] & (other > 0)
        fraction = float(np.count_nonzero(on_csf | on_blood)) / max(1, len(zyx))
        log.debug("blood region %d: mirror on ventricle or cast %.2f", i, fraction)
        whole[i] = fraction >= MIRROR_FRACTION
        tested[i] = (zyx, other)
    is_ivh = whole | already
    for i, (zyx, other) in tested.items():
        if whole[i]:
            continue
        hit = is_ivh[other]
        if hit.any():
            partial[zyx[hit, 0], zyx[hit, 1], zyx[hit, 2]] = True
    return whole, partial
