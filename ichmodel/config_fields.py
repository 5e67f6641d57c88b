"""Dataclass configurations read back from JSON (checkpoints, run files)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from typing import Any


def config_kwargs(cls: type, data: Mapping[str, Any], *, tuples: tuple[str, ...] = ()) -> dict:
    """``data`` as keyword arguments of the dataclass ``cls``: JSON lists back to tuples for
    the fields named in ``tuples``; ValueError naming any key ``cls`` does not have (a file
    written by a newer version, or a typo), instead of a TypeError deep in ``__init__``."""
    unknown = set(data) - {f.name for f in fields(cls)}
    if unknown:
        raise ValueError(f"unknown {cls.__name__} fields {sorted(unknown)}")
    kwargs = dict(data)
    for key in tuples:
        if isinstance(kwargs.get(key), list):
            kwargs[key] = tuple(kwargs[key])
    return kwargs
