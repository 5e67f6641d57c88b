"""``ichmodel export PATH --dicom-out DIR [--pdf FILE] [--send AET@HOST:PORT | --stow URL]
[--gcs N] [--nihss N] [--age N] [--anticoagulated yes|no] [--cognitive-impairment yes|no]``.

Reads the study (measure, and predict with ``--model``), writes its results as DICOM objects a
PACS shows (SEG, SR TID 1500, key-image SC, and the PDF report as Encapsulated PDF when given
with ``--pdf``) into DIR, and with ``--send`` C-STOREs them (never the source CT) to a node after
a C-ECHO. A failure to reach or store is one ``error:`` line and exit code 3. The SR lists the
ICH score, FUNC and max-ICH with their inputs (the entries given here, as in ``score``; a score
missing one is listed as incomplete).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ichmodel.cli._output import print_json


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "export",
        help="write the results as DICOM SEG/SR/key images/PDF and optionally send them to PACS",
        description="Results as DICOM objects for PACS (research use only, not a medical device).",
    )
    parser.add_argument("path", nargs="+", help="folder, .zip, DICOMDIR or DICOM files")
    parser.add_argument("--series", metavar="UID", help="series UID or key (see `series`)")
    parser.add_argument("--dicom-out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--pdf", metavar="FILE", help="the PDF report to send as Encapsulated PDF")
    parser.add_argument("--model", default="none", choices=["none", "active"],
                        help="'active': also predict with the active model; 'none' (default) "
                        "measures only")
    parser.add_argument("--anonymize", action="store_true",
                        help="blank patient name, ID and birth date in the objects")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--send", metavar="AET@HOST:PORT", help="C-STORE the objects to this node")
    target.add_argument("--stow", metavar="URL",
                        help="STOW-RS the objects to this DICOMweb root (http://HOST:PORT/PATH)")
    parser.add_argument("--aet", default="ICHVIEWER", help="our AE title (default ICHVIEWER)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="network time limit per step, seconds (default 10)")
    parser.add_argument("--retries", type=int, default=2, help="retries per object (default 2)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    from ichmodel.cli.score import add_clinical_options

    add_clinical_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from ichmodel.cli._output import one_or_many, run_with_bar
    from ichmodel.cli.score import clinical_inputs
    from ichmodel.dicom_out import DicomExportError, build_results, write_results
    from ichmodel.net.nodes import DicomNode, NetworkError
    from ichmodel.net.scu import echo, send
    from ichmodel.net.web import check_url, stow
    from ichmodel.reading import read_study
    from ichmodel.scores import score_sheet

    node = DicomNode.parse(args.send) if args.send else None  # a bad node fails before reading
    url = check_url(args.stow) if args.stow else None
    pdf = None
    if args.pdf:
        try:
            pdf = Path(args.pdf).read_bytes()
        except OSError as exc:
            raise DicomExportError(f"cannot read the PDF report {args.pdf}: {exc}") from exc
    clinical = clinical_inputs(args)  # a bad entry fails before reading
    model = None if args.model == "active" else args.model
    reading = run_with_bar(read_study(one_or_many(args.path), series_uid=args.series,
                                      model=model), quiet=args.json)
    reading = reading.with_scores(score_sheet(reading.measurement, reading.volume.meta,
                                              clinical))
    results = build_results(reading, pdf_bytes=pdf, anonymize=args.anonymize)
    paths = write_results(results, args.dicom_out)
    summary = {
        "study_uid": results.study_uid,
        "written": [str(p) for p in paths],
        "series": results.series_uids(),
        "segments": [{"number": s.number, "label": s.label, "volume_ml": round(s.volume_ml, 3),
                      "source_voxels": s.n_source_voxels} for s in results.segments],
        "remarks": list(results.remarks),
        "sent": None,
    }
    if node is not None or url is not None:
        if node is not None:
            echo(node, calling_aet=args.aet, timeout_s=args.timeout)
            report = run_with_bar(send(results.datasets, node, calling_aet=args.aet,
                                       timeout_s=args.timeout, retries=args.retries),
                                  quiet=args.json)
        else:
            report = stow(results.datasets, str(url), timeout_s=args.timeout,
                          retries=args.retries)
        target = node if node is not None else url
        summary["sent"] = {"node": str(target), "stored": len(report.stored),
                           "failed": [{"sop_instance_uid": u, "why": w} for u, w in report.failed]}
        if report.failed:
            if args.json:
                print_json(summary)
            uid, why = report.failed[0]
            raise NetworkError(f"{target} refused {len(report.failed)} of {len(paths)} object(s) "
                               f"(first: {why}); the files are in {args.dicom_out}")
    if args.json:
        print_json(summary)
        return 0
    for path in paths:
        print(path)
    for remark in results.remarks:
        print(f"note: {remark}", file=sys.stderr)
    if node is not None or url is not None:
        print(f"sent {len(paths)} object(s) to {node or url}")
    return 0
