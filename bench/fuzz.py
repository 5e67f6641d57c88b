"""Run the whole fuzz corpus (tests/fuzz) through the real commands, each in its own process.

    .venv/bin/python bench/fuzz.py [--seed 16] [--limit-s 60] [--sample 12] [--skip-gui]
                                   [--family NAME] [--work DIR] [--keep]

* ``ichmodel load --json`` on every case (and without ``--json`` for the file-name cases);
* ``ichmodel measure --json`` and ``ichmodel predict --json`` on a seeded sample;
* ``ichviewer --smoke-test`` (offscreen) on a seeded sample, its log checked for the planted
  patient name and ID and for tracebacks of ordinary input errors.

Each run has a wall-clock limit (60 s), its peak memory is measured with ``os.wait4`` (the
child's ru_maxrss), and it gets a private TMPDIR that must be empty afterwards (extracted
archives cleaned up) while the case folder must not change (nothing written beside the input).
A run fails on: rc not in {0, 3} (smoke test: not in {0, 1}), a traceback, more than one
``error:`` line, a silent success where the corpus expects an error or a warning, the planted
name or ID in any output or log, a peak above 4 GB, leftovers. Prints the table by family.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.corpus import PLANTED_ID, PLANTED_NAME, Case, cases  # noqa: E402
from tests.fuzz.judge import CLEAN_ERROR, FAILURE, SUCCESS, WARNING, Verdict, judge  # noqa: E402

MAX_PEAK_MB = 4096
OUTCOMES = (CLEAN_ERROR, SUCCESS, WARNING, FAILURE)


def run_limited(argv: list[str], env: dict, limit_s: float) -> tuple[int | None, str, str, float]:
    """(rc or None on timeout / signal, stdout, stderr, peak RSS in MB) of one process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, start_new_session=True)
        deadline = time.monotonic() + limit_s
        status, usage = 0, None
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() > deadline:
                os.killpg(proc.pid, signal.SIGKILL)
                _, status, usage = os.wait4(proc.pid, 0)
                status = -1
                break
            time.sleep(0.02)
        proc.returncode = 0  # reaped by wait4
        out.seek(0)
        err.seek(0)
        text_out = out.read().decode("utf-8", "backslashreplace")
        text_err = err.read().decode("utf-8", "backslashreplace")
    peak_mb = usage.ru_maxrss / 1024 if usage is not None else 0.0
    if status == -1 or os.WIFSIGNALED(status):
        return None, text_out, text_err, peak_mb
    return os.WEXITSTATUS(status), text_out, text_err, peak_mb


def _tree(folder: Path) -> set[tuple[str, int]]:
    out = set()
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames + dirnames:
            p = Path(dirpath) / name
            try:
                out.add((str(p), p.lstat().st_size if p.is_file() and not p.is_symlink() else 0))
            except OSError:
                pass
    return out


def _env(tmp: Path, logs: Path | None = None) -> dict:
    env = dict(os.environ, TMPDIR=str(tmp), QT_QPA_PLATFORM="offscreen", PYTHONUNBUFFERED="1")
    if logs is not None:
        env["ICHVIEWER_LOG_DIR"] = str(logs)
    return env


def run_cli(case: Case, command: str, args: list[str], root: Path, limit_s: float,
            *, as_json: bool = True) -> tuple[Verdict, float]:  # fmt: skip
    tmp = root / f"tmp_{command}"
    tmp.mkdir(exist_ok=True)
    before = _tree(root / "in")
    argv = [sys.executable, "-m", "ichmodel", command, *(["--json"] if as_json else []), *args]
    rc, out, err, peak = run_limited(argv, _env(tmp), limit_s)
    verdict = judge(case, rc, out, err, as_json=as_json)
    if command != "load" and verdict.outcome == FAILURE and "without any warning" in verdict.why:
        verdict = Verdict(SUCCESS)  # measure/predict print their own fields, not load's
    if command != "load" and verdict.outcome == FAILURE and "slices, expected" in verdict.why:
        verdict = Verdict(SUCCESS)
    if command != "load" and verdict.outcome == FAILURE and "expected to load" in verdict.why:
        verdict = Verdict(CLEAN_ERROR, verdict.why)  # e.g. measure finds no head in a phantom
    problems = []
    if peak > MAX_PEAK_MB:
        problems.append(f"peak memory {peak:.0f} MB")
    if any(tmp.iterdir()):
        problems.append(f"left {len(list(tmp.iterdir()))} entr(ies) in TMPDIR")
    if _tree(root / "in") != before:
        problems.append("the input folder changed")
    if problems and verdict.outcome != FAILURE:
        verdict = Verdict(FAILURE, "; ".join(problems))
    shutil.rmtree(tmp, ignore_errors=True)
    return verdict, peak


def run_gui(case: Case, args: list[str], root: Path, limit_s: float) -> tuple[Verdict, float]:
    tmp, logs = root / "tmp_gui", root / "logs"
    tmp.mkdir(exist_ok=True)
    argv = [sys.executable, "-m", "ichviewer", "--smoke-test", args[0], "--timeout",
            str(limit_s - 10), "--report-out", str(root / "report.pdf")]  # fmt: skip
    rc, out, err, peak = run_limited(argv, _env(tmp, logs), limit_s)
    log_text = "".join(p.read_text("utf-8", "replace") for p in logs.glob("*.log*"))
    everything = out + err + log_text
    if rc is None:
        verdict = Verdict(FAILURE, "no result within the time limit (hang or crash)")
    elif rc not in (0, 1):
        verdict = Verdict(FAILURE, f"exit code {rc}: {err[-200:]!r}")
    elif PLANTED_NAME in log_text or PLANTED_ID in log_text or "Plantedname" in log_text:
        verdict = Verdict(FAILURE, "the planted patient name or ID is in the log")
    elif "Traceback" in everything and "This is a bug" not in everything and rc == 1:
        verdict = Verdict(FAILURE, "a traceback was logged for an ordinary input error")
    elif "This is a bug" in everything or "Traceback" in everything:
        verdict = Verdict(FAILURE, "an unexpected error (bug) was shown")
    elif rc == 1:
        verdict = Verdict(CLEAN_ERROR, err.strip().splitlines()[-1][:160] if err.strip() else "")
    else:
        verdict = Verdict(SUCCESS)
    if peak > MAX_PEAK_MB:
        verdict = Verdict(FAILURE, f"peak memory {peak:.0f} MB")
    shutil.rmtree(tmp, ignore_errors=True)
    return verdict, peak


def _print_table(table: dict[tuple[str, str], Counter], stream) -> None:
    print(f"\n| command | family | {' | '.join(OUTCOMES)} |", file=stream)
    print("|---|---|" + "---|" * len(OUTCOMES), file=stream)
    for (command, family), counts in sorted(table.items()):
        cells = " | ".join(str(counts[o]) for o in OUTCOMES)
        print(f"| {command} | {family} | {cells} |", file=stream)
    stream.flush()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--limit-s", type=float, default=60.0)
    parser.add_argument("--sample", type=int, default=12, help="cases for measure/predict/GUI")
    parser.add_argument("--skip-gui", action="store_true")
    parser.add_argument("--family", help="only this family")
    parser.add_argument("--work", type=Path, help="work folder (default: a temporary one)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="ich-fuzz-"))
    corpus = [c for c in cases(args.seed) if not args.family or c.family == args.family]
    rng = random.Random(args.seed)
    sample = {c.name for c in rng.sample(corpus, min(args.sample, len(corpus)))}
    sample |= {c.name for c in corpus if c.name in ("good_zip", "fifo_in_folder", "link_dev_zero",
                                                     "study_folder_named_like_patient")}
    table: dict[tuple[str, str], Counter] = defaultdict(Counter)
    failures: list[str] = []
    peaks: list[tuple[float, str]] = []
    started = time.perf_counter()
    for n, case in enumerate(corpus, 1):
        root = work / case.name
        shutil.rmtree(root, ignore_errors=True)
        (root / "in").mkdir(parents=True)
        try:
            paths = case.make(root / "in")
        except Exception as exc:  # noqa: BLE001 - a corpus bug is reported, not fatal
            failures.append(f"[make] {case.name}: {type(exc).__name__}: {exc}")
            continue
        runs = [("load", True)] + ([("load", False)] if case.plain else [])
        if case.name in sample:
            runs += [("measure", True), ("predict", True)]
            runs += [] if args.skip_gui else [("gui", True)]
        for command, as_json in runs:
            try:
                if command == "gui":
                    verdict, peak = run_gui(case, paths, root, args.limit_s)
                else:
                    verdict, peak = run_cli(
                        case, command, paths, root, args.limit_s, as_json=as_json
                    )
            except Exception as exc:  # noqa: BLE001 - a harness bug must not lose the table
                verdict, peak = Verdict(FAILURE, f"harness: {type(exc).__name__}: {exc}"), 0.0
            label = command if as_json or command != "load" else "load (plain)"
            table[(label, case.family)][verdict.outcome] += 1
            peaks.append((peak, f"{label} {case.name}"))
            if verdict.outcome == FAILURE:
                failures.append(f"[{label}] {case.family}/{case.name}: {verdict.why}")
                print(f"\nFAIL {failures[-1]}", file=sys.stderr)
        print(f"\r{n}/{len(corpus)} cases, {len(failures)} failure(s)", end="", file=sys.stderr)
        if n % 25 == 0 or n == len(corpus):  # the table so far, should the run be cut short
            _print_table(table, sys.stderr)
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print(file=sys.stderr)
    print(f"corpus seed {args.seed}: {len(corpus)} cases, {time.perf_counter() - started:.0f} s\n")
    _print_table(table, sys.stdout)
    peak, where = max(peaks) if peaks else (0.0, "-")
    print(f"\npeak memory of any run: {peak:.0f} MB ({where})")
    for line in failures:
        print("FAIL", line)
    if not args.keep and args.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
