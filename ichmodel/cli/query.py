"""``ichmodel query AET@HOST:PORT --patient-id ID [--modality CT] [--json]`` and
``--retrieve STUDY_UID --to AET``: find a patient's earlier studies on a node (C-FIND, study
root) and have one sent to our listener (C-MOVE), e.g. for a follow-up comparison."""

from __future__ import annotations

import argparse

from ichmodel.cli._output import print_json, print_table


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "query", help="find a patient's studies on a DICOM node (C-FIND) and retrieve one (C-MOVE)",
        description="Query/retrieve on a DICOM node (research use only).",
    )
    parser.add_argument("node", metavar="AET@HOST:PORT")
    parser.add_argument("--patient-id", default="", help="the patient's ID on that node")
    parser.add_argument("--study", default="", metavar="UID", help="one study by its UID")
    parser.add_argument("--modality", default="CT", help="modality in study (default CT; '' any)")
    parser.add_argument("--retrieve", metavar="STUDY_UID", help="C-MOVE this study ...")
    parser.add_argument("--to", metavar="AET", help="... to this AE title (our listener)")
    parser.add_argument("--aet", default="ICHVIEWER", help="our AE title (default ICHVIEWER)")
    parser.add_argument("--timeout", type=float, default=10.0, metavar="S")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def run(args: argparse.Namespace) -> int:
    from ichmodel.errors import InputError
    from ichmodel.net.nodes import DicomNode
    from ichmodel.net.scu import find_studies, move

    node = DicomNode.parse(args.node)
    if args.retrieve:
        if not args.to:
            raise InputError("--retrieve needs --to AET: the listener the node sends the study to")
        moved = move(node, args.retrieve, args.to, calling_aet=args.aet,
                     timeout_s=max(args.timeout, 60.0))
        print_json({"moved": moved}) if args.json else print(f"{moved} instance(s) moved")
        return 0
    if not (args.patient_id or args.study):
        raise InputError("say whose studies: --patient-id ID or --study UID")
    studies = find_studies(node, patient_id=args.patient_id, study_uid=args.study,
                           modality=args.modality, calling_aet=args.aet,
                           timeout_s=args.timeout)
    if args.json:
        print_json(studies)
    else:
        keys = ("StudyDate", "ModalitiesInStudy", "NumberOfStudyRelatedSeries",
                "StudyDescription", "StudyInstanceUID")
        print_table(["date", "modalities", "series", "description", "study UID"],
                    [[s[k] for k in keys] for s in studies])
    return 0
