"""The small frozen dataclasses of :mod:`ichmodel.measure`: parameters in, a Measurement out.

Every default of :class:`MeasureParams` is documented with its reason; the ones that do not
depend on the HU range (skull, smoothing, calcification) form :meth:`MeasureParams.structure_key`
so a :class:`~ichmodel.measure.context.MeasureContext` can keep its cache while a live slider
moves ``hu_min``/``hu_max``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ichmodel.notices import Notice, texts

#: Sites, in the phantom's vocabulary (``ichmodel.phantom.Phantom.site``).
SITES = ("none", "deep", "lobar", "infratentorial")

#: Every location we report is a heuristic from image geometry; the UI and report say so.
LOCATION_CAVEAT = "best effort from image geometry, not an anatomical atlas"


@dataclass(frozen=True)
class MeasureParams:
    """Knobs of the classical hematoma measurement. HU are Hounsfield units, mm millimetres.

    Defaults and why:

    * ``hu_min`` 50 HU: the midpoint between brain parenchyma (~30 HU) and acute clotted blood
      (~70 HU). Thresholding a (lightly smoothed) image at the midpoint counts a partial-volume
      voxel as blood exactly when it is more than half blood, so top/bottom slices of a bleed on
      thick (5 mm) slices are neither systematically over- nor under-counted.
    * ``hu_max`` 90 HU: acute blood rarely exceeds ~90 HU (hemoconcentrated clot); brighter
      voxels are calcification, bone or metal. Holes left by a few brighter voxels *inside* a
      bleed are filled afterwards.
    * ``min_component_ml`` 0.1 ml: drops noise specks and tiny dense vessels; the smallest
      bleeds of clinical interest are well above it (a 0.1 ml sphere is 5.8 mm across).
    * ``seed_margin_hu`` 10 HU: hysteresis; a region counts only when somewhere it is clearly
      blood (smoothed HU >= ``hu_min`` + 10), so clusters of noise just over ``hu_min`` in
      grey matter (35-45 HU) are not blood.
    * ``smoothing_mm`` 0.8 mm: Gaussian sigma applied before thresholding, in mm on every axis
      whose spacing allows it (thin slices are smoothed in z too, 5 mm slices only in-plane);
      CT noise (5-15 HU) would otherwise push grey-matter voxels over 50 HU by the thousand.
      Small enough that a straight blood/brain edge stays where it is at the midpoint threshold.
    * ``bone_hu`` 300 HU: cortical skull is 700-2000 HU; 300 keeps thin, partial-volume
      skull (thin slices through the vault, the skull base) inside the bone mask.
    * ``skull_rim_mm`` 2 mm: intracranial voxels this close to bone are not measured: a voxel
      that is part bone part brain reads 50-90 HU and would look like blood.
    * ``skull_contact_mm`` 5 mm: a hematoma's *core* must lie farther than this from bone;
      ``core_radius_mm`` 3 mm: and that deep inside the blood-range region (a ball of 3 mm
      fits). Bone partial volume (vault, petrous ridges, clinoids), beam-hardening streaks,
      the falx, the tentorium and the dural sinuses (3-4 mm across, against the inner
      table) have no such core; every hematoma of 1 ml or more (a 6 mm sphere) has one,
      including convexity bleeds 1 cm from the skull (see :mod:`ichmodel.measure.detect`).
    * ``min_core_ml`` 0.01 ml: smaller cores are noise.
    * ``min_contrast_hu`` 18 HU: a hematoma's own blood level (median of its inner band) must
      exceed the tissue around it by this much; the tentorium cut obliquely by a thick slice
      is a hazy 55 HU smear in 40-45 HU surroundings, a clot is 55-85 HU in 20-35 HU brain
      and edema.
    * ``calcification_hu`` 100 HU, on the smoothed image: after smoothing, acute blood reads
      at most ~90 HU, so anything brighter inside the skull is calcification (pineal, choroid
      plexus, falx, vessel walls) or bone partial volume - also a small calcification that a
      thick slice dims to 110-140 HU. Tiny spots that smooth below this are harmless: their
      blood-range bump is far below ``min_component_ml``. Working on the smoothed image keeps
      a single noisy bright voxel inside a real bleed from being called a calcification.
      ``hu_max`` above this value has no further effect.
    * ``calcification_halo_mm`` 2 mm: blood-range voxels this close to a calcification are its
      partial-volume halo (the smoothing spreads it by ~2 sigma) and are not blood; halos that
      fall inside a real bleed are restored by filling the bleed's enclosed holes.
    * ``refine_edges`` True: after detection, each bleed's edge moves to the midpoint between
      its own blood and the tissue around it, within ``hu_min`` +/- 10 HU (see
      :mod:`ichmodel.measure.edges`): the partial-volume-correct edge for pale bleeds in
      edema as for dense clots. False gives the plain [hu_min, hu_max] threshold.
    """

    hu_min: float = 50.0
    hu_max: float = 90.0
    min_component_ml: float = 0.1
    seed_margin_hu: float = 10.0
    smoothing_mm: float = 0.8
    bone_hu: float = 300.0
    skull_rim_mm: float = 2.0
    skull_contact_mm: float = 5.0
    core_radius_mm: float = 3.0
    min_core_ml: float = 0.01
    min_contrast_hu: float = 18.0
    calcification_hu: float = 100.0
    calcification_halo_mm: float = 2.0
    refine_edges: bool = True

    def __post_init__(self) -> None:
        if not self.hu_min < self.hu_max:
            raise ValueError(f"hu_min ({self.hu_min}) must be below hu_max ({self.hu_max}) HU")
        if self.min_component_ml < 0:
            raise ValueError(f"min_component_ml must be >= 0, got {self.min_component_ml}")
        for name in (
            "smoothing_mm",
            "skull_rim_mm",
            "skull_contact_mm",
            "calcification_halo_mm",
            "core_radius_mm",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0 mm, got {getattr(self, name)}")

    @classmethod
    def for_hu_range(cls, hu_range: tuple[float, float] | None = None) -> MeasureParams:
        """The default parameters at a blood HU range (None: the defaults' 50-90 HU), with an
        :class:`~ichmodel.errors.InputError` a user can act on for a reversed range. The CLI,
        the viewer and a replayed edit record all measure through this."""
        from ichmodel.errors import InputError

        if hu_range is None:
            return cls()
        lo, hi = (float(v) for v in hu_range)
        if not lo < hi:
            raise InputError(f"the blood HU range must rise: {lo:g} .. {hi:g} HU is empty")
        return cls(hu_min=lo, hu_max=hi)

    def structure_key(self) -> tuple[float, ...]:
        """The parameters that do not depend on the HU range: a cache key for the context."""
        return (
            self.smoothing_mm,
            self.bone_hu,
            self.skull_rim_mm,
            self.skull_contact_mm,
            self.calcification_hu,
            self.calcification_halo_mm,
        )

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


Segment = tuple[tuple[float, float, float], tuple[float, float, float]]


@dataclass(frozen=True)
class ABC2:
    """Automated ABC/2 (Kothari et al., Stroke 1996) of the largest hematoma.

    ``a_mm``: longest in-plane diameter on the slice with the largest hematoma area;
    ``b_mm``: longest diameter perpendicular to A on that slice; ``c_mm``: Kothari-weighted
    slice count x slice spacing (a slice counts 1 when its area >= 75 % of the largest, 0.5
    when 25-75 %, 0 below). ``volume_ml`` = A x B x C / 2 / 1000.

    Segments are ((z, y, x), (z, y, x)) in voxel index coordinates of the Volume grid (pixel
    centres at integers, fractional values allowed): draw them on slice ``slice_index``. Each
    spans the measured length in mm (half a pixel beyond the outermost pixel centres).
    """

    a_mm: float = 0.0
    b_mm: float = 0.0
    c_mm: float = 0.0
    volume_ml: float = 0.0
    slice_index: int | None = None
    a_segment_zyx: Segment | None = None
    b_segment_zyx: Segment | None = None
    #: Kothari weight (1 / 0.5 / 0) of each slice from ``slice_weights_start`` on (Volume
    #: slice indices), so a viewer can show which slices counted.
    slice_weights: tuple[float, ...] = ()
    slice_weights_start: int | None = None
    #: C without Kothari's weighting (every slice with hematoma counts 1) x spacing, mm: the
    #: shortcut many readers take; shown for comparison, not used in ``volume_ml``.
    c_unweighted_mm: float = 0.0

    @property
    def volume_unweighted_ml(self) -> float:
        """A x B x C/2 with the unweighted C, ml."""
        return self.a_mm * self.b_mm * self.c_unweighted_mm / 2.0 / 1000.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "a_mm": self.a_mm,
            "b_mm": self.b_mm,
            "c_mm": self.c_mm,
            "volume_ml": self.volume_ml,
            "slice_index": self.slice_index,
            "a_segment_zyx": self.a_segment_zyx,
            "b_segment_zyx": self.b_segment_zyx,
        }


@dataclass(frozen=True)
class Hematoma:
    """One intraparenchymal hematoma, measured on its own.

    ``volume_ml`` is the partial-volume (fractional) volume, the headline; ``threshold_
    volume_ml`` the plain count of its mask's voxels (what a 3D Slicer threshold segmentation
    gives). ``number`` is 1 for the largest; its voxels are ``hematoma_labels == number``.
    ``centroid_zyx`` is a (fractional) voxel index on the Volume grid, ``centroid_lps_mm``
    the same point in patient coordinates. ``blood_hu``/``tissue_hu``: its own blood level
    and the tissue around it (smoothed HU), which set its edge and its partial volume.
    """

    number: int
    volume_ml: float
    threshold_volume_ml: float
    centroid_zyx: tuple[float, float, float]
    centroid_lps_mm: tuple[float, float, float]
    location: str
    location_description: str
    slice_range: tuple[int, int]
    blood_hu: float
    tissue_hu: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "volume_ml": round(self.volume_ml, 3),
            "threshold_volume_ml": round(self.threshold_volume_ml, 3),
            "centroid_zyx": [round(c, 2) for c in self.centroid_zyx],
            "centroid_lps_mm": [round(c, 1) for c in self.centroid_lps_mm],
            "location": self.location,
            "location_description": self.location_description,
            "slice_range": list(self.slice_range),
            "blood_hu": round(self.blood_hu, 1),
            "tissue_hu": round(self.tissue_hu, 1),
        }


@dataclass(frozen=True)
class EditSummary:
    """How the reader edited the automatic segmentation (made by :mod:`ichmodel.edits`).

    Counts and ml: ``excluded`` hematomas left out of the volume, ``grown`` regions grown from
    seeds (``grown_ml`` their partial-volume total), ``painted_ml``/``erased_ml`` the change
    of the planimetric volume by the brush strokes (both >= 0), ``automatic_volume_ml`` the
    planimetric volume before any edit, at ``hu_range`` (HU)."""

    n_edits: int
    excluded: int
    included: int
    grown: int
    grown_ml: float
    painted_ml: float
    erased_ml: float
    automatic_volume_ml: float
    hu_range: tuple[float, float]

    def what_changed(self) -> tuple[str, ...]:
        """The edits in the reader's words ("1 hematoma excluded", "2.10 ml painted", ...)."""
        parts = []
        if self.excluded:
            parts.append(f"{self.excluded} hematoma{'s' if self.excluded != 1 else ''} excluded")
        if self.grown:
            seeds = "seeds" if self.grown != 1 else "a seed"
            parts.append(f"{self.grown} region{'s' if self.grown != 1 else ''} grown from "
                         f"{seeds} (+{self.grown_ml:.2f} ml)")
        if self.painted_ml > 0:
            parts.append(f"{self.painted_ml:.2f} ml painted")
        if self.erased_ml > 0:
            parts.append(f"{self.erased_ml:.2f} ml erased")
        if self.included:
            parts.append(f"{self.included} re-included")
        return tuple(parts)

    def sentence(self) -> str:
        """One sentence for a reader ("segmentation edited by the reader: ...")."""
        what = ", ".join(self.what_changed()) or "edits with no net effect"
        return (f"segmentation edited by the reader ({self.n_edits} edit"
                f"{'s' if self.n_edits != 1 else ''}): {what}; automatic volume "
                f"{self.automatic_volume_ml:.2f} ml at {self.hu_range[0]:g}-"
                f"{self.hu_range[1]:g} HU")

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_edits": self.n_edits,
            "excluded": self.excluded,
            "included": self.included,
            "grown": self.grown,
            "grown_ml": round(self.grown_ml, 3),
            "painted_ml": round(self.painted_ml, 3),
            "erased_ml": round(self.erased_ml, 3),
            "automatic_volume_ml": round(self.automatic_volume_ml, 3),
            "hu_range": list(self.hu_range),
        }


#: How ``Measurement.hematoma_volume_ml`` is obtained (stated in its JSON).
VOLUME_METHOD = "partial-volume fraction per voxel from each bleed's own blood and tissue levels"
THRESHOLD_METHOD = "voxel count of the mask (what a 3D Slicer threshold segmentation gives)"


@dataclass(frozen=True, eq=False)
class Measurement:
    """Everything the classical measurement found in one Volume.

    ``hematoma_mask`` (bool, (z, y, x), on the Volume grid) is the intraparenchymal hematoma
    (every one of ``hematomas``: the contour the viewer draws is exactly what is counted);
    blood inside the ventricles is ``ivh_mask`` and is *not* in ``hematoma_volume_ml``.
    ``hematoma_volume_ml`` is the sum of the hematomas' partial-volume volumes;
    ``threshold_volume_ml`` the voxel count of ``hematoma_mask`` (3D Slicer's threshold).
    ABC/2 and ``location`` describe hematoma number ``abc2_hematoma_number`` (the largest).
    ``location`` is one of :data:`SITES`; ``location_description`` says it in words (side,
    compartment) and that it is best effort. ``status`` is one human sentence ("hematoma
    measured", "no hematoma found above 50 HU", ...); ``found`` tells whether any blood was
    measured. Volumes in ml, from the real voxel spacing.
    """

    hematoma_mask: np.ndarray
    hematoma_volume_ml: float
    abc2: ABC2
    location: str
    location_description: str
    ivh: bool
    ivh_volume_ml: float
    ivh_mask: np.ndarray
    intracranial_volume_ml: float
    n_components: int
    status: str
    #: What the measurement itself found worth saying (the volume's own notices stay on the
    #: Volume; a :class:`~ichmodel.reading.StudyReading` holds both).
    notices: tuple[Notice, ...]
    params: MeasureParams
    timings_s: dict[str, float] = field(default_factory=dict)
    #: Every intraparenchymal hematoma, largest first.
    hematomas: tuple[Hematoma, ...] = ()
    #: int16 (z, y, x): 0 none, k = ``hematomas[k - 1]``; None when nothing was found.
    hematoma_labels: np.ndarray | None = None
    threshold_volume_ml: float = 0.0
    abc2_hematoma_number: int | None = None
    #: The voxel count of ``ivh_mask`` (``ivh_volume_ml`` adds the cast's partial volume).
    ivh_threshold_volume_ml: float = 0.0
    #: Set when the reader edited the segmentation (:func:`ichmodel.edits.apply_edits`);
    #: None for the automatic measurement.
    edited: EditSummary | None = None
    #: bool (z, y, x): hematomas the reader excluded (drawn dashed, not counted); None
    #: when none were.
    excluded_mask: np.ndarray | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        """The notices' sentences."""
        return texts(self.notices)

    @property
    def found(self) -> bool:
        return self.hematoma_volume_ml > 0.0 or self.ivh_volume_ml > 0.0

    @property
    def drawn_ivh_mask(self) -> np.ndarray | None:
        """The intraventricular blood to outline (viewer, report, key images): its mask when
        IVH was called, else None (nothing to draw)."""
        return self.ivh_mask if self.ivh else None

    @property
    def total_blood_volume_ml(self) -> float:
        """Intraparenchymal plus intraventricular blood, ml."""
        return self.hematoma_volume_ml + self.ivh_volume_ml

    def to_dict(self) -> dict[str, Any]:
        """The CLI/JSON summary (no masks)."""
        return {
            "hematoma_volume_ml": round(self.hematoma_volume_ml, 3),
            "abc2_ml": round(self.abc2.volume_ml, 3),
            "abc2_axes_mm": {
                "a": round(self.abc2.a_mm, 2),
                "b": round(self.abc2.b_mm, 2),
                "c": round(self.abc2.c_mm, 2),
            },
            "abc2_slice_index": self.abc2.slice_index,
            "location": self.location,
            "location_description": self.location_description,
            "ivh": self.ivh,
            "ivh_volume_ml": round(self.ivh_volume_ml, 3),
            "ivh_threshold_volume_ml": round(self.ivh_threshold_volume_ml, 3),
            "intracranial_volume_ml": round(self.intracranial_volume_ml, 1),
            "n_components": self.n_components,
            "hematomas": [h.to_dict() for h in self.hematomas],
            "abc2_hematoma_number": self.abc2_hematoma_number,
            "threshold_volume_ml": round(self.threshold_volume_ml, 3),
            "volume_method": VOLUME_METHOD,
            "threshold_method": THRESHOLD_METHOD,
            "status": self.status,
            "notices": [n.to_dict() for n in self.notices],
            "params": self.params.to_dict(),
            "edited": None if self.edited is None else self.edited.to_dict(),
        }

    def __repr__(self) -> str:
        return (
            f"Measurement({self.status!r}, hematoma={self.hematoma_volume_ml:.2f} ml, "
            f"abc2={self.abc2.volume_ml:.2f} ml, location={self.location!r}, "
            f"ivh={self.ivh_volume_ml:.2f} ml, notices={len(self.notices)})"
        )
