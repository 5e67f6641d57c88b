"""Entry point of the ``ichviewer`` GUI.

::

    ichviewer [PATH] [--demo] [--device auto|cpu|cuda] [--model FILE.safetensors]
    ichviewer --smoke-test [PATH] [--report-out FILE] [--screenshot FILE] [--timeout S]

``--smoke-test`` opens the window (``QT_QPA_PLATFORM=offscreen`` works), loads PATH or the
bundled sample, waits for the measurement and the prediction, exports the PDF report, prints
the report's path and exits 0; it exits 1 on any error and 124 after the timeout.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("ichviewer")

EXIT_OK, EXIT_FAILED, EXIT_TIMEOUT = 0, 1, 124
PRELOAD_DELAY_MS = 300


def build_parser() -> argparse.ArgumentParser:
    from ichviewer import __version__

    parser = argparse.ArgumentParser(
        prog="ichviewer",
        description="ICH Viewer: head NCCT reading app (research use only, not a medical device).",
    )
    parser.add_argument("path", nargs="?", help="a study to open: DICOM folder, zip or DICOMDIR")
    parser.add_argument("--demo", action="store_true", help="open the bundled sample study")
    parser.add_argument(
        "--smoke-test",
        nargs="?",
        const="",
        default=None,
        metavar="PATH",
        help="open PATH (default: the sample), wait for all results, export the report, exit",
    )
    parser.add_argument("--report-out", metavar="FILE", help="where --smoke-test writes the PDF")
    parser.add_argument("--screenshot", metavar="FILE", help="--smoke-test: save a window PNG")
    parser.add_argument("--timeout", type=float, default=300.0, help="--smoke-test limit, s")
    parser.add_argument(
        "--model", metavar="FILE", help="use this .safetensors checkpoint instead of the default"
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="model device")
    parser.add_argument("--debug", action="store_true", help="debug-level logs")
    parser.add_argument("--version", action="version", version=f"ichviewer {__version__}")
    return parser


def _say(text: str, err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    if stream is not None:  # a windowed frozen app has no console
        print(text, file=stream, flush=True)


def _ensure_std_streams() -> None:
    """A windowed (frozen) app may start with no stdout/stderr at all: give stray prints and
    third-party warnings somewhere harmless to go instead of an AttributeError crash."""
    import os

    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w", encoding="utf-8"))  # noqa: SIM115


def _leave(rc: int) -> int:
    """``rc``, or end the process now when a worker thread is stuck in a call that never
    returned: letting Python destroy its QThread would make Qt abort (SIGABRT)."""
    from ichviewer.workers import abandoned_workers

    stuck = abandoned_workers()
    if stuck:
        log.error("leaving with worker(s) %s still busy; exiting without cleanup", stuck)
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):
                pass
        import os

        os._exit(rc)
    return rc


def main(argv: list[str] | None = None) -> int:
    _ensure_std_streams()
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    from ichviewer.logging_setup import setup_logging

    setup_logging(logging.DEBUG if args.debug else logging.INFO)
    from ichviewer.desktop_check import check_desktop, show_plainly

    missing = check_desktop()  # before Qt: a missing xcb library would abort it silently
    if missing is not None:
        log.error("%s", missing)
        show_plainly(missing)
        return EXIT_FAILED
    from ichviewer.app import create_app

    app = create_app()
    from PySide6.QtCore import QTimer

    from ichviewer.main_window import MainWindow, sample_study_source
    from ichviewer.settings import Settings

    smoke = args.smoke_test is not None
    if smoke:  # never touch the user's preferences from a smoke test
        settings = Settings(Path(tempfile.mkdtemp(prefix="ichviewer-smoke-")) / "settings.ini")
    else:
        settings = Settings()
    if args.device:
        settings.device = args.device
    window = MainWindow(settings)
    from ichviewer.app import install_excepthook

    install_excepthook(window.show_error)
    app.aboutToQuit.connect(window.controller.shutdown)  # also when quit without a close
    if args.model:
        window.use_model(Path(args.model))
    # torch + weights load in the background once the window is up (skipped when a study is
    # opened first: then the model loads right after the volume, not while reading DICOM)
    QTimer.singleShot(PRELOAD_DELAY_MS, window.controller.preload_model)
    window.show()

    if smoke:
        source = Path(args.smoke_test) if args.smoke_test else sample_study_source()
        out = (
            Path(args.report_out)
            if args.report_out
            else (Path(tempfile.gettempdir()) / "ichviewer_smoke_report.pdf")
        )
        return _leave(run_smoke_test(app, window, source, out, args.timeout, args.screenshot))

    if args.demo:
        window.open_demo()
    elif args.path:
        window.open_path(args.path)
    return _leave(int(app.exec()))


def run_smoke_test(
    app, window, source: Path, report_out: Path, timeout_s: float, screenshot: str | None = None
) -> int:
    """Drive the window through open → results → report; see the module docstring."""
    from PySide6.QtCore import QEventLoop, QTimer

    # A local event loop, not app.exec(): QCoreApplication.exit() would leave "quit now" set
    # and end every later event loop at once (tests run the smoke test in-process).
    loop = QEventLoop()
    outcome: dict[str, int] = {}
    started = time.perf_counter()

    def finish(rc: int, message: str) -> None:
        if outcome:
            return
        outcome["rc"] = rc
        _say(message, err=rc != EXIT_OK)
        window.close()
        loop.exit(rc)

    def on_ready(_token: int) -> None:
        study = window.controller.study
        log.info(
            "smoke test: results after %.2f s: %s",
            time.perf_counter() - started,
            study.milestones_s if study else {},
        )
        # what runs after the results (the midline shift, a job of its own) belongs in the
        # report and the screenshot too
        left_s = timeout_s - (time.perf_counter() - started)
        if not window.controller.runner.wait_idle(max(1.0, left_s)):
            finish(EXIT_TIMEOUT, f"error: background jobs still running after {timeout_s:.0f} s")
            return
        if screenshot:
            window.jump_to_largest()
            app.processEvents()
            window.grab().save(str(screenshot))
        path = window.export_report(report_out)
        if path is None or not path.is_file():
            finish(EXIT_FAILED, "error: the report could not be written")
        # the DICOM results too (highdicom in a frozen bundle), beside the report
        elif not window.export_dicom_results(report_out.parent / f"{report_out.stem}-dicom"):
            finish(EXIT_FAILED, "error: the DICOM results could not be written")
        else:
            finish(EXIT_OK, str(path))

    def on_error(dialog) -> None:
        finish(EXIT_FAILED, f"error: {dialog.title}: {dialog.message}")

    def on_timeout() -> None:
        finish(EXIT_TIMEOUT, f"error: no results after {timeout_s:.0f} s")

    window.controller.sig_ready.connect(on_ready)
    window.sig_error_shown.connect(on_error)
    QTimer.singleShot(int(timeout_s * 1000), on_timeout)
    QTimer.singleShot(0, lambda: window.open_path(source))
    rc = loop.exec()
    return int(outcome.get("rc", rc))


if __name__ == "__main__":
    sys.exit(main())
