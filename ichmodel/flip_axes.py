"""Test-time flip averaging of Grad-CAM: which axes, in words, and as tensor dims.

A network may put its evidence at a fixed offset from the bleed along an axis it never saw
mirrored in training (the demo model: ~15 mm front-back); the offsets of a map and of its
mirror image cancel in the average. It is an explicit choice of the caller of
:func:`ichmodel.predict.predict` (a model card may recommend axes), not part of a model.
"""

from __future__ import annotations

from collections.abc import Iterable

FLIP_AXES: tuple[str, ...] = ("z", "y", "x")
_WORDS = {"z": "head-foot", "y": "front-back", "x": "left-right"}
_DIMS = {"z": -3, "y": -2, "x": -1}


def check_flip_axes(axes: Iterable[str]) -> tuple[str, ...]:
    """Validated, de-duplicated flip axes in (z, y, x) order."""
    axes = tuple(str(a) for a in axes)
    unknown = [a for a in axes if a not in FLIP_AXES]
    if unknown:
        raise ValueError(f"cam flip axes must be among {FLIP_AXES}, got {unknown}")
    return tuple(a for a in FLIP_AXES if a in axes)


def flip_words(axes: Iterable[str]) -> str:
    """("z", "y") -> "head-foot and front-back" (for legends and reports)."""
    return " and ".join(_WORDS[a] for a in check_flip_axes(axes))


def flip_sets(axes: Iterable[str]) -> list[tuple[int, ...]]:
    """Every combination of flips over ``axes`` as tensor dims of a (B, C, z, y, x) batch,
    the identity first: ("z", "y") -> [(), (-3,), (-2,), (-3, -2)]."""
    sets: list[tuple[int, ...]] = [()]
    for axis in check_flip_axes(axes):
        sets += [tuple(sorted(s + (_DIMS[axis],))) for s in sets]
    return sets
