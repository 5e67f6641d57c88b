"""``make_phantom(seed, config) -> Phantom``: one synthetic head NCCT with its ground truth."""

from __future__ import annotations

import hashlib
import logging
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from ichmodel.phantom.anatomy import Anatomy, sample_anatomy, with_mass_effect
from ichmodel.phantom.compose import compose
from ichmodel.phantom.config import PhantomConfig, proxy_poor_outcome
from ichmodel.phantom.geometry import Grid, HeadFrame, HeadMove, rotation_matrix
from ichmodel.phantom.hematoma import HematomaSpec, sample_hematoma, sample_ivh, sample_site
from ichmodel.phantom.skullbase import add_extras
from ichmodel.volume import SeriesMeta, Volume

log = logging.getLogger(__name__)

#: The current generator version (``PhantomConfig.version`` may ask for an older one).
PHANTOM_VERSION = "6"
HU_MIN, HU_MAX = -1024.0, 3071.0

#: Codes of :attr:`Phantom.labels` (each voxel's majority tissue).
TISSUE_LABELS = {
    0: "air",
    1: "scalp",
    2: "bone",
    3: "csf",
    4: "brain",
    5: "ventricle",
    6: "calcification",
    7: "hematoma",
    8: "ivh",
    9: "dural_sinus",  # v6
    10: "dura",  # v6: falx and tentorium
    11: "subdural",  # v6: extra-axial blood, not ICH
}


@dataclass(frozen=True, eq=False)
class Phantom:
    """A synthetic head NCCT and its ground truth; every array is (z, y, x) on ``volume``.

    * ``hematoma_fraction``: partial-volume fraction (0..1) of each voxel inside the
      parenchymal hematoma. ``hematoma_volume_ml = hematoma_fraction.sum() * voxel volume``,
      the integral of the continuous bleed (intraventricular blood not included).
    * ``hematoma_mask``: voxels with fraction >= 0.5.
    * ``ivh_mask`` / ``ivh_volume_ml``: the same for blood inside the ventricles.
    * ``calcification_mask``: voxels >= 50 % calcification (pineal, choroid plexus).
    * ``intracranial_mask``: voxels >= 50 % inside the inner table of the skull.
    * ``labels``: uint8 majority tissue per voxel, codes in :data:`TISSUE_LABELS`.
    * ``poor_outcome``: the *proxy* label of :func:`~ichmodel.phantom.proxy_poor_outcome`
      (volume >= 30 ml supratentorial, >= 15 ml infratentorial), not an outcome.
    """

    volume: Volume
    hematoma_mask: np.ndarray
    hematoma_fraction: np.ndarray
    hematoma_volume_ml: float
    site: str  # "none", "deep", "lobar", "infratentorial"
    side: str  # "left", "right", "midline", "" (no bleed)
    hematoma_shape: str  # "ellipsoid", "round", "lobulated", "chain", "" (no bleed)
    poor_outcome: int
    ivh: bool
    ivh_volume_ml: float
    ivh_mask: np.ndarray
    calcification_mask: np.ndarray
    intracranial_mask: np.ndarray
    labels: np.ndarray
    hematoma_target_ml: float  # the volume the shape was scaled to, before clipping
    hematoma_center_mm: tuple[float, float, float] | None  # LPS
    blood_hu: float | None
    noise_sd_hu: float
    seed: int
    config: PhantomConfig
    anatomy: Anatomy  # the sampled head (internal parameters, head coordinates in mm)
    frame: HeadFrame  # where the head sits in the scanner (LPS)
    #: v6: bool (z, y, x) mask (fraction >= 0.5) of each added structure, by name
    #: (:data:`ichmodel.phantom.skullbase.STRUCTURES`); empty for v5.
    structures: dict[str, np.ndarray] = field(default_factory=dict)
    #: v6: a subdural crescent's volume (ml) and side ("" when none): extra-axial, not ICH.
    subdural_volume_ml: float = 0.0
    subdural_side: str = ""
    motion_blur: bool = False
    version: str = PHANTOM_VERSION

    def __repr__(self) -> str:
        bleed = (
            f"{self.site} {self.side} {self.hematoma_shape} {self.hematoma_volume_ml:.2f} ml"
            if self.site != "none"
            else "no bleed"
        )
        ivh = f", IVH {self.ivh_volume_ml:.2f} ml" if self.ivh else ""
        return (
            f"Phantom(seed={self.seed}, {bleed}{ivh}, poor_outcome(proxy)={self.poor_outcome}, "
            f"{self.volume!r})"
        )

    def infratentorial_mask(self) -> np.ndarray:
        """bool (z, y, x): voxels of the posterior fossa below the tentorium (any tissue)."""
        v = self.volume
        grid = Grid(v.shape, v.spacing_mm, v.origin_mm)
        u, vv, w = self.frame.head_coords(grid.axis_mm(0), grid.axis_mm(1), grid.axis_mm(2))
        return self.anatomy.infratentorial_fraction(u, vv, w) >= 0.5

    @property
    def hematoma_center_zyx(self) -> tuple[float, float, float] | None:
        """Fractional (z, y, x) index of the bleed's nominal centre."""
        if self.hematoma_center_mm is None:
            return None
        v = self.volume
        rel = np.asarray(self.hematoma_center_mm) - np.asarray(v.origin_mm)
        x, y, z = np.linalg.solve(v.direction_matrix, rel) / np.asarray(v.spacing_mm[::-1])
        return float(z), float(y), float(x)

    def truth(self) -> dict:
        """The ground truth as a JSON-ready dict (what TRUTH.json / manifests carry)."""
        v = self.volume
        return {
            "hematoma_volume_ml": round(self.hematoma_volume_ml, 4),
            "hematoma_mask_volume_ml": round(
                float(self.hematoma_mask.sum()) * v.voxel_volume_ml, 4
            ),
            "site": self.site,
            "side": self.side,
            "hematoma_shape": self.hematoma_shape,
            "poor_outcome": self.poor_outcome,
            "poor_outcome_is_proxy": True,
            "ivh": self.ivh,
            "ivh_volume_ml": round(self.ivh_volume_ml, 4),
            "hematoma_target_ml": round(self.hematoma_target_ml, 4),
            "hematoma_center_lps_mm": self.hematoma_center_mm,
            "blood_hu": self.blood_hu,
            "noise_sd_hu": round(self.noise_sd_hu, 3),
            "calcification_voxels": int(self.calcification_mask.sum()),
            "seed": self.seed,
            "shape_zyx": list(v.shape),
            "spacing_mm_zyx": [round(s, 6) for s in v.spacing_mm],
            "phantom_version": self.version,
            "subdural_volume_ml": round(self.subdural_volume_ml, 4),
            "subdural_side": self.subdural_side,
            "motion_blur": self.motion_blur,
            "structures_ml": {
                name: round(float(mask.sum()) * v.voxel_volume_ml, 3)
                for name, mask in self.structures.items()
            },
        }


def _uid(*parts: object) -> str:
    """A deterministic DICOM UID under the 2.25 (UUID-derived) root."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return "2.25." + str(int.from_bytes(digest[:16], "big"))


def _rngs(seed: int) -> list[np.random.Generator]:
    """Independent streams: anatomy, bleed, texture, noise, metadata, v6 extras (the first
    five are those of v5: spawned children depend only on their index)."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    return [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(6)]


def _placement(
    rng: np.random.Generator, config: PhantomConfig, anatomy: Anatomy, thickness: float,
    head_move: HeadMove | None = None,
) -> tuple[Grid, HeadFrame]:
    """Rotate and shift the head and choose a grid (FOV, slices) that holds all of it; with
    ``head_move``, the head is then moved and the grid re-fitted around it (same pixel size)."""
    yaw, pitch, roll = (rng.uniform(-m, m) for m in config.max_rotation_deg)
    rotation = rotation_matrix(yaw, pitch, roll)
    pts = anatomy.outer_surface_points() @ rotation.T  # skin surface, scanner axes
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    need = float(max(hi[0] - lo[0], hi[1] - lo[1])) + 16.0
    fov = max(float(rng.uniform(*config.fov_mm)), need)
    h = round(fov / config.size, 4)
    fov = h * config.size
    room = max(0.0, (fov - need) / 2)
    shift = rng.uniform(-1, 1, 2) * min(config.max_shift_mm, room)
    center_xy = shift - (lo[:2] + hi[:2]) / 2  # head bounding box centred, then shifted
    z_center = round(float(rng.uniform(-60, 60)), 1)
    # the first and last slice centres lie beyond the partial-volume reach (half a slice)
    # of the skin, so the whole head is in the scan and no slice cuts through it
    margin_z = thickness / 2 + 0.5
    nz = int(math.ceil((hi[2] - lo[2] + 2 * margin_z) / thickness)) + 1
    half = (config.size - 1) / 2 * h
    origin = (round(-half, 4), round(-half, 4), round(z_center + lo[2] - margin_z, 3))
    center = np.array([center_xy[0], center_xy[1], z_center])
    grid = Grid(
        shape=(nz, config.size, config.size), spacing_mm=(thickness, h, h), origin_mm=origin
    )
    frame = HeadFrame(center_mm=center, rotation=rotation)
    if head_move is None:
        return grid, frame
    return _refit_grid(grid, head_move.moved_frame(frame), anatomy, margin_z)


def _refit_grid(
    grid: Grid, frame: HeadFrame, anatomy: Anatomy, margin_z: float
) -> tuple[Grid, HeadFrame]:
    """The grid of a second scan of a moved head: as many slices as the head now needs, and
    the field of view shifted in-plane (whole pixels) only as far as keeps the skin 8 mm
    inside it, as a technologist centres the head."""
    pts = anatomy.outer_surface_points() @ frame.rotation.T + frame.center_mm
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    thickness, h = grid.spacing_mm[0], grid.spacing_mm[2]
    origin = list(grid.origin_mm)
    for axis in (0, 1):
        first = origin[axis]
        last = first + (grid.shape[2 - axis] - 1) * h
        move = max(0.0, hi[axis] + 8.0 - last) - max(0.0, first - (lo[axis] - 8.0))
        origin[axis] = round(first + math.ceil(abs(move) / h) * h * math.copysign(1, move), 4)
    nz = int(math.ceil((hi[2] - lo[2] + 2 * margin_z) / thickness)) + 1
    origin[2] = round(float(lo[2] - margin_z), 3)
    shape = (nz, grid.shape[1], grid.shape[2])
    return Grid(shape=shape, spacing_mm=grid.spacing_mm, origin_mm=tuple(origin)), frame


def _meta(rng: np.random.Generator, seed: int, thickness: float, version: str) -> SeriesMeta:
    age = int(rng.integers(40, 91))
    return SeriesMeta(
        patient_name="PHANTOM^SYNTHETIC",
        patient_id=f"SYN-{seed:06d}",
        patient_sex=str(rng.choice(["M", "F"])),
        patient_age=f"{age:03d}Y",
        study_date="20240101",
        study_time="120000",
        study_description="Synthetic head CT (phantom)",
        study_uid=_uid("ichmodel-phantom-study", version, seed),
        series_uid=_uid("ichmodel-phantom-series", version, seed),
        series_number="2",
        series_description="Synthetic head NCCT (phantom)",
        modality="CT",
        manufacturer="ICH Viewer phantom",
        model=f"ichmodel.phantom v{version}",
        kernel="STANDARD",
        slice_thickness_mm=float(thickness),
        window_center_hu=40.0,
        window_width_hu=80.0,
        body_part="HEAD",
    )


def _noise(rng: np.random.Generator, shape: tuple[int, int, int], sd: float) -> np.ndarray:
    """In-plane correlated Gaussian noise with SD ``sd`` HU (CT noise has a texture)."""
    white = rng.standard_normal(shape, dtype=np.float32)
    sigma = 0.6
    ndimage.gaussian_filter1d(white, sigma, axis=1, output=white, truncate=2.5)
    ndimage.gaussian_filter1d(white, sigma, axis=2, output=white, truncate=2.5)
    # a 1-D Gaussian of SD sigma reduces unit white noise's SD by sqrt(sum(k**2))
    x = np.arange(-3, 4)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    k /= k.sum()
    gain = float(np.sqrt((k**2).sum())) ** 2
    white *= np.float32(sd / gain)
    return white


def make_phantom(
    seed: int, config: PhantomConfig | None = None, head_move: HeadMove | None = None
) -> Phantom:
    """One synthetic head NCCT with a known hematoma (or none), deterministic per ``seed``;
    ``head_move`` scans the same head again after a rigid move (a follow-up).

    Pure numpy/scipy. See :class:`Phantom` for what the ground truth means and
    :class:`~ichmodel.phantom.PhantomConfig` for what can be varied or forced.
    """
    config = config or PhantomConfig()
    r_anat, r_bleed, r_tex, r_noise, r_meta, r_extra = _rngs(seed)
    thickness = config.slice_thickness_mm or float(
        r_anat.choice(
            config.slice_thickness_choices_mm,
            p=np.asarray(config.slice_thickness_weights) / sum(config.slice_thickness_weights),
        )
    )
    anatomy = sample_anatomy(r_anat, config)
    grid, frame = _placement(r_anat, config, anatomy, thickness, head_move)
    site = sample_site(r_bleed, config)
    spec: HematomaSpec | None = sample_hematoma(r_bleed, config, anatomy, site)
    ivh_spec = sample_ivh(r_bleed, config, anatomy, spec)
    if spec is not None and site != "infratentorial":
        anatomy = with_mass_effect(anatomy, spec.side, spec.target_ml)

    parts = compose(grid, frame, anatomy, spec, ivh_spec, r_tex)
    hu = parts.hu
    structures: dict[str, np.ndarray] = {}
    extras = None
    if config.version == "6":
        protect = parts.hematoma_fraction + parts.ivh_mask
        extras = add_extras(hu, grid, frame, anatomy, config, r_extra, protect)
        solid = extras.fractions["skull_base_bone"] + extras.fractions["skull_base_air"]
        taken = np.clip(solid + extras.fractions["subdural"], 0, 1)
        # blood never shares a voxel with bone, air or the subdural collection: the truth
        # keeps only what is left (the HU were drawn over it the same way)
        parts.hematoma_fraction[...] *= 1 - taken
        parts.ivh_mask[...] &= taken < 0.5
        parts.intracranial_mask[...] &= solid < 0.5
        structures = {name: f >= 0.5 for name, f in extras.fractions.items()}
        labels = parts.labels
        labels[structures["skull_base_bone"]] = 2
        labels[structures["skull_base_air"]] = 0
        labels[structures["dural_sinus"]] = 9
        labels[structures["falx"] | structures["tentorium"]] = 10
        labels[structures["subdural"]] = 11
    sd = float(r_noise.uniform(*config.noise_sd_hu)) * (5.0 / thickness) ** 0.25
    step = max(1, 2_000_000 // (grid.shape[1] * grid.shape[2]))
    for k in range(0, grid.shape[0], step):  # in slabs: no full-size temporaries
        slab = hu[k : k + step]
        slab += _noise(r_noise, slab.shape, sd)
    np.rint(hu, out=hu)
    np.clip(hu, HU_MIN, HU_MAX, out=hu)

    f_hem = parts.hematoma_fraction
    voxel_ml = grid.voxel_volume_ml
    volume_ml = float(f_hem.sum(dtype=np.float64)) * voxel_ml
    center_mm = None if spec is None else tuple(float(c) for c in frame.to_lps(spec.center))
    side = "" if spec is None else {1.0: "left", -1.0: "right", 0.0: "midline"}[spec.side]
    volume = Volume(
        hu=hu,
        spacing_mm=grid.spacing_mm,
        origin_mm=grid.origin_mm,
        meta=_meta(r_meta, seed, thickness, config.version),
    )
    ivh_ml = parts.ivh_volume_ml
    log.debug(
        "phantom seed=%d site=%s %.2f ml ivh=%.2f ml %s", seed, site, volume_ml, ivh_ml, volume
    )
    return Phantom(
        volume=volume,
        hematoma_mask=f_hem >= 0.5,
        hematoma_fraction=f_hem,
        hematoma_volume_ml=volume_ml,
        site=site,
        side=side,
        hematoma_shape="" if spec is None else spec.shape,
        poor_outcome=proxy_poor_outcome(volume_ml, site),
        ivh=ivh_spec is not None and ivh_ml > 0,
        ivh_volume_ml=ivh_ml,
        ivh_mask=parts.ivh_mask,
        calcification_mask=parts.calcification_mask,
        intracranial_mask=parts.intracranial_mask,
        labels=parts.labels,
        hematoma_target_ml=0.0 if spec is None else spec.target_ml,
        hematoma_center_mm=center_mm,
        blood_hu=None if spec is None else spec.blood_hu,
        noise_sd_hu=sd,
        seed=int(seed),
        config=config,
        anatomy=anatomy,
        frame=frame,
        structures=structures,
        subdural_volume_ml=0.0 if extras is None else extras.subdural_volume_ml,
        subdural_side="" if extras is None else extras.subdural_side,
        motion_blur=False if extras is None else extras.motion_blur,
        version=config.version,
    )
