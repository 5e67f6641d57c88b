"""An out-of-distribution prediction is shown greyed in the panel and worded so in the PDF."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.gui.fakes import study_dir


@pytest.mark.parametrize("in_distribution", [True, False])
def test_an_untrusted_prediction_is_never_a_plain_number(
    window, fake_jobs, qtbot, tmp_path, in_distribution
):
    fake_jobs.predict_in_distribution = in_distribution
    fake_jobs.predict_volume_ml = 61.0  # far from the measurement: would disagree if trusted
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        window.open_path(study_dir(tmp_path))
    r = window.results
    reading = window.controller.study.reading
    assert reading.model_trusted is in_distribution
    if in_distribution:
        assert r.model_volume.text() == "61.0 ml"
        assert window.slice_view.heat_item.isVisible()
        assert r.disagree.isVisible()
    else:
        assert "has not seen scans like this one" in r.model_volume.text()
        assert "<s>61.0 ml</s>" in r.model_volume.text()
        assert "has not seen scans like this one" in r.probability.text()
        assert "41.5" in r.model_volume.toolTip()
        assert "has not seen scans like this" in r.model_warnings.text()
        assert not window.slice_view.heat_item.isVisible()  # no map of an untrusted model
        # the disagreement flag speaks of the measurement alone
        assert r.disagree.isVisible() == reading.volumes_disagree
    out = window.export_report(tmp_path / "report.pdf")
    assert out is not None
    if shutil.which("pdftotext"):
        text = subprocess.run(["pdftotext", "-layout", str(out), "-"], capture_output=True,
                              text=True, check=True).stdout
        text = " ".join(text.split())  # the table wraps its notes
        if in_distribution:
            assert "61.0 ml" in text and "in distribution" in text
        else:
            assert "61.0" not in text
            assert "not shown" in text and "has not seen scans like this one" in text
