"""The fast CI subset of the fuzz corpus (bench/fuzz.py runs all of it, in subprocesses with
time and memory limits): ``ichmodel load`` ends in rc 0 or 3 with one ``error:`` line, no
traceback, no silent corruption, no planted patient name, nothing written outside."""

from __future__ import annotations

import os

import pytest

from ichmodel.cli import main
from tests.fuzz.corpus import Case, cases
from tests.fuzz.judge import FAILURE, judge

SEED = 16


def ci_subset(all_cases: list[Case]) -> list[Case]:
    """Every non-heavy case, except only every 6th of the random byte damage."""
    picked = []
    for k, case in enumerate(all_cases):
        if case.heavy or (case.family == "bytes" and k % 6):
            continue
        picked.append(case)
    return picked


SUBSET = ci_subset(cases(SEED))


@pytest.mark.parametrize("case", SUBSET, ids=[c.name for c in SUBSET])
def test_load_ends_cleanly(case: Case, tmp_path, capsys) -> None:
    root = tmp_path / "in"
    root.mkdir()
    args = case.make(root)
    capsys.readouterr()
    before = set(os.listdir(tmp_path))
    for as_json in (True, False) if case.plain else (True,):
        rc = main(["load", *(["--json"] if as_json else []), *args])
        captured = capsys.readouterr()
        verdict = judge(case, rc, captured.out, captured.err, as_json=as_json)
        assert verdict.outcome != FAILURE, f"{case.name}: {verdict.why}"
    assert set(os.listdir(tmp_path)) == before, "something was written beside the input"


def test_the_corpus_is_big_and_seeded() -> None:
    a, b = cases(SEED), cases(SEED)
    assert len(a) >= 250 and [c.name for c in a] == [c.name for c in b]
    assert len({c.family for c in a}) >= 8
