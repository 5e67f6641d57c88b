"""At 1440×900 the results panel needs more height than its dock has: right after the results
arrived, its rows were drawn squeezed over each other (10 px boxes for 14 px text, what a
screenshot then showed) until a later layout pass. ``fit_height_for_width`` makes it scroll at
once. The bundled sample with the demo model (a phantom with a tiny net did not squeeze)."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QGuiApplication

pytestmark = [pytest.mark.timeout(180), pytest.mark.slow]


def test_the_results_rows_are_not_squeezed_when_the_results_arrive(qtbot, window):
    from ichviewer.main_window import sample_study_source

    window.resize(1440, 900)
    heights: list[tuple[int, int]] = []

    def at_once(_token) -> None:
        QGuiApplication.processEvents()
        r = window.results
        heights.extend((w.height(), w.sizeHint().height())
                       for w in (r.model_volume, r.planimetric_volume, r.abc2_volume))

    window.controller.sig_ready.connect(at_once)
    with qtbot.waitSignal(window.controller.sig_ready, timeout=120_000):
        window.open_path(sample_study_source())
    assert heights and all(h >= hint for h, hint in heights), heights
