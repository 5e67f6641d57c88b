"""Which phantoms the demo pipeline uses, and at what size.

Seed ranges are disjoint from each other and from the test suite's seeds, so a phantom used to
train is never used to choose, calibrate or report. A :class:`Scale` fixes the sizes a run
does not vary from the command line (phantom matrix, model input, network depth): ``demo`` is
the shipped model's, ``tiny`` the seconds-long check that the code still runs end to end.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass
from pathlib import Path

from ichmodel.phantom import PhantomConfig
from ichmodel.preprocess import PreprocessConfig
from ichmodel.train.dataset import Case

TRAIN_SEED0 = 1_000_000
TEST_SEED0 = 2_000_000
#: Extra large-bleed phantoms (``--n-tail``): the default generator's volumes are log-normal
#: around 12 ml, so bleeds over 60 ml are rare in training and the model underestimates them.
TAIL_SEED0 = 1_100_000
TAIL_MEDIAN_ML, TAIL_SIGMA = 50.0, 0.5
#: Voxel-volume calibration phantoms (disjoint from training and test seeds).
CALIB_SEED0 = 1_200_000
#: Held-out seeds the fine-tune reports on by default (within the test range, after the
#: finalize stage's 100).
FINETUNE_EVAL_SEED0 = 2_000_100


@dataclass(frozen=True)
class Scale:
    """Sizes of one pipeline run."""

    name: str
    #: The generator's base config; large-bleed phantoms change only the volume distribution.
    phantom_config: PhantomConfig
    #: Model input of a run trained from scratch (a fine-tune keeps its start model's).
    preprocess_config: PreprocessConfig
    #: ResNet depth of a run trained from scratch (the paper's 34).
    depth: int


SCALES = {
    "demo": Scale("demo", PhantomConfig(), PreprocessConfig(), depth=34),
    # 64x64 phantoms with 5 mm slices and an 8x32x32 input: ~0.06 s a phantom on one core
    "tiny": Scale(
        "tiny",
        PhantomConfig(size=64, slice_thickness_mm=5.0),
        PreprocessConfig(output_shape=(8, 32, 32)),
        depth=10,
    ),
}


def parse_scale(text: str) -> Scale:
    """An argparse ``type``: a :data:`SCALES` name."""
    try:
        return SCALES[text]
    except KeyError:
        raise argparse.ArgumentTypeError(f"scale must be one of {sorted(SCALES)}") from None


def phantom_config(scale: Scale, *, large_bleeds: bool = False) -> PhantomConfig:
    """The generator's config for ``scale``; ``large_bleeds`` the tail (no bleed-free scans)."""
    if not large_bleeds:
        return scale.phantom_config
    return dataclasses.replace(scale.phantom_config, volume_median_ml=TAIL_MEDIAN_ML,
                               volume_sigma=TAIL_SIGMA, p_no_bleed=0.0)


def seed_range(text: str) -> range:
    """``"FIRST:N"`` -> range(FIRST, FIRST + N) (an argparse ``type``)."""
    first, sep, n = text.partition(":")
    try:
        if not sep or int(n) < 1:
            raise ValueError
        return range(int(first), int(first) + int(n))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected FIRST:N, e.g. 2000500:200") from None


def seeds_of(cases: list[Case]) -> list[int]:
    """Phantom seeds of cases named ``phantom-<seed>`` (ichmodel.train.phantom_cases)."""
    return [int(c.case_id.removeprefix("phantom-")) for c in cases]


def add_model_arguments(p: argparse.ArgumentParser, work: str, ship_help: str) -> None:
    """--work, --scale, --model, --threads, --ship and --out, as the stages that refit a
    shipped model on phantoms (calibrate, trust) take them."""
    from ichmodel.resources import demo_model_path

    p.add_argument("--work", type=Path, default=Path(work))
    p.add_argument("--scale", type=parse_scale, default=parse_scale("demo"),
                   help="phantom sizes (demo or tiny; the input size is the model's)")
    p.add_argument("--model", type=Path, default=demo_model_path())
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--ship", action="store_true", help=ship_help)
    p.add_argument("--out", type=Path, default=demo_model_path())


def open_model(a: argparse.Namespace):
    """The model, its phantom-input cache under --work and the phantom config of --scale."""
    import torch

    from ichmodel.checkpoint import load_checkpoint
    from ichmodel.train.cache import CaseCache

    torch.set_num_threads(a.threads)
    model = load_checkpoint(a.model)
    return model, CaseCache(a.work / "cache", model.preprocess_config), phantom_config(a.scale)
