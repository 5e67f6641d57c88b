"""Which series of a study is the head non-contrast CT to measure, and why the others are not.

Rules (each series gets exactly one *category* and a human *reason*):

* never picked: non-image objects (dose reports, presentation states), non-CT modalities,
  localizers/scouts, derived secondary captures ("Exam Summary"), projections (MIP), series
  without geometry, non-axial reformats, single images, series that mix image sizes;
* contrast-enhanced series (ContrastBolusAgent set, or "C+", "contrast", "CTA", "angio" in the
  description) are not picked automatically (contrast mimics blood); the user may still choose;
* among candidates: head (BodyPartExamined or description) before unknown, soft-tissue kernels
  before bone kernels, 2-5 mm reconstructions before thinner/thicker ones, then more slices.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ichmodel.io.dicom_tags import SECONDARY_CAPTURE_PREFIX, HeaderRecord

CANDIDATE = "candidate"
NON_IMAGE = "non_image"
NON_CT = "non_ct"
LOCALIZER = "localizer"
DERIVED = "derived"
NO_GEOMETRY = "no_geometry"
NOT_AXIAL = "not_axial"
MULTI_FRAME = "multi_frame"
MIXED_SIZES = "mixed_sizes"
SINGLE_SLICE = "single_slice"
CONTRAST = "contrast"
MISSING_FILES = "missing_files"
MIXED_IDENTITY = "mixed_identity"

_LOCALIZER_WORDS = ("LOCALIZER", "SCOUT", "TOPOGRAM", "SURVIEW", "SCANOGRAM", "PILOT", "SCOUTVIEW")
_LOCALIZER_DESC = re.compile(r"\b(scout|localizer|localiser|topogram|surview|scanogram)\b", re.I)
_DERIVED_DESC = re.compile(r"exam summary|dose (report|info)|patient protocol|screen ?save", re.I)
_PROJECTION_WORDS = ("MIP", "MINIP", "PROJECTION IMAGE", "VOLUME RENDERING", "VR", "3D")
_CONTRAST_DESC = re.compile(
    r"(\bC\+|\bcontrast\b|\bCTA\b|angio|\bpost\b|\bw/ ?con|\bwith con|perfusion|venogra)", re.I
)
_NON_CONTRAST_DESC = re.compile(r"(\bC-|non.?con|w/o|without|\bplain\b|\bnative\b|ncct)", re.I)
_HEAD_DESC = re.compile(r"(head|brain|cran|skull|cereb|neuro|kopf|sch[äa]del|cerveau|stroke)", re.I)
_HEAD_PARTS = {"HEAD", "BRAIN", "SKULL", "HEADNECK", "HEAD_NECK", "CEREBRUM", "CRANIUM"}
_BONE_WORDS = re.compile(
    r"(bone|lung|sharp|edge|detail|\bhr?6\d|\bh[7-9]\d|\bj[7-9]\d|\bY[A-D]\b)", re.I
)
_SIEMENS_KERNEL = re.compile(r"^[A-Z]{1,2}r?(\d{2})[a-z]?", re.I)


@dataclass(frozen=True)
class Classification:
    category: str
    reason: str
    head: bool = False
    kernel_class: str = "unknown"  # "soft", "bone" or "unknown"


def kernel_class(kernel: str, description: str) -> str:
    """'bone' for sharp (bone/lung) reconstructions, 'soft' for brain/standard ones."""
    text = f"{kernel} {description}"
    if _BONE_WORDS.search(text):
        return "bone"
    match = _SIEMENS_KERNEL.match(kernel.strip())
    if match and kernel.strip()[:1].upper() in "HJBQ" and int(match.group(1)) >= 60:
        return "bone"
    if kernel.strip() or re.search(r"(soft|std|standard|brain)", description, re.I):
        return "soft"
    return "unknown"


def _is_axial(orientation: Sequence[float]) -> tuple[bool, str]:
    row = np.asarray(orientation[:3], dtype=float)
    col = np.asarray(orientation[3:], dtype=float)
    normal = np.cross(row, col)
    norm = float(np.linalg.norm(normal))
    if norm < 1e-6:
        return False, "ImageOrientationPatient is degenerate"
    normal /= norm
    axis = int(np.argmax(np.abs(normal)))
    if axis == 2 and abs(normal[2]) >= 0.7:  # up to ~45 degrees of gantry tilt
        return True, "axial"
    return False, {0: "sagittal", 1: "coronal"}.get(axis, "oblique")


def is_localizer(h: HeaderRecord) -> bool:
    return bool(set(h.image_type) & set(_LOCALIZER_WORDS)) or bool(
        _LOCALIZER_DESC.search(h.series_description)
    )


def classify(
    headers: Sequence[HeaderRecord], *, mixed_sizes: str = "", mixed_identity: str = ""
) -> Classification:
    """Category and reason of one (already split) series; ``headers`` non-empty.

    The scanner sets aside images that disagree with their series' majority before calling
    this, so the first header speaks for all.
    """
    h = headers[0]
    desc = h.series_description
    if mixed_identity:
        return Classification(MIXED_IDENTITY, mixed_identity)
    if not h.is_image:
        what = "dose report" if "88.67" in h.sop_class_uid else "non-image object"
        return Classification(NON_IMAGE, f"{what} (SOP class {h.sop_class_uid or 'unknown'})")
    if h.modality and h.modality != "CT":
        return Classification(
            NON_CT, f"modality {h.modality} is not CT; Hounsfield units do not apply"
        )
    image_type = set(h.image_type)
    if is_localizer(h):
        return Classification(LOCALIZER, "localizer/scout image, not a cross-sectional series")
    secondary = (len(h.image_type) > 1 and h.image_type[1] == "SECONDARY") or (
        h.sop_class_uid.startswith(SECONDARY_CAPTURE_PREFIX)
    )
    if secondary or _DERIVED_DESC.search(desc) or image_type & {"DOSE_INFO", "SCREEN SAVE"}:
        label = f" ({desc})" if desc else ""
        return Classification(DERIVED, f"derived/secondary capture{label}, not original CT slices")
    if h.image_type[:1] == ("DERIVED",) and image_type & set(_PROJECTION_WORDS):
        return Classification(DERIVED, "derived projection (MIP/3D), not original CT slices")
    if h.number_of_frames > 1:
        return Classification(
            MULTI_FRAME, "multi-frame (enhanced) CT is not supported yet; export classic slices"
        )
    if h.orientation is None or h.position_mm is None or h.pixel_spacing_mm is None:
        lacking = [
            tag
            for value, tag in (
                (h.position_mm, "ImagePositionPatient (0020,0032)"),
                (h.orientation, "ImageOrientationPatient (0020,0037)"),
                (h.pixel_spacing_mm, "PixelSpacing (0028,0030)"),
            )
            if value is None
        ]
        return Classification(
            NO_GEOMETRY, f"no image geometry: missing or invalid {', '.join(lacking)}"
        )
    axial, plane = _is_axial(h.orientation)
    if not axial:
        return Classification(NOT_AXIAL, f"{plane} images, not an axial series")
    if mixed_sizes:
        return Classification(MIXED_SIZES, mixed_sizes)
    if len(headers) < 2:
        return Classification(SINGLE_SLICE, "a single image: no third dimension to measure")
    head = h.body_part in _HEAD_PARTS or bool(
        _HEAD_DESC.search(f"{desc} {h.protocol_name} {h.study_description}")
    )
    kclass = kernel_class(h.kernel, desc)
    text = f"{desc} {h.protocol_name}"
    agent = h.contrast_agent.strip()
    if (agent and agent.upper() not in ("NONE", "NO", "N/A", "")) or (
        _CONTRAST_DESC.search(text) and not _NON_CONTRAST_DESC.search(text)
    ):
        why = f"ContrastBolusAgent '{agent}'" if agent else f"description '{desc}'"
        return Classification(
            CONTRAST,
            f"contrast-enhanced ({why}); not picked automatically because contrast mimics blood",
            head=head,
            kernel_class=kclass,
        )
    return Classification(CANDIDATE, "axial CT series", head=head, kernel_class=kclass)


def thickness_penalty_mm(thickness_mm: float | None) -> float:
    """How far a slice thickness is outside the preferred 2-5 mm (0 inside)."""
    if thickness_mm is None:
        return 1.0
    if thickness_mm < 2.0:
        return 2.0 - thickness_mm
    if thickness_mm > 5.0:
        return thickness_mm - 5.0
    return 0.0


def rank_key(cls: Classification, thickness_mm: float | None, n_images: int) -> tuple:
    """Sort key (ascending = better) among candidate series."""
    kernel_rank = {"soft": 0, "unknown": 1, "bone": 2}[cls.kernel_class]
    return (
        0 if cls.head else 1,
        kernel_rank,
        round(thickness_penalty_mm(thickness_mm), 2),
        -n_images,
    )


def describe_candidate(cls: Classification, kernel: str, thickness_mm: float | None, n: int) -> str:
    parts = ["axial CT", "head" if cls.head else "body part not stated"]
    if cls.kernel_class != "unknown" or kernel:
        label = {"soft": "soft-tissue", "bone": "bone", "unknown": ""}[cls.kernel_class]
        parts.append(f"{label} kernel {kernel}".strip().replace("  ", " "))
    if thickness_mm is not None:
        parts.append(f"{thickness_mm:g} mm slices")
    parts.append(f"{n} images")
    return ", ".join(parts)
