"""``ichmodel`` command line: ``ichmodel COMMAND`` (series, load, synth, measure, predict,
batch, export, listen, query, score, compare, manifest, train, evaluate, calibrate, models).

Each subcommand lives in its own module here with two functions::

    def add_parser(subparsers) -> argparse.ArgumentParser   # registers its arguments
    def run(args: argparse.Namespace) -> int                  # does the work, returns exit code

Exit codes: 0 ok, 2 usage (argparse), 3 input problem (one ``error: ...`` line on stderr,
never a traceback), 1 unexpected internal error (traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ichmodel import __version__
from ichmodel.errors import ICHError

EXIT_OK, EXIT_INTERNAL, EXIT_USAGE, EXIT_INPUT = 0, 1, 2, 3

#: Subcommand modules, in the order ``--help`` lists them.
COMMANDS = ("series", "load", "synth", "measure", "predict", "batch", "export", "listen",
            "query", "score", "compare", "manifest", "train", "evaluate", "calibrate", "models")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ichmodel",
        description="ICH Viewer's headless tools (research use only, not a medical device).",
    )
    parser.add_argument("--version", action="version", version=f"ichmodel {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logs")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"ichmodel.cli.{name}")
        except ModuleNotFoundError as exc:  # a command not built yet stays out of --help
            if exc.name != f"ichmodel.cli.{name}":
                raise
            continue
        command_parser = module.add_parser(sub)
        command_parser.set_defaults(_run=module.run)
    return parser


#: Longest ``error:`` line printed (a message quoting a whole listing is cut there).
MAX_ERROR_CHARS = 600


def one_line(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """``text`` on one line of at most ``limit`` characters: control characters (a newline in
    a file name must not fake a second ``error:`` line) shown escaped."""
    clean = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def _safe_streams() -> None:
    """File names that are not valid UTF-8 print as escapes instead of raising."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            try:
                reconfigure(errors="backslashreplace")
            except (ValueError, OSError):  # a closed or unusual stream: leave it
                pass


def _terminate_as_exit(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    raise SystemExit(128 + signum)  # unwinds `with` blocks: extracted archives are removed


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    from ichmodel.io.third_party import capture_third_party_warnings

    _safe_streams()
    parser = build_parser()
    args = parser.parse_args(argv)
    # warnings reach the user as `warning:` lines from the notices; logs only with --debug
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.ERROR,
        format="%(levelname)s %(name)s: %(message)s",
    )
    capture_third_party_warnings(debug=args.debug)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate_as_exit)
    if not args.debug:  # pynetdicom logs a refused association as ERROR; ours is the one line
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    try:
        return int(args._run(args) or 0)
    except ICHError as exc:
        if args.debug:
            raise
        print(f"error: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_INPUT
    except RecursionError:
        if args.debug:
            raise
        print("error: the input is nested too deeply to be read (a corrupt file); "
              "re-export the study", file=sys.stderr)
        return EXIT_INPUT
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ichmodel ... | head`: the reader left, which is not an error
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:  # noqa: BLE001 - the CLI must never dump a traceback by default
        if args.debug:
            raise
        print(
            one_line(f"error: internal error ({type(exc).__name__}: {exc}); "
                     "rerun with --debug for details and report it"),
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":
    sys.exit(main())
