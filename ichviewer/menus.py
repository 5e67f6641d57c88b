"""Menus, toolbar and actions of the main window (built here to keep main_window.py short)."""

from __future__ import annotations

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QWidget

from ichviewer.settings import DEVICES
from ichviewer.widgets.window_presets import PRESETS


def make_action(
    window: QWidget,
    text: str,
    slot,
    shortcut: str | QKeySequence | None = None,
    checkable: bool = False,
    checked: bool = False,
    tip: str = "",
) -> QAction:
    action = QAction(text, window)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
    if checkable:
        action.setCheckable(True)
        action.setChecked(checked)
        action.toggled.connect(slot)
    else:
        action.triggered.connect(lambda _=False: slot())
    if tip:
        action.setStatusTip(tip)
    return action


def build_menus(self) -> None:
    """The menu bar of ``self`` (a MainWindow): File, View, Tools, Help."""
    bar = self.menuBar()
    m = bar.addMenu("&File")
    self.act_open = make_action(
        self, "&Open folder…", self.open_folder_dialog, QKeySequence.StandardKey.Open
    )
    m.addAction(self.act_open)
    m.addAction(make_action(self, "Open &files…", self.open_files_dialog))
    self.recent_menu = m.addMenu("Open &recent")
    m.addAction(make_action(self, "Open the &sample study", self.open_demo))
    self.act_compare = make_action(self, "&Compare with…", self.compare_with_dialog,
                                   tip="Open a follow-up of the same patient beside this study")
    m.addAction(self.act_compare)
    m.addSeparator()
    self.act_export = make_action(self, "&Export report…", self.export_report_dialog, "Ctrl+E")
    self.act_export.setEnabled(False)
    m.addAction(self.act_export)
    m.addAction(make_action(self, "Send to &PACS…", self.send_to_pacs_dialog,
                            tip="Send the segmentation, report and key images to a DICOM node"))
    self.act_anonymize = make_action(
        self,
        "Anonymize reports",
        lambda _on: None,
        checkable=True,
        checked=True,
        tip="Leave name, ID and birth date out of reports",
    )
    m.addAction(self.act_anonymize)
    m.addSeparator()
    m.addAction(make_action(self, "&Quit", self.close, QKeySequence.StandardKey.Quit))

    m = bar.addMenu("&View")
    for p in PRESETS:
        m.addAction(
            make_action(
                self, f"{p.label} window", lambda k=p.key: self.preset_box.select(k), p.shortcut
            )
        )
    m.addAction(make_action(self, "DICOM window", lambda: self.preset_box.select("dicom"), "6"))
    m.addSeparator()
    m.addAction(make_action(self, "&Fit to window", self.slice_view.fit, "F"))
    self.act_jump = make_action(
        self, "&Jump to the largest hematoma slice", self.jump_to_largest, "J"
    )
    self.act_jump.setIconText("Largest slice")
    self.act_jump.setToolTip("Jump to the slice with the largest hematoma area (J)")
    self.act_jump.setEnabled(False)
    m.addAction(self.act_jump)
    m.addAction(make_action(self, "Jump to the &midline-shift slice", self.jump_to_midline, "M"))
    m.addAction(make_action(self, "Show the &midline", self.midline_overlay.set_visible,
                            checkable=True, checked=True))

    m = bar.addMenu("&Tools")
    m.addAction(make_action(self, "&Fine-tune the model…", self.open_trainer))
    m.addAction(make_action(self, "Use the &default model", lambda: self.use_model(None)))
    m.addAction(make_action(self, "Use a model &file…", self.choose_model_file))
    m.addAction(make_action(self, "DICOM &listener…", self.open_listener))
    device_menu = m.addMenu("&Device")
    group = QActionGroup(self)
    for device in DEVICES:
        action = make_action(
            self,
            device,
            lambda on, d=device: on and self.set_device(d),
            checkable=True,
            checked=device == self.settings.device,
        )
        group.addAction(action)
        device_menu.addAction(action)

    m = bar.addMenu("&Help")
    m.addAction(make_action(self, "&Model card…", self.show_model_card))
    m.addAction(make_action(self, "Open the &log folder", self.open_log_folder))
    m.addAction(make_action(self, "&About ICH Viewer", self.show_about))

    # Esc leaves the active slice tool first, then cancels jobs (reading_tools.escape_pressed)
    cancel = make_action(self, "Cancel running jobs (or leave the tool)", self.escape_pressed,
                         "Esc")
    self.addAction(cancel)


def build_toolbar(self) -> None:
    """The main toolbar: open, window preset, fit, largest slice, export."""
    tb = self.addToolBar("Main")
    tb.setObjectName("toolbar_main")
    tb.setMovable(False)
    tb.addAction(self.act_open)
    tb.addSeparator()
    tb.addWidget(self.preset_box)
    tb.addAction(make_action(self, "Fit", self.slice_view.fit))
    tb.addAction(self.act_jump)
    tb.addSeparator()
    tb.addAction(self.act_export)
