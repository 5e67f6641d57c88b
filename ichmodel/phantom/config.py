"""Knobs of the synthetic head-CT phantom, and the proxy outcome rule."""

from __future__ import annotations

from dataclasses import dataclass

#: Generator versions :func:`~ichmodel.phantom.make_phantom` can reproduce.
PHANTOM_VERSIONS = ("5", "6")

SITES = ("none", "deep", "lobar", "infratentorial")
BLEED_SITES = ("deep", "lobar", "infratentorial")
#: Bleed shape kinds; "irregular" draws one of BLEED_SHAPES per case (``shape_weights``).
BLEED_SHAPES = ("round", "lobulated", "chain")
SHAPES = ("irregular", "ellipsoid", *BLEED_SHAPES)

#: Proxy "poor outcome" thresholds (ml): supratentorial / infratentorial bleeds.
POOR_OUTCOME_SUPRATENTORIAL_ML = 30.0
POOR_OUTCOME_INFRATENTORIAL_ML = 15.0


def proxy_poor_outcome(hematoma_volume_ml: float, site: str) -> int:
    """The phantoms' *proxy* outcome label: 1 when the bleed is large for its compartment.

    ``1`` if ``hematoma_volume_ml >= 30`` for a supratentorial bleed (``"deep"``, ``"lobar"``) or
    ``>= 15`` for an infratentorial one, else ``0`` (also for ``"none"``). This is the seed
    paper's clinical rule of thumb about volume, *not* an outcome: no patient was followed up,
    and a model trained on it learns volume thresholds, not prognosis.
    """
    if site not in SITES:
        raise ValueError(f"unknown site {site!r}; expected one of {SITES}")
    if site == "none":
        return 0
    limit = (
        POOR_OUTCOME_INFRATENTORIAL_ML
        if site == "infratentorial"
        else POOR_OUTCOME_SUPRATENTORIAL_ML
    )
    return int(hematoma_volume_ml >= limit)


@dataclass(frozen=True)
class PhantomConfig:
    """What :func:`ichmodel.phantom.make_phantom` may vary, and what a caller can force.

    Ranges are (low, high) and sampled uniformly per case unless stated otherwise. ``None``
    in a "force" field means "sample it".
    """

    #: In-plane matrix (square), pixels. 512 gives 0.43-0.49 mm pixels at the default FOV.
    size: int = 256
    #: Reconstruction field of view, mm (pixel spacing = FOV / size); widened if the head
    #: would not fit.
    fov_mm: tuple[float, float] = (220.0, 250.0)
    #: Force one slice thickness (= slice spacing), mm; None samples from the choices below.
    slice_thickness_mm: float | None = None
    slice_thickness_choices_mm: tuple[float, ...] = (1.0, 2.5, 3.0, 5.0)
    slice_thickness_weights: tuple[float, ...] = (0.1, 0.3, 0.2, 0.4)

    # --- the bleed -------------------------------------------------------------------------
    #: Force the site: "none" (no bleed), "deep", "lobar" or "infratentorial".
    site: str | None = None
    #: Probability of a scan without bleed (when the site is not forced).
    p_no_bleed: float = 0.10
    #: Relative frequency of deep / lobar / infratentorial bleeds (roughly clinical).
    site_weights: tuple[float, float, float] = (0.55, 0.30, 0.15)
    #: Force the target hematoma volume, ml (before clipping to the brain compartment).
    volume_ml: float | None = None
    #: Log-normal volume distribution of supratentorial bleeds: median (ml) and sigma (log).
    volume_median_ml: float = 12.0
    volume_sigma: float = 0.95
    #: Infratentorial bleeds are smaller (posterior fossa): median ml and sigma.
    infratentorial_median_ml: float = 6.0
    infratentorial_sigma: float = 0.8
    #: Target volumes are clipped to this range, ml.
    volume_range_ml: tuple[float, float] = (0.5, 120.0)
    #: "irregular" (a mix of round, lobulated and chain-like bleeds with a bumpy surface),
    #: one of those kinds, or "ellipsoid" (one smooth ellipsoid, for exact-volume checks).
    shape: str = "irregular"
    #: Relative frequency of "round", "lobulated" and "chain" bleeds in "irregular" mode.
    shape_weights: tuple[float, float, float] = (0.3, 0.4, 0.3)
    #: Surface bumpiness of irregular bleeds (relative radius modulation), range.
    irregularity: tuple[float, float] = (0.04, 0.14)
    #: Acute blood density, HU (mean of the clot).
    blood_hu: tuple[float, float] = (60.0, 80.0)
    #: Perihematomal edema: on/off, HU drop at the rim.
    edema: bool = True
    edema_drop_hu: tuple[float, float] = (5.0, 12.0)
    #: Intraventricular extension: force on/off, or None to sample (deep bleeds >= 5 ml).
    ivh: bool | None = None
    p_ivh: float = 0.3

    # --- the head --------------------------------------------------------------------------
    #: Force calcifications (pineal and choroid plexus) on/off; None samples them.
    calcifications: bool | None = None
    head_scale: tuple[float, float] = (0.9, 1.08)
    #: Maximal head rotation in degrees: yaw (in-plane), pitch (nodding), roll.
    max_rotation_deg: tuple[float, float, float] = (10.0, 12.0, 5.0)
    #: Maximal in-plane offset of the head from the FOV centre, mm.
    max_shift_mm: float = 12.0
    #: Scanner noise SD (HU) at 5 mm slices; thinner slices are noisier (x (5/t)**0.25).
    noise_sd_hu: tuple[float, float] = (3.0, 6.0)

    # --- generator version and what v6 adds (ignored by "5") -------------------------------
    #: "6" (default): skull base, falx/tentorium, dural sinuses, petrous streaks, pallidal
    #: calcifications, optional motion blur and subdural crescent (:mod:`.skullbase`).
    #: "5" reproduces the earlier generator exactly (the sample study and the demo model's
    #: figures were made with it); v6 draws its additions from a separate random stream, so
    #: the v5 part of a v6 phantom is the same head and bleed.
    version: str = "6"
    #: Force a subdural crescent (a labelled negative for ICH) on/off; None samples it.
    subdural: bool | None = None
    p_subdural: float = 0.08
    #: Force in-plane motion blur on a few slices on/off; None samples it.
    motion_blur: bool | None = None
    p_motion: float = 0.1

    def __post_init__(self) -> None:
        problems = []
        if not 32 <= self.size <= 1024:
            problems.append(f"size must be 32..1024 pixels, got {self.size}")
        if self.site is not None and self.site not in SITES:
            problems.append(f"site must be one of {SITES} or None, got {self.site!r}")
        if self.shape not in SHAPES:
            problems.append(f"shape must be one of {SHAPES}, got {self.shape!r}")
        if self.slice_thickness_mm is not None and not 0.5 <= self.slice_thickness_mm <= 10:
            problems.append(f"slice_thickness_mm must be 0.5..10 mm, got {self.slice_thickness_mm}")
        if len(self.slice_thickness_choices_mm) != len(self.slice_thickness_weights):
            problems.append("slice_thickness_choices_mm and _weights must have the same length")
        if self.volume_ml is not None and not 0 < self.volume_ml <= 200:
            problems.append(f"volume_ml must be in (0, 200] ml, got {self.volume_ml}")
        if self.version not in PHANTOM_VERSIONS:
            problems.append(f"version must be one of {PHANTOM_VERSIONS}, got {self.version!r}")
        if not all(
            0 <= p <= 1 for p in (self.p_no_bleed, self.p_ivh, self.p_subdural, self.p_motion)
        ):
            problems.append("probabilities must lie in [0, 1]")
        if problems:
            raise ValueError("invalid PhantomConfig: " + "; ".join(problems))
