"""``python -m research.demo_model finetune``: continue a model with the localization term.

The demo model's volume-head Grad-CAM already picked a layer4 cell that holds blood for almost
every bleed, but that cell's *centre* (where an upsampled map peaks) often missed a small
bleed. This continues from ``--start`` on phantoms cached with their hematoma masks (seeds of
the demo's own training set), with ``MSE(size) + λ·CE(outcome) + μ·localization``
(``TrainConfig.localization_loss_weight`` is μ), keeps the last checkpoint, plain or with
BatchNorm recalibrated (whichever has the lower validation MAE), and measures MAE/AUC and the
pointing game on held-out seeds. It writes the model to ``--out`` only with ``--ship``; the
written card is still the start model's (amend its text with what this run measured).

``--phantom-version`` picks the generator (6: skull base, falx/tentorium, sinuses, streaks,
calcifications, subdural crescents); ``--n-no-bleed`` and ``--n-subdural`` add bleed-free heads
and subdural negatives (extra-axial blood, ICH label 0 ml) on their own seeds; ``--workers``
makes the phantoms in that many processes; ``--deadline`` stops training at a UTC time (the
state is saved and the last *completed* epoch's checkpoint is used), so a run on a shared CPU
ends when it must.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import json
import logging
import time
from pathlib import Path

from ichmodel.phantom.config import PHANTOM_VERSIONS, PhantomConfig
from ichmodel.resources import demo_model_path
from research.demo_model.logs import configure_logging, progress_logger
from research.demo_model.scale import (
    FINETUNE_EVAL_SEED0,
    TAIL_SEED0,
    TRAIN_SEED0,
    parse_scale,
    phantom_config,
    seed_range,
)

log = logging.getLogger(__name__)
DEMO = demo_model_path()


HELP = "continue a model with the localization term"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--work", type=Path, default=Path("/tmp/ich_localize"))
    p.add_argument("--scale", type=parse_scale, default=parse_scale("demo"),
                   help="phantom sizes (demo or tiny; the input size is the start model's)")
    p.add_argument("--start", type=Path, default=DEMO, help="model to continue from")
    p.add_argument("--n-train", type=int, default=500, help="phantoms of the default generator")
    p.add_argument("--n-tail", type=int, default=100, help="large-bleed phantoms")
    p.add_argument("--train-seed0", type=int, default=TRAIN_SEED0)
    p.add_argument("--tail-seed0", type=int, default=TAIL_SEED0)
    p.add_argument("--n-no-bleed", type=int, default=0,
                   help="extra bleed-free heads (seeds from --no-bleed-seed0)")
    p.add_argument("--no-bleed-seed0", type=int, default=None)
    p.add_argument("--n-subdural", type=int, default=0,
                   help="extra subdural negatives, no ICH (seeds from --subdural-seed0)")
    p.add_argument("--subdural-seed0", type=int, default=None)
    p.add_argument("--phantom-version", choices=PHANTOM_VERSIONS, default="6")
    p.add_argument("--workers", type=int, default=1, help="processes making phantoms")
    p.add_argument("--deadline", type=_utc_time, default=None,
                   help="HH:MM (UTC, next such time): stop training then, keep the last epoch")
    p.add_argument("--skip-eval", action="store_true", help="no held-out report at the end")
    p.add_argument("--choose", type=_checkpoint_names, default=("last",),
                   help="checkpoints the result is chosen from by validation MAE, plain or with "
                   "BatchNorm re-estimated: last (default: the schedule ends at lr 0), best (the "
                   "lowest validation loss) or best,last")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--localization-weight", type=float, default=0.5)
    p.add_argument("--eval-seeds", type=seed_range, action="append", default=None,
                   help=f"FIRST:N held-out phantoms to report on (repeatable; default "
                   f"{FINETUNE_EVAL_SEED0}:100)")
    p.add_argument("--eval-start", action="store_true", help="also measure the start model")
    p.add_argument("--seed", type=int, default=3, help="split and augmentation seed")
    p.add_argument("--freeze-encoder", action="store_true",
                   help="train the heads only (BatchNorm statistics stay)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"),
                   help="auto (the shipped fine-tune's: bf16 where the CPU has it)")
    p.add_argument("--run", default="run", help="run folder under --work (existing = resume)")
    p.add_argument("--ship", action="store_true", help="write the result to --out")
    p.add_argument("--out", type=Path, default=DEMO)


def _checkpoint_names(text: str) -> tuple[str, ...]:
    """``"best,last"`` -> ("best", "last") (an argparse ``type``)."""
    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if not names or any(n not in ("best", "last") for n in names):
        raise argparse.ArgumentTypeError(f"--choose takes best, last or best,last, got {text!r}")
    return names


def run(a: argparse.Namespace) -> int:
    configure_logging()
    import torch

    from ichmodel.checkpoint import load_checkpoint, save_checkpoint
    from ichmodel.model_card import Provenance
    from ichmodel.train.cache import CaseCache
    from ichmodel.train.config import TrainConfig
    from ichmodel.train.loop import train
    from ichmodel.train.run_files import StartModel, TrainData
    from research.demo_model.choose import choose_checkpoint
    from research.demo_model.measure import measure

    torch.set_num_threads(a.threads)
    base = load_checkpoint(a.start)
    if not base.provenance.is_synthetic_or_untrained:
        raise SystemExit(f"--start {a.start} has provenance {base.provenance.value}: this "
                         "fine-tune trains on phantoms and records 'synthetic'")
    cache = CaseCache(a.work / "cache", base.preprocess_config)
    t = time.time()
    groups = _phantom_groups(a)
    cases = []
    for seeds, phantoms in groups.values():
        cases += _cache_with_masks(a.work, cache, seeds, phantoms, a.workers)
    log.info("data: %d phantoms (v%s) with masks in %.0f s", len(cases), a.phantom_version,
             time.time() - t)

    config = TrainConfig(
        epochs=a.epochs, batch_size=a.batch_size, optimizer="adamw", lr=a.lr, weight_decay=1e-4,
        warmup_steps=10, schedule="cosine", outcome_loss_weight=5.0,
        val_fraction=0.1, seed=a.seed, device="cpu", threads=a.threads, precision=a.precision,
        grad_clip_norm=10.0, checkpoint_every_steps=20,
        localization_loss_weight=a.localization_weight, freeze_encoder=a.freeze_encoder,
    )
    start = StartModel(copy.deepcopy(base.net).float(), base.net_config, base.preprocess_config,
                       f"{base.name} {base.sha256[:12]}",
                       cam_flip_axes=base.card.recommended_cam_flip_axes,
                       label_transform=base.label_transform, provenance=Provenance.SYNTHETIC)
    description = {f"{name}_phantom_seeds": [seeds.start, seeds.stop - 1]
                   for name, (seeds, _) in groups.items() if seeds}
    data = TrainData(cache, tuple(cases), description={
        **description, "phantom_version": a.phantom_version, "hematoma_masks": True,
        "scale": a.scale.name})
    run_dir = a.work / a.run
    resume = (run_dir / "checkpoints" / "state.safetensors").is_file()
    result = _train_until(train(data, start, run_dir, config, resume=resume), a.deadline)
    if result is None:  # stopped at the deadline: the last completed epoch's checkpoint
        if not (run_dir / "checkpoints" / "last.safetensors").is_file():
            raise SystemExit(f"deadline {a.deadline} reached before the first epoch ended")
        log.info("fine-tune: stopped at the deadline %s", a.deadline)
        steps, elapsed_s = _last_epoch(run_dir)
    else:
        steps, elapsed_s = result.steps, result.elapsed_s
        log.info("fine-tune: %s after %d steps in %.0f s", result.stopped, result.steps,
                 result.elapsed_s)
    # --choose's checkpoints, plain or with recalibrated BatchNorm, by validation MAE
    tuned, choice = choose_checkpoint(run_dir, cache, cases, device="cpu",
                                      batch_size=a.batch_size, checkpoints=a.choose)
    report = {"run": str(run_dir), "steps": steps, "elapsed_s": elapsed_s,
              "stopped_at_deadline": result is None,
              "val_candidates": choice.val_candidates, "config": config.to_dict(),
              "eval": []}
    models = [("start", base), ("tuned", tuned)] if a.eval_start else [("tuned", tuned)]
    eval_seeds = a.eval_seeds or [range(FINETUNE_EVAL_SEED0, FINETUNE_EVAL_SEED0 + 100)]
    for seeds in [] if a.skip_eval else eval_seeds:
        for name, model in models:
            r = measure(model, cache, seeds, groups["default"][1])
            log.info("%s on %s: %s", name, seeds, r)
            report["eval"].append({"model": name, **r})
    (a.work / f"{a.run}_report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report["eval"]))
    if a.ship:
        training = dict(base.training or {})
        key = "v6_finetune" if a.phantom_version == "6" else "localization_finetune"
        training[key] = {
            "from_sha256": base.sha256, "config": config.to_dict(), "steps": steps,
            "stopped_at_deadline": result is None,
            "data": data.description, "bn_recalibrated": choice.bn_recalibrated,
            "checkpoint": choice.checkpoint, "val_candidates": choice.val_candidates,
            "device": "cpu", "threads": a.threads,
            "script": "python -m research.demo_model finetune"}
        save_checkpoint(a.out, tuned.net, net_config=tuned.net_config,
                        preprocess_config=tuned.preprocess_config, card=base.card,
                        training=training, metrics=base.metrics, dtype="float16",
                        label_transform=tuned.label_transform)
        log.info("wrote %s (card and metrics still the start model's: amend them)", a.out)
    return 0


def _utc_time(text: str) -> dt.datetime:
    """``HH:MM`` -> the next such time in UTC (an argparse ``type``)."""
    try:
        clock = dt.datetime.strptime(text, "%H:%M").time()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected HH:MM (UTC), e.g. 02:40") from None
    now = dt.datetime.now(dt.UTC)
    at = now.replace(hour=clock.hour, minute=clock.minute, second=0, microsecond=0)
    return at if at > now else at + dt.timedelta(days=1)


def _phantom_groups(a: argparse.Namespace) -> dict[str, tuple[range, PhantomConfig]]:
    """Training phantoms by kind: seeds and generator config of each."""
    base = dataclasses.replace(phantom_config(a.scale), version=a.phantom_version)
    tail = dataclasses.replace(phantom_config(a.scale, large_bleeds=True),
                               version=a.phantom_version)
    none = dataclasses.replace(base, site="none")
    if a.n_subdural and a.phantom_version != "6":
        raise SystemExit("--n-subdural needs --phantom-version 6 (v5 has no subdural crescent)")
    for n, seed0, flag in ((a.n_no_bleed, a.no_bleed_seed0, "--no-bleed-seed0"),
                           (a.n_subdural, a.subdural_seed0, "--subdural-seed0")):
        if n and seed0 is None:
            raise SystemExit(f"give {flag} with its count: the extra phantoms need their own seeds")
    return {
        "default": (range(a.train_seed0, a.train_seed0 + a.n_train), base),
        "large_bleed": (range(a.tail_seed0, a.tail_seed0 + a.n_tail), tail),
        "no_bleed": (range(a.no_bleed_seed0 or 0, (a.no_bleed_seed0 or 0) + a.n_no_bleed), none),
        "subdural_negative": (range(a.subdural_seed0 or 0,
                                    (a.subdural_seed0 or 0) + a.n_subdural),
                              dataclasses.replace(none, subdural=True)),
    }


def _cache_chunk(work: str, preprocess_config, seeds: list[int], phantoms) -> list[dict]:
    """Worker process: one chunk of phantoms cached with their masks (one torch thread)."""
    import torch

    from ichmodel.progress import run_to_completion
    from ichmodel.train.cache import CaseCache
    from ichmodel.train.phantom_cases import cache_phantoms

    torch.set_num_threads(1)
    cache = CaseCache(Path(work) / "cache", preprocess_config)
    done = run_to_completion(cache_phantoms(seeds, cache, phantoms, with_hematoma=True))
    return [dataclasses.asdict(c) for c in done]


def _cache_with_masks(work: Path, cache, seeds: range, phantoms: PhantomConfig,
                      workers: int) -> list:
    """Cases of ``seeds`` cached with masks (made where missing), in ``workers`` processes."""
    from ichmodel.progress import run_to_completion
    from ichmodel.train.dataset import Case
    from ichmodel.train.phantom_cases import cache_phantoms

    if not seeds:
        return []
    if workers <= 1:
        return run_to_completion(cache_phantoms(seeds, cache, phantoms, with_hematoma=True),
                                 progress_logger())
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    chunks = [list(seeds[i : i + 8]) for i in range(0, len(seeds), 8)]
    cases = []
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for done in pool.map(_cache_chunk, [str(work)] * len(chunks),
                             [cache.preprocess_config] * len(chunks), chunks,
                             [phantoms] * len(chunks)):
            cases += [Case(**d) for d in done]
            log.info("data: %d/%d phantoms of seeds %s", len(cases), len(seeds), seeds)
    return cases


def _train_until(gen, deadline: dt.datetime | None):
    """Drive the training generator; at ``deadline`` close it (the loop saves its state) and
    return None, else the run's result."""
    show = progress_logger()
    while True:
        if deadline is not None and dt.datetime.now(dt.UTC) >= deadline:
            gen.close()
            return None
        try:
            event = next(gen)
        except StopIteration as stop:
            return stop.value
        show(event)


def _last_epoch(run_dir: Path) -> tuple[int, float]:
    """Steps and seconds at the end of the last completed epoch (metrics.jsonl)."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
            if line.strip()]
    last = rows[-1]
    return int(last.get("step", -1)), float(last.get("elapsed_s", 0.0))
