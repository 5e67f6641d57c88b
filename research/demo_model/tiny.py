"""``python -m research.demo_model tiny``: the whole pipeline at toy size, in seconds.

The same commands the shipped demo was made with (train's data/train/choose/finalize stages,
then finetune and calibrate, each shipping to the next), on a handful of 64x64 phantoms with a
depth-10, width-4 network, one epoch each. It checks that the research code still runs
against the library (``make research-demo-tiny``, tests/model/test_research_demo.py); its
numbers mean nothing.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

#: Held-out seeds every tiny stage reports on (a few, to keep the pointing game short).
_EVAL = "2000000:3"


HELP = "every stage at toy size, in seconds (a check that the code runs)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work", type=Path, default=Path("/tmp/ich_demo_tiny"))


def commands(work: Path) -> list[list[str]]:
    """The argument lists of the chain, in order (each ships its model to the next)."""
    train = ["train", "--scale", "tiny", "--work", str(work / "train"), "--n-train", "10",
             "--n-tail", "2", "--n-test", "3", "--width", "4", "--epochs", "1",
             "--batch-size", "4", "--warmup-steps", "1", "--checkpoint-every", "0",
             "--device", "cpu", "--threads", "1", "--out", str(work / "demo.safetensors")]
    return [
        [*train, "--stage", "train"],
        [*train, "--stage", "choose"],
        [*train, "--stage", "finalize", "--cam-flips", "z,y"],
        [*train, "--stage", "pointing"],
        ["finetune", "--scale", "tiny", "--work", str(work / "finetune"),
         "--start", str(work / "demo.safetensors"), "--n-train", "8", "--n-tail", "2",
         "--n-no-bleed", "1", "--no-bleed-seed0", "5200000",
         "--n-subdural", "1", "--subdural-seed0", "5300000",
         "--epochs", "1", "--batch-size", "4", "--localization-weight", "0.5",
         "--eval-seeds", _EVAL, "--eval-start", "--threads", "1",
         # fp32: bf16 backward on this CPU gives non-finite gradients at this size (every
         # step was skipped)
         "--precision", "fp32",
         "--ship", "--out", str(work / "finetuned.safetensors")],
        ["calibrate", "--scale", "tiny", "--work", str(work / "calibrate"),
         "--model", str(work / "finetuned.safetensors"), "--calib-seeds", "1200000:14",
         "--eval-seeds", _EVAL, "--threads", "1",
         "--ship", "--out", str(work / "calibrated.safetensors")],
    ]


def run_chain(work: Path, main: Callable[[list[str]], int]) -> int:
    """Run :func:`commands` through ``main`` (the package's CLI), stopping at a failure."""
    for argv in commands(work):
        rc = main(argv)
        if rc:
            return rc
    return 0
