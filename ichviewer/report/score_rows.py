"""Report rows for the clinical scores, the midline shift and a follow-up comparison (Qt-free).

Each row is (label, value, method/notes); the notes list the inputs a score was computed from,
so a reader of the PDF can check them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ichmodel.scores.types import VOLUME_METHOD_LABEL
from ichviewer.report.fields import NOT_AVAILABLE

if TYPE_CHECKING:
    from ichmodel.followup import Comparison
    from ichmodel.midline import MidlineShift
    from ichmodel.scores import ScoreSheet

Row = tuple[str, str, str]


def score_rows(sheet: ScoreSheet | None) -> list[Row]:
    if sheet is None:
        return []
    rows = []
    for score in sheet.scores:
        # the value column is narrow: the number there, the outcome row in the notes
        if score.complete:
            value = f"{score.total} / {score.max_points}"
            s = score.straddle
            if s is not None and s.other_total is not None:
                # both results where they are read first (the sentence is in the notes)
                value += f" ({s.other_total} with {VOLUME_METHOD_LABEL[s.other_method]})"
            outcome = f"{score.outcome_label}: {score.outcome_text}. " if score.outcome_text \
                else ""
        else:
            value = "incomplete"
            outcome = f"Missing: {', '.join(score.missing)}. "
        inputs = "; ".join(
            f"{i.label}: {i.value_text} -> {'?' if i.points is None else i.points}"
            for i in score.items
        )
        note = f"{outcome}{score.reference}. Inputs: {inputs}. "
        # the straddle sentence already says which volume the score uses and why
        note += (f"{score.straddle.reason}." if score.straddle is not None
                 else f"Volume: {score.volume_method_reason}.")
        rows.append((score.name, value, note))
    return rows


def midline_rows(midline: MidlineShift | None) -> list[Row]:
    if midline is None:
        return []
    if not midline.measured:
        return [("Midline shift", NOT_AVAILABLE, f"could not be measured: {midline.reason}")]
    value = f"{midline.shift_mm:.1f} mm" + (" (> 5 mm)" if midline.flagged else "")
    towards = f"septum {midline.direction}; " if midline.direction else ""
    near = f"{midline.near_flag_note}; " if midline.near_flag else ""
    note = (f"{towards}{near}septum pellucidum vs the ideal midline (falx attachments), slice "
            f"{(midline.slice_index or 0) + 1}; best effort from image geometry")
    return [("Midline shift", value, note)]


def comparison_rows(comparison: Comparison | None) -> list[Row]:
    if comparison is None:
        return []
    from ichmodel.followup.compare import NEAR_THRESHOLD_CODE, change_pct_text

    d = comparison.to_dict()
    pct = "" if comparison.delta_pct is None else f" ({change_pct_text(comparison.delta_pct)})"
    interval = NOT_AVAILABLE if d["interval_h"] is None else f"{d['interval_h']:.1f} h"
    exp = d["expansion"]
    reasons = "; ".join(exp["reasons"]) or "no growth criterion met"
    near = "".join(f" {n.text[:1].upper()}{n.text[1:]}." for n in comparison.notices
                   if n.code == NEAR_THRESHOLD_CODE)
    return [
        ("Follow-up hematoma volume (ml)", f"{d['followup']['hematoma_volume_ml']:.1f}",
         f"scanned {d['followup']['scan_time'] or 'at an unknown time'}; interval {interval}"),
        ("Change since baseline", f"{d['delta_ml']:+.1f} ml{pct}",
         f"baseline {d['baseline']['hematoma_volume_ml']:.1f} ml; rigid registration, head "
         f"moved {d['registration']['rms_mm']:.1f} mm rms"),
        ("Hematoma expansion", f"standard {'yes' if exp['standard'] else 'no'}, revised "
         f"{'yes' if exp['revised'] else 'no'}",
         "standard: >= 6 ml or >= 33 %; revised: also new IVH or IVH growth >= 1 ml. "
         f"{reasons}.{near}"),
    ]
