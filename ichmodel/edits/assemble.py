"""A normal :class:`~ichmodel.measure.Measurement` from an edit session's cached components.

The rules are the automatic measurement's (:mod:`ichmodel.measure.context`): hematomas
largest (partial volume) first, the planimetric volume their sum, the threshold count their
voxels, ABC/2 and the location of the largest, the "several hematomas" and "ABC/2 differs"
notices re-decided, the check of blood counted as IVH by its mirror image dropped once the reader
has taken blood out of the IVH; the measurement's other notices (extra-axial collection,
ventricles not found) stay. A notice (:data:`EDITED_CODE`) and :attr:`Measurement.edited` say
it was edited.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from scipy import ndimage as ndi

from ichmodel import notices
from ichmodel.edits.record import BrushEdit, ComponentEdit, GrowEdit
from ichmodel.measure import ABC2, Hematoma, Measurement, measure_abc2
from ichmodel.measure import location as loc
from ichmodel.measure.context import IVH_BY_MIRROR_CODE
from ichmodel.measure.types import EditSummary
from ichmodel.measure.verdict import EDITED_CODE, HEMATOMA_NOTICE_CODES, hematoma_measurement
from ichmodel.notices import Source

if TYPE_CHECKING:
    from ichmodel.edits.session import EditSession

SKIPPED_CODE = "measure.edits_skipped"
#: Notices the automatic measurement made about its hematomas: re-decided after an edit.


@dataclass(frozen=True)
class ComponentStats:
    """One component measured: partial-volume and threshold ml, voxels, centroid (crop
    voxel index), location, slice range (Volume slices) and its own ABC/2 (Volume grid)."""

    volume_ml: float
    threshold_volume_ml: float
    count: int
    centroid_crop: tuple[float, float, float]
    site: str
    words: str
    slice_range: tuple[int, int]
    abc2: ABC2


def component_stats(session: EditSession, cid: int, box, volume_ml: float) -> ComponentStats:
    mask = session.ids[box] == cid
    count = int(np.count_nonzero(mask))
    offset = tuple(int(b.start) for b in box)
    if count == 0:
        return ComponentStats(0.0, 0.0, 0, (0.0, 0.0, 0.0), "none", "no hematoma", (0, 0), ABC2())
    c_local = ndi.center_of_mass(mask)
    centroid = tuple(float(c + o) for c, o in zip(c_local, offset, strict=True))
    frame = session.context.frame
    assert frame is not None
    site, words = loc.classify_centroid(centroid, frame)  # type: ignore[arg-type]
    z0 = session.origin[0]
    full_offset = tuple(o + s for o, s in zip(offset, session.origin, strict=True))
    abc2 = measure_abc2(mask, session.context.volume.spacing_mm, full_offset)  # type: ignore[arg-type]
    return ComponentStats(
        volume_ml=float(volume_ml),
        threshold_volume_ml=count * session.prep.voxel_ml,
        count=count,
        centroid_crop=centroid,  # type: ignore[arg-type]
        site=site,
        words=words,
        slice_range=(int(box[0].start) + z0, int(box[0].stop) - 1 + z0),
        abc2=abc2,
    )


def included_order(session: EditSession, stats: dict[int, ComponentStats]) -> list[int]:
    """Counted components, largest partial volume first (ids break ties)."""
    ids = [c for c, s in stats.items() if c not in session.excluded and s.count > 0]
    return sorted(ids, key=lambda c: (-stats[c].volume_ml, c))


def summary(session: EditSession) -> EditSummary:
    edits = session.record.edits
    return EditSummary(
        n_edits=len(edits),
        excluded=len(session.excluded),
        included=sum(1 for e in edits if isinstance(e, ComponentEdit) and e.kind == "include"),
        grown=sum(1 for e in edits if isinstance(e, GrowEdit)),
        grown_ml=sum(e.delta_ml for e in edits if isinstance(e, GrowEdit)),
        painted_ml=sum(max(0.0, e.delta_ml) for e in edits
                       if isinstance(e, BrushEdit) and e.kind == "paint"),
        erased_ml=sum(max(0.0, -e.delta_ml) for e in edits
                      if isinstance(e, BrushEdit) and e.kind == "erase"),
        automatic_volume_ml=session.automatic.hematoma_volume_ml,
        hu_range=session.hu_range,
    )


def measurement(session: EditSession, stats: dict[int, ComponentStats]) -> Measurement:
    volume = session.context.volume
    auto = session.automatic
    order = included_order(session, stats)
    labels = lazy_zeros(volume.shape, np.int16)
    # with nothing left to count, readers scan the whole mask (``mask.any()``): real zeros
    # read faster than untouched lazy pages
    mask = lazy_zeros(volume.shape, np.bool_) if order else np.zeros(volume.shape, bool)
    oz, oy, ox = session.origin

    def full(box):
        return (slice(box[0].start + oz, box[0].stop + oz),
                slice(box[1].start + oy, box[1].stop + oy),
                slice(box[2].start + ox, box[2].stop + ox))

    for number, cid in enumerate(order, start=1):
        box = session.components[cid].box
        own = session.ids[box] == cid
        labels[full(box)][own] = number
        mask[full(box)][own] = True
    excluded_mask = None
    if session.excluded:
        excluded_mask = lazy_zeros(volume.shape, np.bool_)
        for cid in session.excluded:
            box = session.components[cid].box
            excluded_mask[full(box)] |= session.ids[box] == cid
    ivh, ivh_ml = session.ivh_full, session.ivh_ml

    hematomas = []
    for number, cid in enumerate(order, start=1):
        s, comp = stats[cid], session.components[cid]
        c_full = tuple(c + o for c, o in zip(s.centroid_crop, session.origin, strict=True))
        lv = comp.levels
        hematomas.append(Hematoma(
            number=number, volume_ml=s.volume_ml, threshold_volume_ml=s.threshold_volume_ml,
            centroid_zyx=c_full,  # type: ignore[arg-type]
            centroid_lps_mm=tuple(float(v) for v in volume.index_to_physical(c_full)),  # type: ignore[arg-type]
            location=s.site, location_description=s.words, slice_range=s.slice_range,
            blood_hu=float(lv.blood_hu) if lv else float("nan"),
            tissue_hu=float(lv.tissue_hu) if lv else float("nan"),
        ))
    # the automatic measurement's other notices stay (extra-axial collection, ventricles);
    # the check of blood counted as IVH by its mirror image is answered once the reader has
    # taken blood out of the IVH
    redecided = HEMATOMA_NOTICE_CODES + (EDITED_CODE,)
    if ivh_ml < auto.ivh_volume_ml:
        redecided += (IVH_BY_MIRROR_CODE,)
    found = [n for n in auto.notices if n.code not in redecided]
    return hematoma_measurement(
        hematomas,
        abc2=stats[order[0]].abc2 if hematomas else ABC2(),
        hematoma_mask=mask,
        hematoma_labels=labels if hematomas else None,
        ivh_mask=ivh,
        ivh_volume_ml=ivh_ml,
        ivh_threshold_volume_ml=session.ivh_threshold_ml,
        intracranial_volume_ml=auto.intracranial_volume_ml,
        params=auto.params,
        found=found,
        edited=summary(session) if session.record.edits else None,
        excluded_mask=excluded_mask,
    )


def lazy_zeros(shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """A zero-filled array on fresh anonymous memory: the kernel zeroes a page when it is
    first touched, so a full-grid mask of which an edit writes a few boxes costs microseconds.
    (``np.zeros`` of 10-20 MB often lands on reused heap memory and then pays a memset of the
    whole grid: 5-35 ms measured on a 512² x 38 grid, most of the 50 ms edit budget.)"""
    count = int(np.prod(shape))
    buffer = mmap.mmap(-1, max(1, count * np.dtype(dtype).itemsize))
    return np.frombuffer(buffer, dtype=dtype, count=count).reshape(shape)


def with_skipped(m: Measurement, skipped: list[str]) -> Measurement:
    """``m`` with a warning naming the saved edits that could not be applied."""
    text = (f"{len(skipped)} saved edit{'s' if len(skipped) != 1 else ''} could not be applied "
            "and were left out: " + "; ".join(skipped))
    return replace(m, notices=m.notices + (notices.warning(SKIPPED_CODE, text, Source.MEASURE),))
