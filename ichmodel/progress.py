"""Typed progress events for long operations.

Long operations (load, predict, explain, train) are generators that ``yield`` :class:`Progress`
events and ``return`` their result. The same generator drives the CLI (a progress bar), the GUI
(a worker thread) and tests. Stopping the iteration (``gen.close()``) is the cancel: each
``yield`` is a cancel point.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """One step of a long operation.

    ``stage`` names the phase ("scan", "load", "preprocess", "forward", "explain", "train", ...),
    ``current``/``total`` count its steps (``total`` None when unknown), ``message`` is for humans
    and ``metrics`` carries numbers a UI may plot (losses, epoch, ETA in seconds, ...).
    """

    stage: str
    current: float = 0.0
    total: float | None = None
    message: str = ""
    metrics: Mapping[str, float] = field(default_factory=dict)

    @property
    def fraction(self) -> float | None:
        """Fraction done in [0, 1], or None when the total is unknown."""
        if not self.total:
            return None
        return max(0.0, min(1.0, self.current / self.total))


ProgressGen = Generator[Progress, None, T]


def run_to_completion(
    gen: Generator[Progress, None, T], on_progress: Callable[[Progress], Any] | None = None
) -> T:
    """Drive a progress generator to its end and return its result."""
    while True:
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if on_progress is not None:
            on_progress(event)


# --- cancellation inside a step --------------------------------------------------------------
# A ``yield`` is the cancel point between steps; a step that loops over many files (scanning a
# study, reading slices, unpacking a zip) also calls :func:`raise_if_cancelled`, so a viewer
# that runs it in a worker thread can stop it mid-step. The worker binds its job's cancel event
# to the thread with :func:`cancel_scope`; outside a scope (CLI, tests) nothing is ever raised.


class Cancelled(Exception):  # noqa: N818 - it is an outcome, not an error
    """The job this code runs for was cancelled (raised only inside a :func:`cancel_scope`)."""


_scope = threading.local()


@contextmanager
def cancel_scope(event: threading.Event) -> Iterator[None]:
    """Make :func:`raise_if_cancelled` in this thread raise once ``event`` is set."""
    previous = getattr(_scope, "event", None)
    _scope.event = event
    try:
        yield
    finally:
        _scope.event = previous


def raise_if_cancelled() -> None:
    """Raise :class:`Cancelled` when the current thread's job was cancelled."""
    event = getattr(_scope, "event", None)
    if event is not None and event.is_set():
        raise Cancelled()
