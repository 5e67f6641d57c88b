"""Results to and from a real PACS (Orthanc on 127.0.0.1) and our own Storage SCP.

End to end: the sample study goes to Orthanc; Orthanc C-MOVEs it to our listener; the listener
measures it and sends SEG+SR+SC+PDF back; a C-FIND shows the five series and the SEG fetched
back equals our mask voxel for voxel. Failures (node down, AE title refused, silent port) give
one clear NetworkError within the time limit.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from ichmodel.net.listen import StorageListener
from ichmodel.net.nodes import DicomNode, NetworkError
from ichmodel.net.scu import echo, find_series, find_studies, move, send
from ichmodel.progress import run_to_completion
from ichmodel.resources import sample_study_dir
from tests.orthanc import free_port, start_orthanc, stop_orthanc

pytestmark = pytest.mark.timeout(240)


def _sample_datasets():
    import pydicom

    return [pydicom.dcmread(p) for p in sorted((sample_study_dir() / "DICOM").glob("*.dcm"))]


def _wait(predicate, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _make_pdf(reading) -> bytes:
    import tempfile

    from ichviewer.report import export_report

    with tempfile.TemporaryDirectory() as tmp:
        return export_report(Path(tmp) / "r.pdf", reading).read_bytes()


@pytest.mark.slow
def test_end_to_end_move_measure_send_back_find_and_fetch(tmp_path):
    from ichmodel.net.process import process_study

    listen_port = free_port()
    orthanc = start_orthanc(tmp_path / "orthanc", listener_aet="ICHVIEWER",
                            listener_port=listen_port)
    processed = []
    try:
        echo(orthanc.node)
        report = run_to_completion(send(_sample_datasets(), orthanc.node))
        assert report.ok and len(report.stored) == 35
        study_uid = _sample_datasets()[0].StudyInstanceUID

        def on_complete(folder: Path) -> None:
            processed.append(process_study(folder, results_dir=tmp_path / "results",
                                           send_to=orthanc.node, make_pdf=_make_pdf))

        with StorageListener(tmp_path / "in", port=listen_port, quiet_s=1.0,
                             on_complete=on_complete) as listener:
            assert move(orthanc.node, study_uid, "ICHVIEWER") == 35
            _wait(lambda: bool(processed), 120)
            assert listener.stats.received == 35
        done = processed[0]
        assert done.sent == 6 and not done.failed  # SEG, SR, 3 SC, PDF

        [study] = find_studies(orthanc.node, study_uid=study_uid, modality="")
        assert study["NumberOfStudyRelatedSeries"] == "5"
        series = find_series(orthanc.node, study_uid)
        assert sorted(s["Modality"] for s in series) == ["CT", "DOC", "OT", "SEG", "SR"]

        # fetch the SEG back through our listener and compare it voxel for voxel
        seg_series = next(s["SeriesInstanceUID"] for s in series if s["Modality"] == "SEG")
        with StorageListener(tmp_path / "back", port=listen_port, quiet_s=0.5) as listener:
            assert move(orthanc.node, study_uid, "ICHVIEWER", series_uid=seg_series) == 1
        [seg_file] = list((tmp_path / "back" / study_uid).glob("*.dcm"))
        sent_seg = next(p for p in done.result_paths if p.name.startswith("SEG_"))
        import pydicom

        back, ours = pydicom.dcmread(seg_file), pydicom.dcmread(sent_seg)
        assert np.array_equal(back.pixel_array, ours.pixel_array)
        assert int(back.pixel_array.sum()) > 0
    finally:
        stop_orthanc(orthanc)


def test_failures_are_one_clear_error_never_a_hang(tmp_path):
    port = free_port()  # nothing listens there
    started = time.monotonic()
    with pytest.raises(NetworkError, match="cannot connect"):
        echo(DicomNode("NOBODY", "127.0.0.1", port), timeout_s=2)
    # a port that accepts TCP and says nothing: the time limit answers
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    try:
        with pytest.raises(NetworkError, match="timed out|no answer"):
            echo(DicomNode("SILENT", "127.0.0.1", silent.getsockname()[1]), timeout_s=2)
    finally:
        silent.close()
    assert time.monotonic() - started < 20
    with pytest.raises(NetworkError, match="AET@HOST:PORT"):
        DicomNode.parse("ORTHANC-127.0.0.1")


@pytest.mark.slow
def test_orthanc_refusing_our_called_ae_title_and_query(tmp_path, capsys):
    orthanc = start_orthanc(tmp_path / "o", listener_aet="ICHVIEWER", listener_port=free_port())
    try:
        wrong = DicomNode("NOTORTHANC", "127.0.0.1", orthanc.dicom_port)
        with pytest.raises(NetworkError, match="refused the association"):
            echo(wrong, timeout_s=15)
        with pytest.raises(NetworkError, match="destination 'STRANGER'"):
            move(orthanc.node, "1.2.3", "STRANGER", timeout_s=10)
        # query by patient: the sample study once stored there
        import json

        from ichmodel.cli import main

        datasets = _sample_datasets()
        assert run_to_completion(send(datasets, orthanc.node)).ok
        capsys.readouterr()
        rc = main(["query", str(orthanc.node), "--patient-id", str(datasets[0].PatientID),
                   "--json"])
        [study] = json.loads(capsys.readouterr().out)
        assert rc == 0 and study["StudyInstanceUID"] == datasets[0].StudyInstanceUID
        assert study["NumberOfStudyRelatedSeries"] == "1"
        # generous timeouts: a loaded CI machine's Orthanc can take seconds to refuse
        assert main(["query", str(wrong), "--patient-id", "x", "--timeout", "15"]) == 3
        [line] = capsys.readouterr().err.strip().splitlines()  # one line, no pynetdicom log
        assert line.startswith("error: ") and "refused the association" in line
    finally:
        stop_orthanc(orthanc)


def test_cli_export_send_errors_are_one_line(tmp_path, capsys):
    from ichmodel.cli import main

    port = free_port()
    rc = main(["export", str(sample_study_dir() / "DICOM"), "--dicom-out", str(tmp_path),
               "--send", f"PACS@127.0.0.1:{port}", "--timeout", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 3
    assert err == [f"error: PACS@127.0.0.1:{port}: cannot connect (Connection refused); "
                   "is the PACS running and is the port right?"]


def test_listener_keeps_duplicates_once_and_survives_bad_senders(tmp_path):
    from pynetdicom import AE, build_context

    port = free_port()
    datasets = _sample_datasets()[:4]
    completed = []
    with StorageListener(tmp_path, port=port, quiet_s=0.5,
                         on_complete=completed.append) as listener:
        node = DicomNode("ICHVIEWER", "127.0.0.1", port)
        assert run_to_completion(send(datasets + datasets[:2], node)).ok
        # a sender that drops the connection mid-study
        ae = AE(ae_title="ROGUE")
        ae.add_requested_context(str(datasets[0].SOPClassUID))
        assoc = ae.associate("127.0.0.1", port, ae_title="ICHVIEWER")
        assoc.send_c_store(_sample_datasets()[5])
        assoc.abort()
        # a malformed instance: no SOP Instance UID
        broken = _sample_datasets()[6]
        del broken.StudyInstanceUID
        ae2 = AE(ae_title="ROGUE")
        ae2.requested_contexts = [build_context(str(broken.SOPClassUID))]
        assoc = ae2.associate("127.0.0.1", port, ae_title="ICHVIEWER")
        status = assoc.send_c_store(broken)
        assoc.release()
        assert status.Status != 0
        _wait(lambda: bool(completed), 10)
        # still alive after all that
        assert run_to_completion(send(_sample_datasets()[7:8], node)).ok
        assert listener.stats.duplicates == 2
    study = tmp_path / datasets[0].StudyInstanceUID
    files = sorted(study.glob("*.dcm"))
    assert len(files) == 6  # 4 + the aborted sender's one + the last; duplicates once
    assert not list(study.glob(".incoming-*"))  # no half-written files left
    assert completed[0] == study
    threading.enumerate()  # the watcher and server threads stopped with the listener


@pytest.mark.slow
def test_cli_export_stow_to_orthanc_dicomweb(tmp_path, capsys):
    import json

    from ichmodel.cli import main

    orthanc = start_orthanc(tmp_path / "o", listener_aet="ICHVIEWER", listener_port=free_port(),
                            dicomweb=True)
    try:
        rc = main(["export", str(sample_study_dir() / "DICOM"), "--dicom-out",
                   str(tmp_path / "out"), "--stow", orthanc.dicomweb_url, "--json"])
        summary = json.loads(capsys.readouterr().out)
        assert rc == 0 and summary["sent"]["stored"] == 5  # SEG, SR, 3 SC (no PDF given)
        series = find_series(orthanc.node, summary["study_uid"])
        assert sorted(s["Modality"] for s in series) == ["OT", "SEG", "SR"]  # never the CT
    finally:
        stop_orthanc(orthanc)
    rc = main(["export", str(sample_study_dir() / "DICOM"), "--dicom-out", str(tmp_path / "x"),
               "--stow", f"http://127.0.0.1:{free_port()}/dicom-web", "--timeout", "2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 3 and len(err) == 1 and "cannot connect" in err[0]


@pytest.mark.slow
def test_cli_listen_process_writes_results(tmp_path):
    """``ichmodel listen --process``: a study sent to it is measured and its results written."""
    import subprocess
    import sys

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "ichmodel", "listen", "--port", str(port), "--host", "127.0.0.1",
         "--out", str(tmp_path), "--quiet", "1", "--process", "--for-seconds", "90"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        node = DicomNode("ICHVIEWER", "127.0.0.1", port)
        _wait(lambda: _answers(node), 30)
        datasets = _sample_datasets()
        assert run_to_completion(send(datasets, node)).ok
        study = datasets[0].StudyInstanceUID
        results = tmp_path / "results" / study
        _wait(lambda: len(list(results.glob("*.dcm"))) == 5, 120)  # SEG, SR, 3 SC
        assert len(list((tmp_path / study).glob("*.dcm"))) == 35
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert f"study {study} complete" in out
    assert "Traceback" not in out


def _answers(node) -> bool:
    try:
        echo(node, timeout_s=1)
    except NetworkError:
        return False
    return True


def test_cli_refused_association_is_one_line_in_a_real_process():
    """Run as its own process (pytest's log capture would hide pynetdicom's own ERROR lines)."""
    import subprocess
    import sys

    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="REAL")
    ae.require_called_aet = True
    ae.add_supported_context(Verification)
    server = ae.start_server(("127.0.0.1", 0), block=False)
    try:
        port = server.server_address[1]
        out = subprocess.run(
            [sys.executable, "-m", "ichmodel", "query", f"WRONG@127.0.0.1:{port}",
             "--patient-id", "x", "--timeout", "5"],
            capture_output=True, text=True, timeout=120,
        )
    finally:
        server.shutdown()
    assert out.returncode == 3
    assert out.stderr.splitlines() == [
        f"error: WRONG@127.0.0.1:{port} refused the association: it does not accept the called "
        "AE title 'WRONG' or our AE title 'ICHVIEWER'; check both in its configuration"]
