"""Grouping the images of one SeriesInstanceUID: by orientation (with a tolerance), by the
majority's kind (set aside what disagrees), and refusing mixed patients or studies."""

from __future__ import annotations

from collections import Counter

import numpy as np

from ichmodel import notices
from ichmodel.io import classify as cl
from ichmodel.io import limits
from ichmodel.io.dicom_tags import HeaderRecord
from ichmodel.notices import Notice, Source


def orientation_groups(records: list[HeaderRecord]) -> list[list[HeaderRecord]]:
    """Records grouped by orientation within :data:`~limits.ORIENTATION_TOLERANCE` (compared,
    not rounded: rounding puts 0.4999999 and 0.5000001 into different groups)."""
    groups: list[tuple[np.ndarray | None, list[HeaderRecord]]] = []
    for r in records:
        vector = None if r.orientation is None else np.asarray(r.orientation, dtype=float)
        for ref, members in groups:
            if (vector is None and ref is None) or (
                vector is not None
                and ref is not None
                and float(np.abs(vector - ref).max()) <= limits.ORIENTATION_TOLERANCE
            ):
                members.append(r)
                break
        else:
            groups.append((vector, [r]))
    return [members for _, members in groups]


def image_kind(r: HeaderRecord) -> tuple[str, ...]:
    """What an image is, for the majority vote: the parts that decide its category."""
    problems = []
    if not r.is_image:
        problems.append("not an image")
    if r.modality and r.modality != "CT":
        problems.append(f"modality {r.modality}")
    if cl.is_localizer(r):
        problems.append("a localizer")
    if r.number_of_frames > 1:
        problems.append("multi-frame")
    for value, tag in (
        (r.position_mm, "ImagePositionPatient (0020,0032)"),
        (r.orientation, "ImageOrientationPatient (0020,0037)"),
        (r.pixel_spacing_mm, "PixelSpacing (0028,0030)"),
    ):
        if value is None:
            problems.append(f"no valid {tag}")
    return tuple(problems)


def majority(uid: str, records: list[HeaderRecord]) -> tuple[list[HeaderRecord], Notice | None]:
    """The images that agree with most of their series; the others set aside with a notice
    naming them (the first file by name does not decide for the whole series)."""
    kinds = Counter(image_kind(r) for r in records)
    if len(kinds) == 1:
        return records, None
    best, n_best = kinds.most_common(1)[0]
    if n_best < 2 or n_best * 2 <= len(records):
        return records, None  # no clear majority: the series is judged as a whole
    keep = [r for r in records if image_kind(r) == best]
    odd = [r for r in records if image_kind(r) != best]
    why = sorted({p for r in odd for p in image_kind(r) if p not in best})
    names = ", ".join(r.path.name for r in odd[:5]) + (" ..." if len(odd) > 5 else "")
    return keep, notices.warning(
        "scan.disagreeing_images_set_aside",
        f"set aside {len(odd)} image(s) of series {uid[:64]} that disagree with the other "
        f"{len(keep)} ({'; '.join(why)[:200] or 'different kind'}): {names}",
        Source.SCAN,
    )


def mixed_identity(records: list[HeaderRecord]) -> str:
    patients = {r.patient_id for r in records if r.patient_id}
    studies = {r.study_uid for r in records if r.study_uid}
    if len(patients) < 2 and len(studies) < 2:
        return ""
    what = []
    if len(patients) > 1:
        what.append(f"{len(patients)} different PatientIDs (0010,0020)")
    if len(studies) > 1:
        what.append(f"{len(studies)} different StudyInstanceUIDs (0020,000D)")
    return (
        f"images with {' and '.join(what)} share this SeriesInstanceUID; images of different "
        "patients or studies are never stacked into one volume: re-export the series"
    )
