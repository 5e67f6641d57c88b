"""The main window's flow with fast fake ichmodel jobs: open, drop, results, errors, cancel,
stale results, preferences, responsiveness during a slow model job."""

from __future__ import annotations

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from tests.gui.fakes import SHAPE, study_dir

pytestmark = pytest.mark.timeout(60)


def wait_ready(qtbot, window, timeout=10_000):
    with qtbot.waitSignal(window.controller.sig_ready, timeout=timeout):
        pass


def test_open_shows_slice_then_results(window, fake_jobs, qtbot, tmp_path):
    folder = study_dir(tmp_path)
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        window.open_path(folder)
    view = window.slice_view
    assert view.volume is not None and view.volume.shape == SHAPE
    assert view.ct_item.image is not None
    r = window.results
    assert r.model_volume.text() == "9.5 ml"
    assert r.planimetric_volume.text().endswith(" ml") and r.planimetric_volume.text() != "—"
    assert r.abc2_volume.text() == "3.5 ml"
    assert "22 × 16 × 20 mm" in r.abc2_axes.text()
    assert r.probability.text() == "42 %"
    assert r.location.text() == "lobar"
    assert r.ivh.text() == "no"
    assert "cpu" in r.device.text()
    assert "forward" in r.timings.text()
    assert r.banner.isVisibleTo(window.results)  # untrained model → banner
    assert "gantry tilt" in r.warnings.text()
    assert r.card_button.isEnabled()
    assert window.series_list.list.count() == 2
    assert window.series_list.list.currentRow() == 0
    assert "bone kernel" in window.series_list.list.item(1).text()
    assert view.heat_item.isVisible() or view._cam is not None
    assert window.act_export.isEnabled()
    study = window.controller.study
    assert {"first_slice", "measurement", "results"} <= set(study.milestones_s)
    assert study.milestones_s["first_slice"] <= study.milestones_s["results"]
    assert str(folder) in window.settings.recent_studies


def test_drop_event_opens_a_study(window, fake_jobs, qtbot, tmp_path):
    folder = study_dir(tmp_path, "dropped")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    event = QDropEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        window.dropEvent(event)
    assert event.isAccepted()
    assert ("scan", folder) in fake_jobs.calls
    assert window.slice_view.volume is not None
    # a drop without files is refused
    empty = QMimeData()
    empty.setText("not a path")
    event = QDropEvent(
        QPointF(1, 1),
        Qt.DropAction.CopyAction,
        empty,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)
    assert not event.isAccepted()


def test_opacity_slider_changes_heatmap_alpha(window, fake_jobs, qtbot, tmp_path):
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        window.open_path(study_dir(tmp_path))
    window.jump_to_largest()
    for percent in (0, 25, 100, 60):
        window.results.opacity_slider.setValue(percent)
        assert window.slice_view.heat_item.opacity() == pytest.approx(percent / 100)
        assert window.results.opacity_label.text() == f"{percent} %"
    assert window.settings.heatmap_opacity == pytest.approx(0.6)


def test_navigation_presets_and_jump(window, fake_jobs, qtbot, tmp_path):
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        window.open_path(study_dir(tmp_path))
    view = window.slice_view
    assert window.act_jump.isEnabled()
    window.act_jump.trigger()
    mask = window.controller.study.measurement.hematoma_mask
    assert mask[view.slice_index].sum() == mask.sum(axis=(1, 2)).max()
    assert view.contour_item.isVisible()
    qtbot.keyClick(view, Qt.Key.Key_Down)
    assert view.slice_index == window.controller.study.largest_hematoma_slice() - 1
    window.preset_box.select("bone")
    assert view.ct_item.getLevels() == pytest.approx((-800.0, 2000.0))
    assert window.settings.window_preset == "bone"
    assert window.preset_box.select("dicom")  # the fake series carries 35/90
    assert view.ct_item.getLevels() == pytest.approx((-10.0, 80.0))


def test_bad_folder_shows_error_dialog_and_app_keeps_working(window, fake_jobs, qtbot, tmp_path):
    bad = tmp_path / "empty"
    bad.mkdir()
    with qtbot.waitSignal(window.sig_error_shown, timeout=10_000) as blocker:
        window.open_path(bad)
    dialog = blocker.args[0]
    assert dialog.isVisible()
    assert dialog.title == "Could not open the study"
    assert "holds no DICOM" in dialog.message
    assert "NoDicomFoundError" in dialog.details
    dialog.details_button.setChecked(True)
    assert dialog.details_edit.isVisibleTo(dialog)
    assert "logs" in dialog.log_label.text()
    dialog.accept()
    assert window.slice_view.volume is None
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        window.open_path(study_dir(tmp_path))
    assert window.slice_view.volume is not None


def test_model_error_is_shown_and_measurement_stays(window, fake_jobs, qtbot, tmp_path):
    fake_jobs.fail_predict = True
    with qtbot.waitSignal(window.sig_error_shown, timeout=10_000) as blocker:
        window.open_path(study_dir(tmp_path))
    assert blocker.args[0].title == "The model could not run"
    assert "bug" in blocker.args[0].message  # unexpected error → says so
    qtbot.waitUntil(lambda: window.controller.study.measurement is not None, timeout=5000)
    assert window.results.planimetric_volume.text().endswith("ml")


def test_picking_another_series_reloads(window, fake_jobs, qtbot, tmp_path):
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        window.open_path(study_dir(tmp_path))
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        assert window.series_list.choose("uid-study-bone")
    assert ("load", "uid-study-bone") in fake_jobs.calls
    assert window.slice_view.volume.meta.series_description == "study bone 1mm"


def test_hu_range_remeasures_live(window, fake_jobs, qtbot, tmp_path):
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        window.open_path(study_dir(tmp_path))
    before = window.results.planimetric_volume.text()
    with qtbot.waitSignal(window.controller.sig_measurement, timeout=5000):
        window.results.hu_slider_low.setValue(20)  # brain (35 HU) now counts as blood
    assert ("measure", 20.0, 90.0) in fake_jobs.calls
    assert window.results.planimetric_volume.text() != before


def test_cam_head_switch_reruns_the_model(window, fake_jobs, qtbot, tmp_path):
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        window.open_path(study_dir(tmp_path))
    with qtbot.waitSignal(window.controller.sig_prediction, timeout=5000):
        window.results.cam_head.setCurrentIndex(1)
    assert ("predict", "prognosis", "auto") in fake_jobs.calls
    assert window.slice_view._cam.max() == pytest.approx(0.5)
    window.results.cam_head.setCurrentIndex(0)  # cached: no new run
    assert [c for c in fake_jobs.calls if c[0] == "predict"].count(
        ("predict", "volume", "auto")
    ) == 1
    assert window.slice_view._cam.max() == pytest.approx(1.0)


def test_preferences_persist(qtbot, settings, fake_jobs):
    from ichviewer.main_window import MainWindow

    first = MainWindow(settings)
    qtbot.addWidget(first)
    first.results.opacity_slider.setValue(70)
    first.preset_box.select("subdural")
    first.set_device("cpu")
    first.close()
    second = MainWindow(settings)
    qtbot.addWidget(second)
    assert second.results.opacity_slider.value() == 70
    assert second.slice_view.heatmap_opacity() == pytest.approx(0.7)
    assert second.preset_box.current_key() == "subdural"
    assert second.controller.device == "cpu"
    assert settings.geometry is not None
    second.close()


def test_dialogs_answer_without_exec(window, qtbot):
    dialog = window.show_error("Title", "Plain message.", "details here")
    assert dialog.isVisible() and dialog.details_edit.toPlainText() == "details here"
    dialog.accept()
    about = window.show_about()
    assert "Research use only" in about.text()
    about.accept()
    assert window.show_model_card() is None  # no model yet


def test_model_preload_shows_the_banner_before_any_study(qtbot, settings, fake_jobs):
    from ichviewer.main_window import MainWindow

    win = MainWindow(settings, preload_model=True)
    qtbot.addWidget(win)
    qtbot.waitUntil(lambda: win.model is not None, timeout=5000)
    assert ("load_model",) in fake_jobs.calls
    assert win.results.banner.isVisibleTo(win.results)
    assert win.results.model_name.text() == "untrained ResNet10 (tiny)"
    card = win.show_model_card()
    assert "untrained" in card.text()
    card.accept()
    win.close()


def test_preload_is_skipped_once_a_study_is_opening(window, fake_jobs, tmp_path, qtbot):
    window.open_path(study_dir(tmp_path))
    window.controller.preload_model()
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        pass
    assert fake_jobs.calls.index(("load_model",)) > fake_jobs.calls.index(
        ("load", "uid-study-axial")
    )


def test_uncaught_exception_in_a_slot_becomes_an_error_dialog(window, qtbot, monkeypatch):
    import sys

    from ichviewer.app import install_excepthook

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    install_excepthook(window.show_error)
    try:
        raise RuntimeError("a bug in a slot")
    except RuntimeError:
        sys.excepthook(*sys.exc_info())
    dialog = window.error_dialogs[-1]
    assert dialog.title == "Unexpected error"
    assert "a bug in a slot" in dialog.message and "Traceback" in dialog.details
    dialog.accept()


def test_tools_fine_tune_opens_the_trainer_and_close_stops_it(window, qtbot, tmp_path):
    dialog = window.open_trainer()
    assert dialog is not None and dialog.isVisible()
    assert window.open_trainer() is dialog  # reused, never a second one
    window.controller.models.set_model(object())
    dialog.sig_use_model.emit(str(tmp_path / "new.safetensors"))
    assert window.controller.models.loaded is None  # the next run loads the new weights
    assert window.controller.models._path == tmp_path / "new.safetensors"
    window.close()
    assert getattr(dialog, "_shut_down", True)


def test_the_chosen_hu_range_applies_to_the_next_study(window, fake_jobs, qtbot, tmp_path):
    window.results.hu_low.setValue(45)  # before any study: remembered
    with qtbot.waitSignal(window.controller.sig_ready, timeout=10_000):
        window.open_path(study_dir(tmp_path))
    assert ("measure", 45.0, 90.0) in fake_jobs.calls
    assert window.controller.study.measurement.params.hu_min == 45.0


def test_the_model_card_says_how_volumes_are_scaled(tmp_path):
    from ichmodel.checkpoint import load_checkpoint, save_checkpoint
    from ichmodel.labels import LabelTransform
    from ichmodel.nets import ICHNet, NetConfig
    from ichmodel.preprocess import PreprocessConfig
    from ichviewer.dialogs.about_dialog import model_card_html

    net_config = NetConfig(depth=10, base_width=2)
    path = tmp_path / "scaled.safetensors"
    save_checkpoint(path, ICHNet(net_config), net_config=net_config,
                    preprocess_config=PreprocessConfig(output_shape=(8, 32, 32)),
                    card={"name": "scaled"},
                    label_transform=LabelTransform(voxel_exponent=0.9, reference_voxel_mm3=3.2))
    text = model_card_html(load_checkpoint(path))
    assert "volume output" in text and "voxel exponent" in text and "0.9" in text
