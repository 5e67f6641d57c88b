"""How a run of ``ichmodel load`` on a corpus case is judged (shared by the CI subset and
bench/fuzz.py): clean error, success, warning, or failure with the reason."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tests.fuzz.corpus import PLANTED_ID, PLANTED_NAME, Case

CLEAN_ERROR, SUCCESS, WARNING, FAILURE = "clean error", "success", "warning", "failure"
MAX_ERROR_LINE = 700


@dataclass(frozen=True)
class Verdict:
    outcome: str
    why: str = ""


def _warnings(out: str, as_json: bool) -> tuple[list[str], dict | None]:
    if as_json:
        try:
            data = json.loads(out)
        except ValueError:
            return [], None
        if not isinstance(data, dict):
            return [], None
        return list(data.get("warnings", []) or []), data
    return [line for line in out.splitlines() if line.startswith("warning: ")], None


def judge(case: Case, rc: int | None, out: str, err: str, *, as_json: bool = True) -> Verdict:
    """``rc`` None: it ran past its time limit (or was killed)."""
    if rc is None:
        return Verdict(FAILURE, "no result within the time limit")
    text = out + err
    if "Traceback" in text:
        return Verdict(FAILURE, "a traceback was printed")
    if (PLANTED_NAME in text or PLANTED_ID in text) and "named_like_patient" not in case.name:
        return Verdict(FAILURE, "the planted patient name or ID was printed")
    if rc == 3:
        lines = [line for line in err.splitlines() if line.strip()]
        if len(lines) != 1 or not lines[0].startswith("error: "):
            return Verdict(FAILURE, f"stderr is not one error line: {err[:200]!r}")
        if len(lines[0]) > MAX_ERROR_LINE:
            return Verdict(FAILURE, f"error line of {len(lines[0])} characters")
        if case.expect in ("ok", "warn"):
            return Verdict(FAILURE, f"expected to load ({case.expect}): {lines[0][:200]}")
        return Verdict(CLEAN_ERROR, lines[0][:200])
    if rc != 0:
        return Verdict(FAILURE, f"exit code {rc}: {err[-200:]!r}")
    if err.strip():
        return Verdict(FAILURE, f"stderr on success: {err[:200]!r}")
    if any(line.startswith("error:") for line in out.splitlines()):
        return Verdict(FAILURE, "a fake error: line on stdout")
    warnings, data = _warnings(out, as_json)
    if as_json and data is None:
        return Verdict(FAILURE, "stdout is not JSON")
    shape = data.get("shape_zyx") if data is not None else None  # load's output only
    if shape and case.n_slices is not None and shape[0] != case.n_slices:
        return Verdict(FAILURE, f"{shape[0]} slices, expected {case.n_slices}")
    if case.expect == "error":
        return Verdict(FAILURE, "expected an error, but it loaded")
    if case.expect in ("warn", "refuse_or_warn") and not warnings:
        return Verdict(FAILURE, "loaded without any warning (silent)")
    return Verdict(WARNING, warnings[0][:200]) if warnings else Verdict(SUCCESS)
