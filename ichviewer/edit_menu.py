"""Main-window parts for editing the segmentation (issue 18): the Segmentation menu and
toolbar, the edit tools on the slice view, the "edited" badge, undo/redo, reset, the question
before a new HU range replaces the edits, and the mask export (kept out of main_window.py)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFileDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QSpinBox,
)

from ichviewer.edit_session import EditController
from ichviewer.edit_store import EditStore
from ichviewer.menus import make_action
from ichviewer.widgets.edit_tools import (
    BrushTool,
    ExcludeTool,
    GrowTool,
    excluded_overlay,
    ivh_overlay,
)

BADGE_STYLE = ("color:#1b1b1b; background:#ffb74d; border-radius:3px; padding:1px 6px; "
               "font-weight:bold")


class EditToolsMixin:
    """Mixed into MainWindow (needs ``controller``, ``slice_view``, ``results``, ``settings``,
    ``statusBar``, ``show_error``, ``menuBar``, ``addToolBar``)."""

    def build_edit_tools(self, store: EditStore | None = None) -> None:
        if store is None:  # beside an INI settings file (tests, portable installs)
            location = Path(self.settings.location)
            store = EditStore(location.parent / "edits" if location.suffix == ".ini" else None)
        self.edits = EditController(self.controller, store, self)
        self.excluded_overlay = excluded_overlay(self.slice_view)
        self.ivh_overlay = ivh_overlay(self.slice_view)
        self.brush_size = QDoubleSpinBox()
        self.brush_size.setRange(1.0, 40.0)
        self.brush_size.setSingleStep(1.0)
        self.brush_size.setValue(6.0)
        self.brush_size.setPrefix("Ø ")
        self.brush_size.setSuffix(" mm")
        self.brush_size.setToolTip("Brush diameter, mm")
        self.brush_slices = QSpinBox()
        self.brush_slices.setRange(1, 15)
        self.brush_slices.setSingleStep(2)
        self.brush_slices.setSuffix(" slice")
        self.brush_slices.setToolTip("Slices the brush reaches, centred on the shown one")
        self.edit_tools = {
            "exclude": ExcludeTool(self.edits),
            "grow": GrowTool(self.edits),
            "paint": BrushTool(self.edits, "paint"),
            "erase": BrushTool(self.edits, "erase"),
        }
        tips = {
            "exclude": "Click a hematoma to leave it out of the volume; click an excluded "
                       "(dashed) one to count it again",
            "grow": "Click inside a bleed the segmentation missed: it grows within the HU range",
            "paint": "Paint hematoma with a round brush (drag); its size is on the cursor",
            "erase": "Erase hematoma with a round brush (drag)",
        }
        self.edit_actions = {}
        group = QActionGroup(self)  # our four tools only; other tools via sig_tool_changed
        group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        for key, tool in self.edit_tools.items():
            action = make_action(self, tool.name, lambda on, k=key: self._edit_tool_toggled(k, on),
                                 checkable=True, tip=tips[key])
            action.setToolTip(tips[key])
            group.addAction(action)
            self.edit_actions[key] = action
        self.act_undo_edit = make_action(self, "&Undo edit", self.edits.undo,
                                         QKeySequence.StandardKey.Undo)
        self.act_redo_edit = make_action(self, "&Redo edit", self.edits.redo, "Ctrl+Shift+Z")
        self.act_reset_edits = make_action(
            self, "Reset to &automatic", self.edits.reset,
            tip="Discard every edit of this series and show the automatic segmentation")
        self.act_export_mask = make_action(self, "Export the &mask (NIfTI)…",
                                           self.export_mask_dialog,
                                           tip="The shown (edited) mask: 1 hematoma, 2 IVH")
        bar = self.menuBar()
        help_menu = next((a for a in bar.actions() if a.text().replace("&", "") == "Help"), None)
        menu = QMenu("&Segmentation", self)
        bar.insertMenu(help_menu, menu) if help_menu is not None else bar.addMenu(menu)
        self.segmentation_menu = menu
        for action in self.edit_actions.values():
            menu.addAction(action)
        menu.addSeparator()
        for action in (self.act_undo_edit, self.act_redo_edit, self.act_reset_edits):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.act_export_mask)
        self.edit_badge = QLabel("")
        self.edit_badge.setStyleSheet(BADGE_STYLE)
        # beside the main toolbar, with short labels (the menu has the long ones). A row of its
        # own (addToolBarBreak) made the window's repaints during a model job stall the event
        # loop for 200-300 ms in tests/gui/test_window_jobs.py on the loaded 2-core machine.
        short = {"exclude": "Exclude", "grow": "Grow", "paint": "Paint", "erase": "Erase"}
        for key, action in self.edit_actions.items():
            action.setIconText(short[key])
        self.act_undo_edit.setIconText("Undo")
        self.act_redo_edit.setIconText("Redo")
        self.act_reset_edits.setIconText("Reset")
        tb = self.addToolBar("Segmentation")
        tb.setObjectName("toolbar_segmentation")
        for action in self.edit_actions.values():
            tb.addAction(action)
        tb.addWidget(self.brush_size)
        tb.addWidget(self.brush_slices)
        tb.addAction(self.act_undo_edit)
        tb.addAction(self.act_redo_edit)
        tb.addAction(self.act_reset_edits)
        self.edit_badge_action = tb.addWidget(self.edit_badge)
        self.edit_toolbar = tb
        self.hu_question: QMessageBox | None = None
        self._asked_range: tuple[float, float] | None = None
        self.brush_size.valueChanged.connect(self._brush_changed)
        self.brush_slices.valueChanged.connect(self._brush_changed)
        self._brush_changed()
        self.slice_view.sig_tool_changed.connect(self._edit_tool_changed)
        self.edits.sig_state.connect(self._edit_state_changed)
        # saved edits are restored at their own range: the panel shows it
        self.edits.sig_hu_range.connect(lambda lo, hi: self.results.set_hu_range(lo, hi))
        self.edits.sig_message.connect(lambda text: self.statusBar().showMessage(text, 8000))
        for overlay in (self.excluded_overlay, self.ivh_overlay):
            self.controller.sig_measurement.connect(
                lambda reading, o=overlay: o.set_measurement(reading.measurement))
            self.controller.sig_volume.connect(lambda _r, o=overlay: o.set_measurement(None))
            self.results.sig_contour_visible.connect(overlay.set_visible)
        self._edit_state_changed()

    # --- tools ------------------------------------------------------------------------------
    def _edit_tool_toggled(self, key: str, on: bool) -> None:
        tool = self.edit_tools[key]
        if on:
            self.slice_view.set_tool(tool)
            self.slice_view.setFocus()
        elif self.slice_view.tool is tool:
            self.slice_view.set_tool(None)

    def _edit_tool_changed(self, name: str) -> None:
        """Another tool (the ruler, the ROI, ...) or none took the mouse: uncheck ours."""
        for key, action in self.edit_actions.items():
            if action.isChecked() and self.edit_tools[key].name != name:
                action.blockSignals(True)
                action.setChecked(False)
                action.blockSignals(False)

    def _brush_changed(self, *_args) -> None:
        for key in ("paint", "erase"):
            tool = self.edit_tools[key]
            tool.radius_mm = self.brush_size.value() / 2.0
            tool.slice_span = self.brush_slices.value()
        n = self.brush_slices.value()
        self.brush_slices.setSuffix(" slice" if n == 1 else " slices")

    def _edit_state_changed(self) -> None:
        edits = self.edits
        session = edits.session
        for action in self.edit_actions.values():
            action.setEnabled(session is not None)
        self.act_undo_edit.setEnabled(edits.can_undo)
        self.act_redo_edit.setEnabled(edits.can_redo)
        self.act_reset_edits.setEnabled(edits.edited)
        self.act_export_mask.setEnabled(self.controller.study is not None
                                        and self.controller.study.measurement is not None)
        if edits.edited and session is not None:
            n = len(session.record.edits)
            self.edit_badge.setText(f"✎ edited · {n} edit{'s' if n != 1 else ''}"
                                    + (" (restored)" if edits.restored else ""))
            summary = session.measurement.edited
            self.edit_badge.setToolTip(summary.sentence() if summary else "")
        self.edit_badge_action.setVisible(edits.edited)

    # --- the HU range after edits -----------------------------------------------------------
    def request_hu_range(self, low: float, high: float) -> None:
        """The panel's HU range changed: remeasure, but ask first when that would replace the
        reader's edits (the question is a real, window-modal dialog: ``self.hu_question``)."""
        if not self.edits.edited:
            self.controller.remeasure(low, high)
            return
        self._asked_range = (float(low), float(high))
        if self.hu_question is not None:
            return  # already asking; the latest range is the one that will be used
        box = QMessageBox(QMessageBox.Icon.Question, "Replace your edits?",
                          "The segmentation was edited at "
                          f"{self.edits.hu_range[0]:g}-{self.edits.hu_range[1]:g} HU. A new HU "
                          "range measures it again from scratch and discards your edits.",
                          parent=self)
        box.setInformativeText("Replace the edits with a new automatic segmentation?")
        self.hu_replace_button = box.addButton("Replace the edits",
                                               QMessageBox.ButtonRole.DestructiveRole)
        self.hu_keep_button = box.addButton("Keep the edits", QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(self.hu_keep_button)
        box.setWindowModality(Qt.WindowModality.WindowModal)
        box.finished.connect(lambda _r, b=box: self._hu_answered(b))
        self.hu_question = box
        box.open()

    def _hu_answered(self, box: QMessageBox) -> None:
        replace = box.clickedButton() is self.hu_replace_button
        self.hu_question = None
        asked, self._asked_range = self._asked_range, None
        if replace and asked is not None:
            self.edits.reset(undoable=False)
            self.controller.remeasure(*asked)
            self.statusBar().showMessage("Edits discarded; measuring at the new HU range.")
        elif self.edits.hu_range is not None:
            self.results.set_hu_range(*self.edits.hu_range)

    # --- mask export ------------------------------------------------------------------------
    def export_mask_dialog(self) -> None:
        default = Path(self.settings.last_folder or Path.home()) / "ich_mask.nii.gz"
        path, _ = QFileDialog.getSaveFileName(self, "Export the mask", str(default),
                                              "NIfTI (*.nii.gz *.nii)")
        if path:
            self.export_mask(Path(path))

    def export_mask(self, path: Path) -> Path | None:
        """Write the shown (edited, when edited) mask as NIfTI: 1 hematoma, 2 intraventricular.
        Errors become a dialog; returns the path."""
        study = self.controller.study
        if study is None or study.reading is None or study.reading.measurement is None:
            self.show_error("Nothing to export", "Wait until the study is measured.")
            return None
        reading = study.reading

        def write() -> Path:
            from ichmodel.io.sitk_bridge import write_nifti
            from ichmodel.reading import mask_labels

            return Path(write_nifti(path, reading.volume, mask_labels(reading)))

        out = self.run_or_show("Could not export the mask", write)
        if out is None:
            return None
        self.statusBar().showMessage(f"Mask written to {out}")
        return out
