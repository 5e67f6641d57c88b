"""Notices: every warning a reading carries, with a code, a severity and where it came from.

Code that decides something filters by :attr:`Notice.code`, never by the wording of
:attr:`Notice.text` (which is for people and may change). Codes are dotted, the first part
naming the stage that raised them: ``scan.*``, ``load.*``, ``measure.*``, ``model.*``,
``preprocess.*``, ``reading.*``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How much a notice matters to the reader."""

    #: worth knowing, changes nothing (e.g. tilt corrected, volumes are right)
    INFO = "info"
    #: read the numbers with this in mind (e.g. slices skipped, an uncertain measurement)
    WARNING = "warning"
    #: a number on screen must not be used as it stands (e.g. an untrained model)
    CRITICAL = "critical"


class Source(StrEnum):
    """The stage of the reading that raised a notice."""

    SCAN = "scan"
    LOAD = "load"
    MEASURE = "measure"
    PREPROCESS = "preprocess"
    MODEL = "model"
    READING = "reading"


@dataclass(frozen=True)
class Notice:
    """One coded warning. ``code`` is stable (dotted, lower case); ``text`` one sentence."""

    code: str
    severity: Severity
    text: str
    source: Source

    def __post_init__(self) -> None:
        if not self.code or self.code != self.code.strip().lower() or " " in self.code:
            raise ValueError(f"a notice code is dotted lower case, got {self.code!r}")
        object.__setattr__(self, "severity", Severity(self.severity))
        object.__setattr__(self, "source", Source(self.source))

    def to_dict(self) -> dict[str, str]:
        return {
            "code": self.code,
            "severity": self.severity.value,
            "source": self.source.value,
            "text": self.text,
        }

    def __str__(self) -> str:
        return self.text


def info(code: str, text: str, source: Source) -> Notice:
    return Notice(code, Severity.INFO, text, source)


def warning(code: str, text: str, source: Source) -> Notice:
    return Notice(code, Severity.WARNING, text, source)


def critical(code: str, text: str, source: Source) -> Notice:
    return Notice(code, Severity.CRITICAL, text, source)


def unique(notices: Iterable[Notice]) -> tuple[Notice, ...]:
    """The notices in order, each (code, text) once: a volume's notices reach the reading
    through the measurement and the prediction too."""
    seen: set[tuple[str, str]] = set()
    out: list[Notice] = []
    for n in notices:
        key = (n.code, n.text)
        if key not in seen:
            seen.add(key)
            out.append(n)
    return tuple(out)


def texts(notices: Iterable[Notice]) -> tuple[str, ...]:
    """The notices' sentences (for plain-text output)."""
    return tuple(n.text for n in notices)
