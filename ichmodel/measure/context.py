"""Measuring a Volume: :func:`prepare` once, then :meth:`MeasureContext.measure` per HU range.

``prepare`` finds the intracranial region, crops to it and caches everything that does not
depend on the HU range (smoothed HU, calcifications, ventricles, head geometry); a live HU
slider then calls ``context.measure(params)`` which only thresholds, labels and measures.
:func:`measure` is the one-call entry point.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace

import numpy as np
from scipy import ndimage as ndi

from ichmodel import notices
from ichmodel.errors import SingleSliceError
from ichmodel.measure import location as loc
from ichmodel.measure._morph import bbox
from ichmodel.measure.abc2 import measure_abc2
from ichmodel.measure.brain import IntracranialRegion, find_intracranial
from ichmodel.measure.extra_axial import find_extra_axial
from ichmodel.measure.hematoma import (
    BloodPrep,
    BloodSegmentation,
    drop_below_skull_base,
    drop_inside,
    drop_midline_dural,
    halo_facing_blood,
    prepare_blood,
    segment_blood,
    trim_slices,
    vertex_slices,
)
from ichmodel.measure.ivh import (
    MIN_IVH_ML,
    Ventricles,
    cast_ivh,
    find_ventricles,
    ivh_candidates,
    layering_ivh,
    split_ivh,
)
from ichmodel.measure.partial import fractional_ivh_ml, fractional_volumes_ml
from ichmodel.measure.types import ABC2, Hematoma, Measurement, MeasureParams
from ichmodel.measure.verdict import hematoma_measurement
from ichmodel.notices import Notice, Source
from ichmodel.volume import Volume

log = logging.getLogger(__name__)

#: The notice of a plausible subdural/epidural collection (:mod:`.extra_axial`).
EXTRA_AXIAL_CODE = "measure.extra_axial_collection"
#: The notice that dense blood outside the ventricles' CSF was counted as a cast horn by its
#: mirror image; from this much of it (ml).
IVH_BY_MIRROR_CODE = "measure.ivh_by_mirror"
IVH_BY_MIRROR_MIN_ML = 1.0


def _check_volume(volume: Volume) -> None:
    if not isinstance(volume, Volume):
        raise TypeError(f"measure() needs an ichmodel.volume.Volume, got {type(volume).__name__}")
    if volume.hu.ndim != 3:  # Volume checks this too; a mutated array could slip through
        raise ValueError(f"the volume must be 3-D (z, y, x), got shape {volume.hu.shape}")
    if min(volume.shape) < 1:
        raise ValueError(f"the volume is empty: shape {volume.shape}")
    if volume.shape[0] < 2:
        raise SingleSliceError(
            "a single slice has no third dimension to measure a volume on; "
            "load the whole axial series"
        )


class MeasureContext:
    """The HU-range independent part of a measurement of one Volume, cached.

    Not thread-safe: use one context per thread (the viewer's worker owns it).
    """

    def __init__(self, volume: Volume, params: MeasureParams | None = None) -> None:
        _check_volume(volume)
        self.volume = volume
        self._key: tuple[float, ...] | None = None
        self._region: IntracranialRegion | None = None
        self._prep: BloodPrep | None = None
        self._frame: loc.HeadFrame | None = None
        self._ventricles: Ventricles | None = None
        #: where intraventricular blood may be: ``allowed`` and the calcifications' halo that
        #: faces blood in the ventricles' zone (the choroid plexus glomus in a cast atrium)
        self._allowed_ivh: np.ndarray | None = None
        self.prepare_s = 0.0
        self._build(params or MeasureParams())

    @property
    def region(self) -> IntracranialRegion:
        assert self._region is not None
        return self._region

    # Read-only views for the reader's edits (:mod:`ichmodel.edits`): they grow and paint on
    # the same smoothed HU and intracranial mask the measurement thresholds. None until a
    # region is found.
    @property
    def blood_prep(self) -> BloodPrep | None:
        return self._prep

    @property
    def frame(self) -> loc.HeadFrame | None:
        return self._frame

    @property
    def ventricles(self) -> Ventricles | None:
        return self._ventricles

    def _build(self, params: MeasureParams) -> None:
        t0 = time.perf_counter()
        vol = self.volume
        hu = vol.hu
        if not (np.isfinite(hu.min()) and np.isfinite(hu.max())):
            hu = np.nan_to_num(hu, nan=-1000.0, posinf=3000.0, neginf=-1000.0)
        self._region = find_intracranial(
            hu,
            vol.spacing_mm,
            bone_hu=params.bone_hu,
            skull_rim_mm=params.skull_rim_mm,
            skull_contact_mm=params.skull_contact_mm,
        )
        self._prep = None
        self._frame = None
        self._allowed_ivh = None
        if self._region.found:
            assert self._region.box is not None
            hu_crop = hu[self._region.box]
            self._prep = prepare_blood(hu_crop, self._region, vol.spacing_mm, params)
            orientation = loc.orientation_from_direction(vol.direction)
            self._frame = loc.build_frame(self._region.mask, vol.spacing_mm, orientation)
            self._ventricles = find_ventricles(self._region.mask, self._prep.smoothed, self._frame)
            self._allowed_ivh = self._prep.allowed
            if self._ventricles.found and self._ventricles.central is not None:
                self._allowed_ivh = self._allowed_ivh | halo_facing_blood(
                    self._prep, self._ventricles.central, params
                )
        self._key = params.structure_key()
        self.prepare_s = time.perf_counter() - t0
        log.debug("prepared %r in %.3f s", vol, self.prepare_s)

    def measure(self, params: MeasureParams | None = None) -> Measurement:
        """Measure with ``params``; only HU-range work unless structural params changed."""
        params = params or MeasureParams()
        timings = {}
        if params.structure_key() != self._key:
            self._build(params)
            timings["prepare_s"] = self.prepare_s
        t0 = time.perf_counter()
        result = self._measure(params)
        timings["measure_s"] = time.perf_counter() - t0
        return replace(result, timings_s={**timings, **result.timings_s})

    def _empty(
        self, params: MeasureParams, status: str, found: tuple[Notice, ...] | list[Notice] = ()
    ) -> Measurement:
        shape = self.volume.shape
        return Measurement(
            hematoma_mask=np.zeros(shape, dtype=bool),
            hematoma_volume_ml=0.0,
            abc2=ABC2(),
            location="none",
            location_description="no hematoma",
            ivh=False,
            ivh_volume_ml=0.0,
            ivh_mask=np.zeros(shape, dtype=bool),
            intracranial_volume_ml=self.region.volume_ml if self._region else 0.0,
            n_components=0,
            status=status,
            notices=tuple(found),
            params=params,
        )

    def _measure(self, params: MeasureParams) -> Measurement:
        region = self.region
        if not region.found:
            return self._empty(params, region.status)
        prep, frame, ventricles = self._prep, self._frame, self._ventricles
        assert prep is not None and frame is not None and ventricles is not None
        assert self._allowed_ivh is not None  # set with prep
        assert region.box is not None
        seg = segment_blood(prep, params)
        found = list(seg.notices)
        cand = seg.rejected | seg.mask
        area = prep.inside.reshape(prep.inside.shape[0], -1).sum(axis=1)
        seg = drop_below_skull_base(seg, area)
        vertex = vertex_slices(area, frame)
        seg = trim_slices(seg, vertex)
        seg = drop_midline_dural(seg, frame)
        collection = find_extra_axial(
            cand,
            prep.inside,
            frame.height,
            prep.spacing_mm,
            hematoma=seg.mask,
            smoothed=prep.smoothed,
            rim_mm=params.skull_rim_mm,
            hu_range=(params.hu_min, params.hu_max),
            frame=frame,
        )
        if collection is not None:
            seg = drop_inside(seg, collection.mask, prep.near_skull)
            found.append(
                notices.warning(
                    EXTRA_AXIAL_CODE,
                    f"possible extra-axial collection (subdural/epidural): a crescent of blood "
                    f"density along the skull, up to {collection.thickness_mm:.0f} mm thick over "
                    f"{collection.n_slices} slices (~{collection.volume_ml:.0f} ml); it is not in "
                    "the intracerebral hematoma volume",
                    Source.MEASURE,
                )
            )
        if not ventricles.found and seg.mask.any():
            found.append(
                notices.warning(
                    "measure.ventricles_not_found",
                    "ventricles not found: intraventricular blood not assessed",
                    Source.MEASURE,
                )
            )
        voxel_ml = self.volume.voxel_volume_ml
        # blood no hematoma core claimed: layering and dim casts first, so that a horn dense
        # enough for a core is recognised by its mirror image on the other, thinner one
        loose = ivh_candidates(prep.smoothed, self._allowed_ivh, params.hu_min, params.hu_max)
        loose &= ~seg.mask
        layering = layering_ivh(loose, ventricles, frame, hematoma=seg.mask)
        layering |= cast_ivh(loose & ~layering, ventricles, frame, voxel_ml, layering)
        parenchymal, ivh = split_ivh(
            seg.mask,
            seg.labels,
            frame,
            ventricles,
            prep.voxel_ml,
            params.min_component_ml,
            thin_ivh=layering,
            smoothed=prep.smoothed,
            dim_blood=loose & ~layering,
        )
        ventricular_blood = ivh | layering
        if float(np.count_nonzero(ventricular_blood)) * voxel_ml >= MIN_IVH_ML:
            ivh = ventricular_blood
        found.extend(_mirror_notice(seg.mask & ivh & ~ventricles.space, voxel_ml))
        hematomas, labels = self._hematomas(seg, parenchymal, params, ventricular_blood, vertex)
        ivh_ml = self.ivh_volume_ml(ivh, labels > 0)
        if not hematomas and ivh_ml == 0.0:
            return self._empty(params, f"no hematoma found above {params.hu_min:g} HU", found)
        abc2 = ABC2()
        if hematomas:
            main = labels == 1
            box = bbox(main)
            assert box is not None
            offset = tuple(
                int(a.start) + int(b.start) for a, b in zip(region.box, box, strict=True)
            )
            abc2 = measure_abc2(main[box], self.volume.spacing_mm, offset)  # type: ignore[arg-type]
        full_labels = np.zeros(self.volume.shape, dtype=np.int16)
        full_labels[region.box] = labels
        return hematoma_measurement(
            hematomas,
            abc2=abc2,
            hematoma_mask=full_labels > 0,
            hematoma_labels=full_labels,
            ivh_mask=self._to_full(ivh),
            ivh_volume_ml=ivh_ml,
            ivh_threshold_volume_ml=float(np.count_nonzero(ivh)) * voxel_ml,
            intracranial_volume_ml=region.volume_ml,
            params=params,
            found=found,
        )

    def _hematomas(
        self,
        seg: BloodSegmentation,
        parenchymal: np.ndarray,
        params: MeasureParams,
        ventricular_blood: np.ndarray,
        vertex: np.ndarray,
    ) -> tuple[tuple[Hematoma, ...], np.ndarray]:
        """Each parenchymal hematoma measured on its own, largest (partial volume) first,
        and their labels on the crop (1 = largest). The partial-volume ring around a
        hematoma leaves out ``ventricular_blood`` (bool) as it does the other hematomas: a
        cast beside it is blood of its own, not the hematoma's edge; nor does it reach onto the
        ``vertex`` slices ((z,) bool, :func:`~.hematoma.vertex_slices`)."""
        prep, frame, region = self._prep, self._frame, self.region
        assert prep is not None and frame is not None and region.box is not None
        labels = np.where(parenchymal, seg.labels, 0).astype(np.int32)
        min_voxels = max(1, int(np.ceil(params.min_component_ml / prep.voxel_ml - 1e-9)))
        counts = np.bincount(labels.ravel(), minlength=seg.n_components + 1)
        ids = [i for i in range(1, seg.n_components + 1) if counts[i] >= min_voxels]
        if not ids:
            return (), np.zeros_like(labels)
        pv = fractional_volumes_ml(
            labels, ids, prep.smoothed, prep.allowed & ~ventricular_blood & ~vertex[:, None, None],
            seg.levels,
            prep.spacing_mm,
        )
        centroids = ndi.center_of_mass(labels > 0, labels, ids)
        ids_sorted = sorted(ids, key=lambda i: -pv[i])
        relabel = np.zeros(seg.n_components + 1, dtype=np.int32)
        objects = ndi.find_objects(labels)
        origin = [int(b.start) for b in region.box]
        out = []
        for number, i in enumerate(ids_sorted, start=1):
            relabel[i] = number
            c_crop = centroids[ids.index(i)]
            site, words = loc.classify_centroid(c_crop, frame)
            c_full = tuple(float(c + o) for c, o in zip(c_crop, origin, strict=True))
            zs = objects[i - 1][0]
            lv = seg.levels.get(i)
            out.append(
                Hematoma(
                    number=number,
                    volume_ml=float(pv[i]),
                    threshold_volume_ml=float(counts[i]) * prep.voxel_ml,
                    centroid_zyx=c_full,  # type: ignore[arg-type]
                    centroid_lps_mm=tuple(float(v) for v in self.volume.index_to_physical(c_full)),  # type: ignore[arg-type]
                    location=site,
                    location_description=words,
                    slice_range=(int(zs.start) + origin[0], int(zs.stop) - 1 + origin[0]),
                    blood_hu=float(lv.blood_hu) if lv else float("nan"),
                    tissue_hu=float(lv.tissue_hu) if lv else float("nan"),
                )
            )
        return tuple(out), relabel[labels]

    def ivh_volume_ml(
        self,
        ivh: np.ndarray,
        hematoma: np.ndarray,
        erased: np.ndarray | None = None,
        painted: np.ndarray | None = None,
    ) -> float:
        """Partial-volume volume (ml) of the intraventricular blood ``ivh`` (bool, on the
        crop) beside the hematomas ``hematoma`` (bool); ``erased`` voxels (a reader's edit)
        are not counted in its partial-volume ring, ``painted`` ones (the reader's blood)
        count whole. The automatic measurement and the edit session both count IVH here."""
        prep, ventricles = self._prep, self._ventricles
        assert prep is not None and ventricles is not None
        allowed = prep.allowed if erased is None else prep.allowed & ~erased
        return fractional_ivh_ml(
            ivh, prep.smoothed, allowed, ventricles.csf, hematoma, prep.spacing_mm, painted
        )

    def _to_full(self, crop_mask: np.ndarray) -> np.ndarray:
        full = np.zeros(self.volume.shape, dtype=bool)
        full[self.region.box] = crop_mask
        return full


def prepare(volume: Volume, params: MeasureParams | None = None) -> MeasureContext:
    """Do the HU-range independent work once; then call ``context.measure(params)``."""
    return MeasureContext(volume, params)


def measure(volume: Volume, params: MeasureParams | None = None) -> Measurement:
    """Measure the hematoma in a head CT Volume (the one-call entry point).

    Never raises for odd content (no skull, no blood): the Measurement's ``status`` says what
    was found. Raises TypeError/ValueError only for structurally wrong input.
    """
    params = params or MeasureParams()
    context = MeasureContext(volume, params)
    result = context.measure(params)
    return replace(result, timings_s={"prepare_s": context.prepare_s, **result.timings_s})


def _mirror_notice(by_mirror: np.ndarray, voxel_ml: float) -> list[Notice]:
    """A check for the reader when dense blood that lies outside the ventricles' CSF envelope
    (``by_mirror``, bool: hematoma-core blood called IVH) was counted as intraventricular: the
    mirror test takes a horn filled with blood for what it is, but a hematoma behind a small
    atrium whose mirror image falls in a larger one looks the same (dev GE insertions 400039,
    400807, docs/measure_dev_findings_2026-12-03.md)."""
    ml = float(np.count_nonzero(by_mirror)) * voxel_ml
    if ml < IVH_BY_MIRROR_MIN_ML:
        return []
    return [
        notices.warning(
            IVH_BY_MIRROR_CODE,
            f"{ml:.1f} ml of dense blood outside the ventricles' CSF was counted as "
            "intraventricular (a horn filled with blood: its mirror image across the midline "
            "lies on the other ventricle). A hematoma beside an atrium or horn can look the "
            "same: check it on the slices; if it is one, Segmentation > Grow from seed on it "
            "counts it as a hematoma",
            Source.MEASURE,
        )
    ]
