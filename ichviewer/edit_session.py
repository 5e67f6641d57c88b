"""The reader's segmentation edits of the open study, on the GUI thread.

:class:`EditController` holds the :class:`ichmodel.edits.EditSession` of the current automatic
measurement: each edit runs synchronously (a few tens of ms on a 512² x 40 study, see
``bench/gui.py``), the edited measurement goes to the study controller
(``StudyController.show_measurement``: the results panel, the contour and the report follow),
and the record is saved at once (:class:`~ichviewer.edit_store.EditStore`). A saved record of
the series is restored when its automatic measurement at the record's HU range arrives.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QObject, QTimer, Signal

from ichmodel.edits.record import EditError, EditRecord
from ichviewer.edit_store import EditStore

if TYPE_CHECKING:  # the session (scipy, the measurement) loads with the first measurement
    from ichmodel.edits import Edit, EditSession
    from ichmodel.measure import Measurement
    from ichmodel.reading import StudyReading
    from ichviewer.controller import StudyController


class EditController(QObject):
    """Signals: ``sig_state()`` when edits, undo/redo or the session changed;
    ``sig_message(str)`` a sentence for the status bar (an edit refused, edits restored);
    ``sig_hu_range(low, high)`` the HU range saved edits are being restored at."""

    sig_state = Signal()
    sig_message = Signal(str)
    sig_hu_range = Signal(float, float)  # saved edits will be restored at this range

    def __init__(self, study: StudyController, store: EditStore, parent=None) -> None:
        super().__init__(parent)
        self.study = study
        self.store = store
        self.session: EditSession | None = None
        self._pending: EditRecord | None = None  # saved edits waiting for their measurement
        self.restored = False  # the session's edits came from the store
        self._unsaved: EditRecord | None = None
        # "Reset to automatic" is undoable: the edited session it replaced, and whether an
        # undo brought it back (then redo resets again)
        self._before_reset: EditSession | None = None
        self._reset_undone = False
        if parent is not None:
            parent.installEventFilter(self)  # the window closing saves the last edit
        study.sig_volume.connect(self._on_volume)
        study.sig_measurement.connect(self._on_measurement)
        study.sig_study_opened.connect(lambda _s: self._clear())

    # --- state ------------------------------------------------------------------------------
    @property
    def edited(self) -> bool:
        return self.session is not None and self.session.edited

    @property
    def can_undo(self) -> bool:
        return self.session is not None and (self.session.can_undo
                                             or self._before_reset is not None)

    @property
    def can_redo(self) -> bool:
        return self.session is not None and (self.session.can_redo or self._reset_undone)

    @property
    def measurement(self) -> Measurement | None:
        return None if self.session is None else self.session.measurement

    @property
    def hu_range(self) -> tuple[float, float] | None:
        return None if self.session is None else self.session.hu_range

    def _clear(self) -> None:
        self.flush()
        self.session, self._pending, self.restored = None, None, False
        self._before_reset, self._reset_undone = None, False
        self.sig_state.emit()

    def _on_volume(self, reading: StudyReading) -> None:
        """A new series: its saved edits (if any) wait for the measurement at their range."""
        self._clear()
        record = self.store.load(reading.volume.meta.series_uid)
        if record is not None and tuple(record.shape_zyx) == reading.volume.shape:
            self._pending = record
            lo, hi = record.hu_range
            self.study.hu_range = (float(lo), float(hi))  # measured at the edits' range
            self.sig_hu_range.emit(float(lo), float(hi))

    def _on_measurement(self, reading: StudyReading) -> None:
        m = reading.measurement
        if m is None or (self.session is not None and m is self.session.measurement):
            return  # our own edited measurement coming back
        # after the window has shown the numbers (and the study marked its results): the
        # session's first pass over the components is not the reader's wait
        QTimer.singleShot(0, lambda: self._start_session(reading))

    def _start_session(self, reading: StudyReading) -> None:
        current = self.study.study
        if current is None or current.reading is None or current.reading.measurement is not (
                reading.measurement):
            return  # a newer measurement (or study) came meanwhile
        m = reading.measurement
        assert m is not None
        context = self.study.measure_context()
        if context is None or context.volume is not reading.volume:
            self.session = None  # no real measurement to edit (or not ours)
            self.sig_state.emit()
            return
        from ichmodel.edits.session import EditSession, apply_edits

        uid = reading.volume.meta.series_uid
        self._before_reset, self._reset_undone = None, False  # another automatic measurement
        try:
            self.session = EditSession(context, m, uid)
        except EditError as exc:
            self.session = None
            self.sig_message.emit(f"Editing is not possible here: {exc}")
            self.sig_state.emit()
            return
        self.restored = False
        pending, self._pending = self._pending, None
        if pending is not None and tuple(pending.hu_range) == self.session.hu_range:
            self.session = apply_edits(context, m, pending)
            self.restored = True
            n = len(self.session.record.edits)
            note = f"Restored your {n} saved edit{'s' if n != 1 else ''} of this series"
            if self.session.skipped:
                note += f" ({len(self.session.skipped)} could not be applied)"
            self.sig_message.emit(note + "; Segmentation ▸ Reset to automatic discards them.")
            self.study.show_measurement(self.session.measurement)
        self.sig_state.emit()

    # --- editing ----------------------------------------------------------------------------
    def apply(self, edit: Edit) -> Measurement | None:
        """Make an edit now; a refused one becomes a status-bar sentence, never a dialog."""
        if self.session is None:
            self.sig_message.emit("Wait for the measurement before editing the segmentation.")
            return None
        ivh_before_ml = self.session.measurement.ivh_volume_ml
        try:
            m = self.session.apply(edit)
        except EditError as exc:
            self.sig_message.emit(f"{edit.kind.capitalize()}: {exc}")
            return None
        self._reset_undone = False  # a new edit: redo has nothing to reset any more
        self._publish(m)
        delta = self.session.record.edits[-1].delta_ml
        text = f"{edit.kind.capitalize()}: {delta:+.2f} ml → {m.hematoma_volume_ml:.2f} ml"
        if abs(m.ivh_volume_ml - ivh_before_ml) >= 0.005:  # e.g. blood painted in a ventricle
            text += f"; IVH {ivh_before_ml:.2f} → {m.ivh_volume_ml:.2f} ml"
        self.sig_message.emit(text)
        return m

    def undo(self) -> None:
        if self.session is None:
            return
        if self.session.can_undo:
            self._publish(self.session.undo())
        elif self._before_reset is not None:  # the last thing done was the reset
            self.session, self._before_reset = self._before_reset, None
            self._reset_undone = True
            n = len(self.session.record.edits)
            self._publish(self.session.measurement)
            self.sig_message.emit(f"Reset undone: your {n} edit{'s' if n != 1 else ''} "
                                  "are back (and saved again).")

    def redo(self) -> None:
        if self.session is None:
            return
        if self.session.can_redo:
            self._publish(self.session.redo())
        elif self._reset_undone:
            self.reset()

    def reset(self, *, undoable: bool = True) -> None:
        """Back to the automatic segmentation; the saved record is removed. Ctrl+Z brings the
        edits back unless ``undoable`` is False (a new HU range replaces them for good)."""
        if self.session is None:
            return
        from ichmodel.edits.session import EditSession

        s = self.session
        self.session = EditSession(s.context, s.automatic, s.record.series_uid)
        self._before_reset = s if s.edited and undoable else None
        s.forget_redo()  # the reset is the newest action: redo after undoing it resets again
        self._reset_undone = False
        self._unsaved = None
        self.store.discard(s.record.series_uid)
        self.restored = False
        self.study.show_measurement(self.session.measurement)
        back = " (Ctrl+Z brings them back)" if self._before_reset is not None else ""
        self.sig_message.emit(f"Segmentation reset to the automatic one; saved edits "
                              f"discarded{back}.")
        self.sig_state.emit()

    def _publish(self, m: Measurement) -> None:
        assert self.session is not None
        self.study.show_measurement(m)
        self.sig_state.emit()
        # saved right after the numbers are on screen (the file write is not in the latency);
        # a new study or closing the window saves at once (see flush)
        self._unsaved = self.session.record
        QTimer.singleShot(0, self.flush)

    def flush(self) -> None:
        """Write the edits not saved yet."""
        record, self._unsaved = self._unsaved, None
        if record is not None:
            self.store.save(record)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 (Qt override)
        if event.type() == QEvent.Type.Close:
            self.flush()
        return False
