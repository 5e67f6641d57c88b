"""What the listener does with a complete study: read it, make the results, send them back.

The PDF report is drawn by the viewer's package, which ichmodel never imports: a caller that has
it (the app, the tests) passes ``make_pdf(reading) -> bytes``; without it no PDF object is made.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ichmodel.net.nodes import DEFAULT_AET, DicomNode
from ichmodel.progress import run_to_completion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProcessedStudy:
    """One processed study: where its results were written and what a send did."""

    study_uid: str
    result_paths: tuple[Path, ...]
    sent: int
    failed: tuple[tuple[str, str], ...]
    remarks: tuple[str, ...]


def process_study(
    folder: str | Path, *, results_dir: str | Path, model: str | None = "none",
    send_to: DicomNode | None = None, calling_aet: str = DEFAULT_AET,
    make_pdf: Callable[[object], bytes] | None = None, anonymize: bool = False,
) -> ProcessedStudy:
    """Read the study in ``folder`` (``model``: as :func:`ichmodel.reading.read_study`, "none"
    measures only), write SEG/SR/SC(/PDF) into ``results_dir`` and C-STORE them to ``send_to``."""
    from ichmodel.dicom_out import build_results, write_results
    from ichmodel.net.scu import send
    from ichmodel.reading import read_study

    reading = run_to_completion(read_study(Path(folder), model=model))
    pdf = make_pdf(reading) if make_pdf is not None else None
    results = build_results(reading, pdf_bytes=pdf, anonymize=anonymize)
    paths = write_results(results, Path(results_dir) / results.study_uid)
    sent, failed = 0, ()
    if send_to is not None:
        report = run_to_completion(send(results.datasets, send_to, calling_aet=calling_aet))
        sent, failed = len(report.stored), report.failed
        log.info("sent %d result object(s) of study %s to %s", sent, results.study_uid, send_to)
    return ProcessedStudy(results.study_uid, tuple(paths), sent, failed, results.remarks)
