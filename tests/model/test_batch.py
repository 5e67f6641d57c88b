"""``ichmodel batch``: identical rows whatever the backend, job count or sharding; a killed run
resumes to exactly the full set; a corrupt study is an error row, never the end of the cohort."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ichmodel.batch import BatchRequest, discover_jobs, run_batch
from ichmodel.batch.rows import TIMING_COLUMNS
from ichmodel.cli import main
from ichmodel.errors import InputError
from ichmodel.progress import run_to_completion
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

N_PHANTOMS = 10


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    """Ten phantom studies (128 px), one folder holding two studies, one corrupt study."""
    import shutil

    root = tmp_path_factory.mktemp("cohort")
    synth = tmp_path_factory.mktemp("synth")
    assert main(["synth", str(synth), "--cases", str(N_PHANTOMS), "--size", "128",
                 "--seed", "77", "--json"]) == 0
    for case in sorted(p for p in synth.iterdir() if p.is_dir()):
        shutil.copytree(case, root / case.name)
    both = root / "zz_two_studies"
    shutil.copytree(synth / "case_000", both / "first")
    shutil.copytree(synth / "case_001", both / "second")
    broken = root / "broken"
    broken.mkdir()
    (broken / "IM0001.dcm").write_bytes(b"\0" * 128 + b"DICM" + os.urandom(600))
    (root / "manifest.csv").write_text("not a study, and not read\n")
    return root


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS}
                for row in csv.DictReader(fh)]


def _run(cohort: Path, out: Path, **kw) -> list[dict[str, str]]:
    run_to_completion(run_batch(BatchRequest(source=cohort, out=out, **kw)))
    return _rows(out)


@pytest.fixture(scope="module")
def serial(cohort, tmp_path_factory) -> list[dict[str, str]]:
    return _run(cohort, tmp_path_factory.mktemp("serial") / "rows.csv")


def test_every_study_is_a_row_and_a_corrupt_one_an_error_row(serial):
    jobs = [r["job"] for r in serial]
    assert jobs.count("zz_two_studies") == 2  # one folder, two studies, two rows
    assert len(serial) == N_PHANTOMS + 2 + 1
    broken = [r for r in serial if r["job"] == "broken"]
    assert len(broken) == 1 and broken[0]["status"] == "error" and broken[0]["error"]
    ok = [r for r in serial if r["status"] == "ok"]
    assert len(ok) == N_PHANTOMS + 2
    assert all(r["study_uid"] and r["series_uid"] and r["planimetric_volume_ml"] for r in ok)
    assert any(float(r["planimetric_volume_ml"]) > 1 for r in ok)


def test_two_process_workers_and_dask_give_identical_rows(cohort, serial, tmp_path):
    assert _run(cohort, tmp_path / "pool.csv", jobs=2) == serial
    pytest.importorskip("dask.distributed")
    assert _run(cohort, tmp_path / "dask.csv", jobs=2, backend="dask") == serial


def test_ray_local_gives_identical_rows(cohort, serial, tmp_path):
    pytest.importorskip("ray")
    assert _run(cohort, tmp_path / "ray.csv", jobs=2, backend="ray") == serial


def test_two_shards_add_up_to_the_whole_run(cohort, serial, tmp_path):
    parts = [_run(cohort, tmp_path / f"part{i}.csv", num_parts=2, part_id=i) for i in (0, 1)]
    assert parts[0] and parts[1]
    assert not {r["job"] for r in parts[0]} & {r["job"] for r in parts[1]}
    key = lambda r: (r["job"], r["study_uid"], r["series_uid"])  # noqa: E731
    assert sorted(parts[0] + parts[1], key=key) == serial


def test_a_killed_run_resumes_to_exactly_the_full_set(cohort, serial, tmp_path):
    out = tmp_path / "killed.csv"
    request = BatchRequest(source=cohort, out=out)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ichmodel", "batch", str(cohort), "--out", str(out), "--json"],
        cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it once a few jobs are in the log
        if request.rows_log.is_file() and request.rows_log.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    assert not out.exists()  # the table is written at the end only
    done_before = request.rows_log.read_text().count("\n")
    assert 3 <= done_before < N_PHANTOMS + 2
    summary = run_to_completion(run_batch(BatchRequest(source=cohort, out=out, resume=True)))
    assert summary.n_skipped >= 3
    assert _rows(out) == serial  # every study exactly once


def test_the_cli_writes_the_table_and_refuses_bad_requests(cohort, tmp_path, capsys):
    out = tmp_path / "cli.csv"
    assert main(["batch", str(cohort), "--out", str(out), "--num-parts", "6", "--part-id", "5",
                 "--json"]) == 0
    assert '"rows"' in capsys.readouterr().out and out.is_file()
    assert main(["batch", str(cohort), "--out", str(tmp_path / "x.txt")]) == 3
    assert main(["batch", str(cohort), "--out", str(out), "--part-id", "2"]) == 3
    assert main(["batch", str(tmp_path / "nowhere"), "--out", str(out)]) == 3
    assert main(["batch", str(cohort), "--out", str(tmp_path / "hu.csv"), "--hu-min", "95"]) == 3
    assert not (tmp_path / "hu.csv").exists()  # refused before any study was read
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(InputError, match="--what"):
        BatchRequest(source=cohort, out=out, what=("predict",))


def test_a_manifest_lists_the_jobs(cohort, tmp_path):
    manifest = tmp_path / "m.csv"
    manifest.write_text(f"study,volume_ml\n{cohort / 'case_003'},1\n{cohort / 'broken'},2\n")
    jobs = discover_jobs(manifest)
    assert [Path(j.key).name for j in jobs] == ["broken", "case_003"]
    twice = tmp_path / "twice.csv"
    twice.write_text(f"study\n{cohort / 'case_003'}\n{cohort / 'case_003'}\n")
    with pytest.raises(InputError, match="listed twice"):
        discover_jobs(twice)


def test_parquet_output_holds_the_same_rows(cohort, serial, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    out = tmp_path / "rows.parquet"
    run_to_completion(run_batch(BatchRequest(source=cohort, out=out)))
    table = pq.read_table(out).to_pylist()
    assert [(r["job"], r["status"]) for r in table] == [(r["job"], r["status"]) for r in serial]
    ok = [r for r in table if r["status"] == "ok"]
    assert [r["planimetric_volume_ml"] for r in ok] == [
        float(r["planimetric_volume_ml"]) for r in serial if r["status"] == "ok"
    ]


def test_measuring_never_imports_torch(cohort):
    """A measure-only worker starts without torch (~2 s of imports saved per worker)."""
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from ichmodel.batch import BatchRequest, discover_jobs\n"
        "from ichmodel.batch.worker import init_worker, process_job\n"
        f"root = Path({str(cohort)!r})\n"
        "init_worker(False)\n"
        "job = [j for j in discover_jobs(root) if j.key == 'case_000'][0]\n"
        "rows = process_job(job, BatchRequest(source=root, out=Path('x.csv')))\n"
        "print(rows[0]['status'], 'torch' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True,
                          text=True, check=True, timeout=120)
    assert done.stdout.split() == ["ok", "False"]
