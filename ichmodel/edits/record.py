"""The reader's edits of a segmentation as an explicit, typed, JSON-serialisable record.

An :class:`EditRecord` belongs to one series (its SeriesInstanceUID and grid shape) and the HU
range the automatic segmentation was made at; its ``edits`` are applied in order by
:func:`ichmodel.edits.apply_edits`. Every edit says what it did, where (voxel indices of the
Volume grid, (z, y, x), pixel centres at integers) and by how many ml it changed the
planimetric (partial-volume) hematoma volume when it was made (``delta_ml``).

Components are named by a voxel inside them, never by their number: numbers follow size and
change as other edits change sizes, a voxel does not.

JSON (``schema`` :data:`SCHEMA`, ``version`` :data:`VERSION`)::

    {"schema": "ichviewer.segmentation-edits", "version": 1, "series_uid": "1.2...",
     "shape_zyx": [40, 512, 512], "hu_range": [50.0, 90.0],
     "edits": [{"kind": "exclude", "voxel_zyx": [20, 201, 330], "delta_ml": -4.12}, ...]}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from ichmodel.errors import InputError

SCHEMA = "ichviewer.segmentation-edits"
VERSION = 1

Voxel = tuple[int, int, int]


class EditRecordError(InputError):
    """An edit record that cannot be used: malformed, another series, another grid."""


class EditError(InputError):
    """An edit that cannot be made here (no hematoma under the click, a seed outside the HU
    range, a region that leaks); the message says what to do instead."""


@dataclass(frozen=True)
class ComponentEdit:
    """Exclude a hematoma from the volume, or include an excluded one again; the hematoma is
    the one holding ``voxel_zyx``."""

    kind: Literal["exclude", "include"]
    voxel_zyx: Voxel
    delta_ml: float = 0.0


@dataclass(frozen=True)
class GrowEdit:
    """A region grown from ``seed_zyx`` within the record's HU range (see
    :mod:`ichmodel.edits.grow`), added as its own hematoma. ``grown_ml`` its volume."""

    seed_zyx: Voxel
    max_radius_mm: float
    max_volume_ml: float
    delta_ml: float = 0.0
    kind: Literal["grow"] = "grow"


@dataclass(frozen=True)
class BrushEdit:
    """A round-brush stroke on slice ``slice_index``: ``points_yx`` are the brush centres
    (fractional voxel indices, in-plane), ``radius_mm`` its radius, ``slice_span`` how many
    slices it reaches (1: this slice; 3: one above and below; centred on ``slice_index``)."""

    kind: Literal["paint", "erase"]
    slice_index: int
    points_yx: tuple[tuple[float, float], ...]
    radius_mm: float
    slice_span: int = 1
    delta_ml: float = 0.0

    @property
    def slices(self) -> range:
        lo = self.slice_index - (self.slice_span - 1) // 2
        return range(lo, lo + self.slice_span)


Edit = ComponentEdit | GrowEdit | BrushEdit


@dataclass(frozen=True)
class EditRecord:
    """All edits of one series' segmentation, in the order they were made."""

    series_uid: str
    shape_zyx: Voxel
    hu_range: tuple[float, float]
    edits: tuple[Edit, ...] = ()
    version: int = VERSION

    def with_edit(self, edit: Edit) -> EditRecord:
        return replace(self, edits=self.edits + (edit,))

    def truncated(self, n: int) -> EditRecord:
        """The first ``n`` edits (undo)."""
        return replace(self, edits=self.edits[:n])

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "version": self.version,
            "series_uid": self.series_uid,
            "shape_zyx": list(self.shape_zyx),
            "hu_range": [float(v) for v in self.hu_range],
            "edits": [_edit_to_dict(e) for e in self.edits],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_json(), encoding="utf-8")
        return path

    def check_series(self, series_uid: str, shape_zyx: tuple[int, ...]) -> None:
        """Raise :class:`EditRecordError` unless the record belongs to this series and grid."""
        if self.series_uid != series_uid:
            raise EditRecordError(
                f"the edit record belongs to series {self.series_uid!r}, not to the series "
                f"loaded ({series_uid!r}); pass the study the edits were made on, or --series"
            )
        if tuple(self.shape_zyx) != tuple(shape_zyx):
            raise EditRecordError(
                f"the edit record was made on a {tuple(self.shape_zyx)} grid, the loaded series "
                f"is {tuple(shape_zyx)}: the same series loaded differently cannot take its edits"
            )


def _edit_to_dict(edit: Edit) -> dict[str, Any]:
    if isinstance(edit, ComponentEdit):
        return {"kind": edit.kind, "voxel_zyx": list(edit.voxel_zyx),
                "delta_ml": round(edit.delta_ml, 4)}
    if isinstance(edit, GrowEdit):
        return {"kind": "grow", "seed_zyx": list(edit.seed_zyx),
                "max_radius_mm": edit.max_radius_mm, "max_volume_ml": edit.max_volume_ml,
                "delta_ml": round(edit.delta_ml, 4)}
    return {"kind": edit.kind, "slice_index": edit.slice_index,
            "points_yx": [[round(y, 3), round(x, 3)] for y, x in edit.points_yx],
            "radius_mm": edit.radius_mm, "slice_span": edit.slice_span,
            "delta_ml": round(edit.delta_ml, 4)}


# --- reading ------------------------------------------------------------------------------
def load_record(path: str | Path) -> EditRecord:
    """Read a record from a JSON file; :class:`EditRecordError` says what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EditRecordError(f"cannot read the edit record {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise EditRecordError(f"{path} is not JSON ({exc}); it is not an edit record") from exc
    return record_from_dict(data, where=str(path))


def record_from_dict(data: object, where: str = "the edit record") -> EditRecord:
    if not isinstance(data, dict) or data.get("schema") != SCHEMA:
        raise EditRecordError(f"{where} is not a segmentation edit record (schema {SCHEMA!r})")
    version = data.get("version")
    if version != VERSION:
        raise EditRecordError(
            f"{where} has version {version!r}; this ICH Viewer reads version {VERSION}"
        )
    uid = data.get("series_uid")
    if not isinstance(uid, str) or not uid:
        raise EditRecordError(f"{where} names no series_uid")
    shape = _ints(data.get("shape_zyx"), 3, where, "shape_zyx")
    hu = _numbers(data.get("hu_range"), 2, where, "hu_range")
    if not hu[0] < hu[1]:
        raise EditRecordError(f"{where}: hu_range {hu} must rise")
    edits = data.get("edits")
    if not isinstance(edits, list):
        raise EditRecordError(f"{where}: 'edits' must be a list")
    parsed = tuple(_edit_from_dict(e, f"{where}, edit {i + 1}") for i, e in enumerate(edits))
    return EditRecord(uid, shape, (hu[0], hu[1]), parsed)  # type: ignore[arg-type]


def _edit_from_dict(d: object, where: str) -> Edit:
    if not isinstance(d, dict):
        raise EditRecordError(f"{where} is not an object")
    kind = d.get("kind")
    delta = _number(d.get("delta_ml", 0.0), where, "delta_ml")
    if kind in ("exclude", "include"):
        return ComponentEdit(kind, _ints(d.get("voxel_zyx"), 3, where, "voxel_zyx"), delta)  # type: ignore[arg-type]
    if kind == "grow":
        return GrowEdit(
            _ints(d.get("seed_zyx"), 3, where, "seed_zyx"),  # type: ignore[arg-type]
            _positive(d.get("max_radius_mm"), where, "max_radius_mm"),
            _positive(d.get("max_volume_ml"), where, "max_volume_ml"),
            delta,
        )
    if kind in ("paint", "erase"):
        points = d.get("points_yx")
        if not isinstance(points, list) or not points:
            raise EditRecordError(f"{where}: points_yx must be a non-empty list of [y, x]")
        yx = tuple(tuple(_numbers(p, 2, where, "points_yx")) for p in points)
        span = d.get("slice_span", 1)
        if not isinstance(span, int) or isinstance(span, bool) or span < 1:
            raise EditRecordError(f"{where}: slice_span must be a whole number >= 1")
        z = d.get("slice_index")
        if not isinstance(z, int) or isinstance(z, bool):
            raise EditRecordError(f"{where}: slice_index must be a whole number")
        return BrushEdit(kind, z, yx, _positive(d.get("radius_mm"), where, "radius_mm"),  # type: ignore[arg-type]
                         span, delta)
    raise EditRecordError(
        f"{where}: unknown kind {kind!r} (exclude, include, grow, paint or erase)"
    )


def _number(v: object, where: str, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise EditRecordError(f"{where}: {name} must be a finite number, got {v!r}")
    return float(v)


def _positive(v: object, where: str, name: str) -> float:
    value = _number(v, where, name)
    if value <= 0:
        raise EditRecordError(f"{where}: {name} must be positive, got {value:g}")
    return value


def _numbers(v: object, n: int, where: str, name: str) -> tuple[float, ...]:
    if not isinstance(v, list | tuple) or len(v) != n:
        raise EditRecordError(f"{where}: {name} must be a list of {n} numbers, got {v!r}")
    return tuple(_number(x, where, name) for x in v)


def _ints(v: object, n: int, where: str, name: str) -> tuple[int, ...]:
    if (not isinstance(v, list | tuple) or len(v) != n
            or not all(isinstance(x, int) and not isinstance(x, bool) for x in v)):
        raise EditRecordError(f"{where}: {name} must be a list of {n} whole numbers, got {v!r}")
    return tuple(int(x) for x in v)
