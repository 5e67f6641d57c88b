"""The reader's edits of the hematoma segmentation: exclude/include a hematoma, grow one from a
seed, paint and erase with a round brush; undo/redo; a typed JSON record; the measurement
re-derived from the edited mask. No Qt: the viewer and ``ichmodel measure --edits`` share it.

::

    from ichmodel.edits import EditSession, ComponentEdit, apply_edits, load_record

    ctx = prepare(volume); auto = ctx.measure(params)
    session = EditSession(ctx, auto, volume.meta.series_uid)
    m = session.apply(ComponentEdit("exclude", (20, 201, 330)))   # a normal Measurement
    session.record.save("edits.json")
    m = apply_edits(ctx, auto, load_record("edits.json")).measurement   # headless replay

Names are imported on first use: the viewer's window imports the record types before scipy
and the measurement have loaded (they load in its workers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ichmodel.lazy_names import lazy_getattr

_LAZY = {
    "EDITED_CODE": "ichmodel.edits.assemble",
    "SKIPPED_CODE": "ichmodel.edits.assemble",
    "SCHEMA": "ichmodel.edits.record",
    "BrushEdit": "ichmodel.edits.record",
    "ComponentEdit": "ichmodel.edits.record",
    "Edit": "ichmodel.edits.record",
    "EditRecord": "ichmodel.edits.record",
    "EditRecordError": "ichmodel.edits.record",
    "GrowEdit": "ichmodel.edits.record",
    "load_record": "ichmodel.edits.record",
    "record_from_dict": "ichmodel.edits.record",
    "DEFAULT_GROW_MAX_ML": "ichmodel.edits.regions",
    "DEFAULT_GROW_RADIUS_MM": "ichmodel.edits.regions",
    "EditError": "ichmodel.edits.record",
    "GrowLeakError": "ichmodel.edits.regions",
    "EditSession": "ichmodel.edits.session",
    "apply_edits": "ichmodel.edits.session",
    "measure_with_edits": "ichmodel.edits.session",
}

__all__ = [
    "DEFAULT_GROW_MAX_ML",
    "DEFAULT_GROW_RADIUS_MM",
    "EDITED_CODE",
    "SCHEMA",
    "SKIPPED_CODE",
    "BrushEdit",
    "ComponentEdit",
    "Edit",
    "EditError",
    "EditRecord",
    "EditRecordError",
    "EditSession",
    "GrowEdit",
    "GrowLeakError",
    "apply_edits",
    "load_record",
    "measure_with_edits",
    "record_from_dict",
]

if TYPE_CHECKING:
    from ichmodel.edits.assemble import EDITED_CODE, SKIPPED_CODE
    from ichmodel.edits.record import (
        SCHEMA,
        BrushEdit,
        ComponentEdit,
        Edit,
        EditError,
        EditRecord,
        EditRecordError,
        GrowEdit,
        load_record,
        record_from_dict,
    )
    from ichmodel.edits.regions import (
        DEFAULT_GROW_MAX_ML,
        DEFAULT_GROW_RADIUS_MM,
        GrowLeakError,
    )
    from ichmodel.edits.session import EditSession, apply_edits, measure_with_edits


__getattr__ = lazy_getattr(__name__, _LAZY)
