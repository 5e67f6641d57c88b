"""Progress of long library generators, as log lines (these commands run for hours in the
background, so a line every ``every_s`` seconds, not a bar)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ichmodel.progress import Progress

log = logging.getLogger("research.demo_model")


def progress_logger(every_s: float = 30.0) -> Callable[[Progress], None]:
    """A ``run_to_completion`` callback: every validation, every ``every_s`` and the end."""
    last = [0.0]

    def show(event: Progress) -> None:
        now = time.time()
        if event.stage == "validate" or now - last[0] > every_s or event.current == event.total:
            last[0] = now
            metrics = {k: round(v, 4) for k, v in event.metrics.items()}
            log.info("%s %s/%s %s %s", event.stage, event.current, event.total, event.message,
                     metrics)

    return show


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
