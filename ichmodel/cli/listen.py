"""``ichmodel listen --aet ICHVIEWER --port 11112 --out DIR [--process] [--send-to AET@HOST:PORT]``.

A Storage SCP: writes incoming studies into DIR/<StudyInstanceUID>/, one file per instance
(atomic writes, duplicates kept once). A study is complete when nothing new arrived for
``--quiet`` seconds; with ``--process`` it is then measured (and predicted with ``--model``) and
its SEG/SR/key images go to DIR/results/ and, with ``--send-to``, back to that node. The PDF is
made by the app, so the command line sends no PDF. Ctrl-C stops. Logs name studies by UID only.
"""

from __future__ import annotations

import argparse
import signal
import threading


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "listen", help="receive studies over DICOM (Storage SCP), optionally measure and send back",
        description="DICOM Storage SCP (research use only).",
    )
    parser.add_argument("--aet", default="ICHVIEWER", help="our AE title (default ICHVIEWER)")
    parser.add_argument("--port", type=int, default=11112, help="TCP port (default 11112)")
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default all)")
    parser.add_argument("--out", required=True, metavar="DIR", help="folder for received studies")
    parser.add_argument("--quiet", type=float, default=10.0, metavar="S",
                        help="seconds without a new instance before a study counts complete")
    parser.add_argument("--process", action="store_true", help="measure each complete study")
    parser.add_argument("--model", default="none", choices=["none", "active"],
                        help="'active': also predict with the active model (default: measure)")
    parser.add_argument("--send-to", metavar="AET@HOST:PORT", help="send results to this node")
    parser.add_argument("--for-seconds", type=float, default=None, help=argparse.SUPPRESS)
    return parser


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ichmodel.net.listen import StorageListener
    from ichmodel.net.nodes import DicomNode
    from ichmodel.net.process import process_study

    node = DicomNode.parse(args.send_to) if args.send_to else None
    out = Path(args.out)

    def on_complete(folder: Path) -> None:
        done = process_study(folder, results_dir=out / "results",
                             model=None if args.model == "active" else "none",
                             send_to=node, calling_aet=args.aet)
        sent = f", sent {done.sent} to {node}" if node else ""
        print(f"study {done.study_uid}: {len(done.result_paths)} result object(s){sent}",
              flush=True)

    def announce(folder: Path) -> None:
        print(f"study {folder.name} complete", flush=True)
        if args.process:
            on_complete(folder)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with StorageListener(out, port=args.port, ae_title=args.aet, host=args.host,
                         quiet_s=args.quiet, on_complete=announce):
        print(f"listening as {args.aet} on port {args.port} into {out} (Ctrl-C stops)",
              flush=True)
        try:
            stop.wait(args.for_seconds)
        except KeyboardInterrupt:
            pass
    return 0
