"""Applying the reader's edits to an automatic measurement, fast enough to follow the mouse.

:class:`EditSession` holds the segmentation as stable component ids on the measurement's
intracranial crop (an automatic hematoma keeps its id whatever its size rank; a grown or newly
painted one gets the next id). Each edit changes the voxels of a box; only the components whose
(padded) box meets it are measured again, the others keep their cached partial-volume volume,
voxel count, centroid, location and ABC/2. :meth:`EditSession.measurement` then assembles a
normal :class:`~ichmodel.measure.Measurement` from the cache: planimetric volume (partial
volume and threshold count), ABC/2 with its A/B segments of the largest hematoma, its location,
IVH, the excluded hematomas' mask and an :class:`~ichmodel.measure.types.EditSummary`.

:func:`apply_edits` replays a saved :class:`~ichmodel.edits.record.EditRecord` through the same
session (``ichmodel measure --edits`` and the viewer share it). Undo restores a snapshot of the
changed box; the record is always the edits in effect.

IVH: an edit never moves blood into the ventricles except a grown region lying mostly
(:data:`~ichmodel.measure.ivh.IVH_WHOLE_FRACTION`) inside the ventricular space, which is
intraventricular as the automatic rule would call it, and a paint stroke lying mostly there,
which adds to the IVH; erasing removes IVH voxels too; any other painted voxel is hematoma (the
reader said so).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage as ndi

from ichmodel.edits import assemble
from ichmodel.edits.record import BrushEdit, ComponentEdit, Edit, EditRecord, GrowEdit
from ichmodel.edits.regions import Box, EditError, brush_region, grow_region
from ichmodel.measure import MeasureContext, Measurement
from ichmodel.measure.edges import SHELL_MM, Levels, refine_edges
from ichmodel.measure.ivh import IVH_WHOLE_FRACTION
from ichmodel.measure.partial import RING_MM, fractional_volumes_ml
from ichmodel.volume import Volume

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Component:
    box: Box  # its voxels' bounding box on the crop
    levels: Levels | None
    stats: assemble.ComponentStats | None = None


@dataclass(frozen=True)
class _Undo:
    box: Box
    ids: np.ndarray
    ivh: np.ndarray
    ivh_painted: np.ndarray
    erased: np.ndarray
    components: dict[int, _Component]
    excluded: frozenset[int]
    next_id: int
    measurement: Measurement


class EditSession:
    """Edits of one automatic ``measurement`` made by ``context`` (the same volume)."""

    def __init__(self, context: MeasureContext, automatic: Measurement, series_uid: str) -> None:
        prep, region = context.blood_prep, context.region
        if prep is None or region.box is None or context.frame is None:
            raise EditError("no intracranial region was found in this series: nothing to edit")
        if automatic.hematoma_mask.shape != context.volume.shape:
            raise ValueError("the measurement belongs to another volume than the context")
        self.context, self.automatic, self.prep = context, automatic, prep
        self.crop: Box = region.box
        self.origin = tuple(int(b.start) for b in self.crop)
        params = automatic.params
        self.hu_range = (float(params.hu_min), float(params.hu_max))
        self.record = EditRecord(series_uid, tuple(context.volume.shape), self.hu_range)  # type: ignore[arg-type]
        self.ids = np.zeros(prep.smoothed.shape, dtype=np.int32)
        if automatic.hematoma_labels is not None:
            self.ids[...] = automatic.hematoma_labels[self.crop]
        self.ivh = np.ascontiguousarray(automatic.ivh_mask[self.crop])
        # IVH the reader painted counts whole, whatever its HU (the partial volume of a
        # painted stroke's edge would read CSF under it as no blood)
        self.ivh_painted = np.zeros(self.ids.shape, dtype=bool)
        # voxels the reader erased: never counted again, not even as a bleed's partial-volume
        # ring (which would otherwise take an erased hole back from the slices around it)
        self.erased = np.zeros(self.ids.shape, dtype=bool)
        # the full-grid IVH mask is rebuilt only when an edit changed IVH voxels (a 512² x 40
        # copy costs more than the whole rest of an edit)
        self.ivh_full: np.ndarray = automatic.ivh_mask
        self.ivh_ml = float(automatic.ivh_volume_ml)
        self.ivh_threshold_ml = float(automatic.ivh_threshold_volume_ml)
        self.components: dict[int, _Component] = {}
        boxes = ndi.find_objects(self.ids)
        for h in automatic.hematomas:
            box = boxes[h.number - 1] if h.number - 1 < len(boxes) else None
            if box is None:
                continue
            lv = None
            if math.isfinite(h.blood_hu) and math.isfinite(h.tissue_hu):
                mid = 0.5 * (h.blood_hu + h.tissue_hu)
                lv = Levels(h.blood_hu, h.tissue_hu, mid)
            self.components[h.number] = _Component(box, lv)  # type: ignore[arg-type]
        self.excluded: frozenset[int] = frozenset()
        self.next_id = max(self.components, default=0) + 1
        self._undo: list[_Undo] = []
        self._redo: list[Edit] = []
        self.skipped: list[str] = []  # edits a replay could not apply, in words
        for cid in self.components:  # warm the cache: the first edit pays only for itself
            self._stats(cid)
        # before any edit the measurement is the automatic one itself (assembling it again
        # gives the same numbers and mask: tests/model/test_edits.py)
        self._measurement = automatic

    # --- queries ----------------------------------------------------------------------------
    @property
    def measurement(self) -> Measurement:
        return self._measurement

    @property
    def edited(self) -> bool:
        return bool(self.record.edits)

    @property
    def can_undo(self) -> bool:
        return bool(self._undo)

    @property
    def can_redo(self) -> bool:
        return bool(self._redo)

    def component_at(self, voxel_zyx: tuple[int, int, int]) -> int:
        """The component id holding a Volume voxel (0: none)."""
        c = self._to_crop(voxel_zyx)
        return 0 if c is None else int(self.ids[c])

    def is_excluded(self, voxel_zyx: tuple[int, int, int]) -> bool:
        return self.component_at(voxel_zyx) in self.excluded

    # --- editing ----------------------------------------------------------------------------
    def apply(self, edit: Edit) -> Measurement:
        """Make one edit (raises :class:`EditError` when it cannot be made here); returns the
        re-derived measurement. The record gets the edit with its ``delta_ml``."""
        m = self._apply(edit)
        self._redo.clear()
        return m

    def undo(self) -> Measurement:
        if not self._undo:
            return self._measurement
        u = self._undo.pop()
        self._redo.append(self.record.edits[-1])
        self.ids[u.box] = u.ids
        self.ivh[u.box] = u.ivh
        self.ivh_painted[u.box] = u.ivh_painted
        self.erased[u.box] = u.erased
        self._ivh_changed(u.ivh)
        self.components, self.excluded, self.next_id = u.components, u.excluded, u.next_id
        self.record = self.record.truncated(len(self.record.edits) - 1)
        self._measurement = u.measurement
        return u.measurement

    def forget_redo(self) -> None:
        """Drop the undone edits: something else was done since (the viewer's reset), so
        redo must not bring them back across it."""
        self._redo.clear()

    def redo(self) -> Measurement:
        if not self._redo:
            return self._measurement
        return self._apply(self._redo.pop())

    def _apply(self, edit: Edit) -> Measurement:
        t0 = time.perf_counter()
        before = self._measurement
        if isinstance(edit, ComponentEdit):
            self._toggle(edit)
        elif isinstance(edit, GrowEdit):
            self._grow(edit)
        elif isinstance(edit, BrushEdit):
            self._brush(edit)
        else:
            raise TypeError(f"not an edit: {type(edit).__name__}")
        if self._undo and self._undo[-1].measurement is before:
            self._ivh_changed(self._undo[-1].ivh)
        stats = {cid: self._stats(cid) for cid in self.components}
        after_ml = sum(stats[c].volume_ml for c in assemble.included_order(self, stats))
        self.record = self.record.with_edit(replace(edit, delta_ml=after_ml
                                                    - before.hematoma_volume_ml))
        m = assemble.measurement(self, stats)
        self._measurement = replace(m, timings_s={"edit_s": time.perf_counter() - t0})
        return self._measurement

    def _ivh_changed(self, old_ivh_in_box: np.ndarray) -> None:
        box = self._undo[-1].box if self._undo else None
        if not old_ivh_in_box.any() and (box is None or not self.ivh[box].any()):
            return
        full = assemble.lazy_zeros(self.context.volume.shape, np.bool_)
        found = ndi.find_objects(self.ivh.view(np.uint8))
        if found and found[0] is not None:
            b = found[0]
            shifted = tuple(slice(x.start + o, x.stop + o)
                            for x, o in zip(b, self.origin, strict=True))
            full[shifted] = self.ivh[b]
        self.ivh_full = full
        self.ivh_ml = self.context.ivh_volume_ml(
            self.ivh, self.ids > 0, self.erased, self.ivh_painted
        )
        self.ivh_threshold_ml = (
            float(np.count_nonzero(self.ivh)) * self.context.volume.voxel_volume_ml
        )

    def _snapshot(self, box: Box) -> None:
        self._undo.append(_Undo(box, self.ids[box].copy(), self.ivh[box].copy(),
                                self.ivh_painted[box].copy(),
                                self.erased[box].copy(),
                                dict(self.components), self.excluded, self.next_id,
                                self._measurement))

    def _toggle(self, edit: ComponentEdit) -> None:
        cid = self.component_at(edit.voxel_zyx)
        if cid == 0 or cid not in self.components:
            raise EditError(f"no hematoma at voxel {list(edit.voxel_zyx)}: click inside a contour")
        if edit.kind == "exclude" and cid in self.excluded:
            raise EditError("this hematoma is already excluded; use Include to count it again")
        if edit.kind == "include" and cid not in self.excluded:
            raise EditError("this hematoma is counted already; only an excluded one can be "
                            "included")
        self._snapshot((slice(0, 0),) * 3)
        self.excluded = (self.excluded | {cid}) if edit.kind == "exclude" else (
            self.excluded - {cid})

    def _grow(self, edit: GrowEdit) -> None:
        seed = self._to_crop(edit.seed_zyx)
        if seed is None:
            raise EditError("the seed lies outside the intracranial region: click inside the brain")
        occupied = self._occupied_near(seed, edit.max_radius_mm)
        box, region = grow_region(self.prep, seed, self.hu_range, occupied,
                                  edit.max_radius_mm, edit.max_volume_ml)
        self._snapshot(box)
        if self._intraventricular(box, region):
            self.ivh[box] |= region
            return
        self.ivh[box] &= ~region
        self.ivh_painted[box] &= ~region
        self._add_component(box, region)

    def _intraventricular(self, box: Box, region: np.ndarray) -> bool:
        """A grown or painted region lying mostly in the ventricular space is IVH, as the
        automatic rule would call it (not a new parenchymal hematoma)."""
        space = self.context.ventricles
        if space is None or not space.found:
            return False
        inside = np.count_nonzero(region & space.space[box])
        return inside >= IVH_WHOLE_FRACTION * max(1, np.count_nonzero(region))

    def _occupied_near(self, seed: tuple[int, int, int], radius_mm: float) -> np.ndarray:
        # only the ball's box is read by the grower: build the occupied mask lazily there
        occupied = np.zeros(self.ids.shape, dtype=bool)
        reach = np.ceil(radius_mm / np.asarray(self.prep.spacing_mm)).astype(int)
        box = tuple(slice(max(0, c - r), min(n, c + r + 1))
                    for c, r, n in zip(seed, reach, self.ids.shape, strict=True))
        occupied[box] = self.ids[box] > 0
        return occupied

    def _brush(self, edit: BrushEdit) -> None:
        oy, ox = self.origin[1:]
        pts = tuple((y - oy, x - ox) for y, x in edit.points_yx)
        slices = range(edit.slices.start - self.origin[0], edit.slices.stop - self.origin[0])
        found = brush_region(self.ids.shape, self.prep.spacing_mm, slices, pts, edit.radius_mm)
        if found is None:
            raise EditError("the brush lies outside the intracranial region")
        box, disk = found
        ids = self.ids[box]
        if edit.kind == "erase":
            hit = disk & ((ids > 0) | self.ivh[box])
            if not hit.any():
                raise EditError("nothing to erase under the brush")
            self._snapshot(box)
            touched = set(np.unique(ids[hit]).tolist()) - {0}
            ids[hit] = 0
            self.ivh[box] &= ~hit
            self.ivh_painted[box] &= ~hit
            self.erased[box] |= disk & self.prep.inside[box]
            for cid in touched:
                self._refit(cid)
            return
        free = disk & self.prep.inside[box] & (ids == 0)
        if not free.any():
            raise EditError("nothing to paint: the brush lies outside the brain or on hematoma")
        self._snapshot(box)
        if self._intraventricular(box, free):  # the reader paints blood in a ventricle
            self.ivh[box] |= free
            self.ivh_painted[box] |= free
            self.erased[box] &= ~free
            return
        under = ids[disk & (ids > 0)]
        under = under[~np.isin(under, list(self.excluded))] if self.excluded else under
        self.ivh[box] &= ~free
        self.ivh_painted[box] &= ~free
        self.erased[box] &= ~free
        if under.size:  # the stroke extends the hematoma it touches most
            cid = int(np.bincount(under).argmax())
            ids[free] = cid
            self._refit(cid, grown_by=box)
        else:
            self._add_component(box, free)

    # --- components -------------------------------------------------------------------------
    def _add_component(self, box: Box, region: np.ndarray) -> None:
        cid = self.next_id
        self.next_id += 1
        self.ids[box][region] = cid
        self.components[cid] = _Component(self._bbox(cid, box), self._levels(cid, box))
        self._invalidate_near(box)

    def _refit(self, cid: int, grown_by: Box | None = None) -> None:
        comp = self.components.get(cid)
        if comp is None:
            return
        search = comp.box if grown_by is None else _union(comp.box, grown_by)
        box = self._bbox(cid, search)
        if box is None:
            del self.components[cid]
            self.excluded = self.excluded - {cid}
        else:
            self.components[cid] = _Component(box, comp.levels)
        self._invalidate_near(search)

    def _bbox(self, cid: int, search: Box) -> Box | None:
        inner = ndi.find_objects((self.ids[search] == cid).view(np.uint8))
        if not inner or inner[0] is None:
            return None
        return tuple(slice(s.start + i.start, s.start + i.stop)
                     for s, i in zip(search, inner[0], strict=True))  # type: ignore[return-value]

    def _levels(self, cid: int, box: Box) -> Levels | None:
        """A new hematoma's own blood and tissue levels (as :mod:`~ichmodel.measure.edges`
        measures them), for its partial volume."""
        sy, sx = self.prep.spacing_mm[1:]
        pad = (1, math.ceil(SHELL_MM[1] / sy) + 1, math.ceil(SHELL_MM[1] / sx) + 1)
        big = _pad(box, pad, self.ids.shape)
        sub = (self.ids[big] == cid).astype(np.int32)
        params = replace(self.automatic.params, refine_edges=False)
        _, levels = refine_edges(sub, 1, self.prep.smoothed[big], self.prep.allowed[big]
                                 & ~((self.ids[big] > 0) & (sub == 0)), self.prep.spacing_mm,
                                 params)
        return levels.get(1)

    def _invalidate_near(self, box: Box) -> None:
        sy, sx = self.prep.spacing_mm[1:]
        pad = (1, math.ceil(RING_MM / sy) + 1, math.ceil(RING_MM / sx) + 1)
        reach = _pad(box, tuple(2 * p for p in pad), self.ids.shape)
        for cid, comp in list(self.components.items()):
            if comp.stats is not None and _overlaps(comp.box, reach):
                self.components[cid] = replace(comp, stats=None)

    def _stats(self, cid: int) -> assemble.ComponentStats:
        comp = self.components[cid]
        if comp.stats is not None:
            return comp.stats
        sy, sx = self.prep.spacing_mm[1:]
        pad = (1, math.ceil(RING_MM / sy) + 1, math.ceil(RING_MM / sx) + 1)
        big = _pad(comp.box, pad, self.ids.shape)
        sub = self.ids[big]
        own = np.where(sub == cid, 1, np.where(sub > 0, 2, 0)).astype(np.int32)
        levels = {1: comp.levels} if comp.levels is not None else {}
        allowed = self.prep.allowed[big] & ~self.erased[big]
        pv = fractional_volumes_ml(own, [1], self.prep.smoothed[big], allowed, levels,
                                   self.prep.spacing_mm)[1]
        stats = assemble.component_stats(self, cid, comp.box, pv)
        self.components[cid] = replace(comp, stats=stats)
        return stats

    def _assemble(self) -> Measurement:
        stats = {cid: self._stats(cid) for cid in self.components}
        return assemble.measurement(self, stats)

    def _to_crop(self, voxel_zyx: tuple[int, int, int]) -> tuple[int, int, int] | None:
        c = tuple(int(v) - o for v, o in zip(voxel_zyx, self.origin, strict=True))
        if all(0 <= v < n for v, n in zip(c, self.ids.shape, strict=True)):
            return c  # type: ignore[return-value]
        return None


def apply_edits(context: MeasureContext, automatic: Measurement, record: EditRecord
                ) -> EditSession:
    """Replay ``record`` on ``automatic`` (measured by ``context`` at the record's HU range);
    returns the session (``.measurement`` is the edited measurement). An edit that cannot be
    applied any more is skipped and named in a warning notice of the measurement."""
    record.check_series(record.series_uid, context.volume.shape)
    params = automatic.params
    if (float(params.hu_min), float(params.hu_max)) != tuple(record.hu_range):
        raise EditError(
            f"the edits were made at {record.hu_range[0]:g}-{record.hu_range[1]:g} HU, the "
            f"measurement is at {params.hu_min:g}-{params.hu_max:g} HU: measure at the edits' "
            "range (or discard the edits)"
        )
    session = EditSession(context, automatic, record.series_uid)
    for i, edit in enumerate(record.edits, start=1):
        try:
            session.apply(edit)
        except EditError as exc:
            session.skipped.append(f"edit {i} ({edit.kind}): {exc}")
            log.warning("edit %d could not be applied: %s", i, exc)
    if session.skipped:
        session._measurement = assemble.with_skipped(session.measurement, session.skipped)
    return session


def _pad(box: Box, pad: tuple[int, ...], shape: tuple[int, ...]) -> Box:
    return tuple(slice(max(0, b.start - p), min(n, b.stop + p))
                 for b, p, n in zip(box, pad, shape, strict=True))  # type: ignore[return-value]


def _union(a: Box, b: Box) -> Box:
    return tuple(slice(min(x.start, y.start), max(x.stop, y.stop))
                 for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


def _overlaps(a: Box, b: Box) -> bool:
    return all(x.start < y.stop and y.start < x.stop for x, y in zip(a, b, strict=True))


def measure_with_edits(volume: Volume, record: EditRecord) -> EditSession:
    """Measure ``volume`` at the record's HU range and replay its edits (``ichmodel measure
    --edits``): :class:`EditRecordError` when the record belongs to another series or grid."""
    from ichmodel.measure import MeasureParams, prepare

    record.check_series(volume.meta.series_uid, volume.shape)
    params = MeasureParams.for_hu_range(tuple(record.hu_range))
    context = prepare(volume, params)
    return apply_edits(context, context.measure(params), record)
