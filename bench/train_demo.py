"""Train the bundled demo model on synthetic phantoms (CPU or GPU), then measure and ship it.

Stages (default: all, each resumable):

* ``data``     generate phantoms (train/val seeds 1_000_000+, held-out test seeds 2_000_000+,
               disjoint from the tests' seeds) and cache their preprocessed inputs;
* ``train``    train a reduced-width ResNet34 (``--width``, default 16) with AdamW + warm-up +
               cosine (the paper's SGD at lr 1e-4 does not converge in the few epochs a CPU
               affords; the library/CLI defaults stay the paper's); ``--resume``-safe;
* ``choose``   pick best or last checkpoint, with or without recalibrated BatchNorm, by
               validation MAE and save it as ``checkpoints/chosen.safetensors`` (needs the
               training phantoms, so it runs where training ran);
* ``finalize`` evaluate the chosen model on the held-out phantoms (volume MAE, AUC on the
               proxy label, Grad-CAM pointing game through ``ichmodel.predict``), then write
               ``resources/models/demo.safetensors`` (fp16) + its JSON card. It needs only the
               held-out phantoms, so a run trained elsewhere (``bench/gpu_demo.sh``) is
               finalized here.

Usage: ``python bench/train_demo.py --work /tmp/demo [--stage all|data|train|choose|finalize]``.
Run it in the background (nohup ... > log 2>&1 &); every stage can be restarted.
``--workers N`` generates phantoms in N processes; ``--train-seconds S`` sizes the epochs to a
wall-clock budget from a short throughput probe (for a lent GPU's fixed minutes).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ichmodel.cli.train import parse_xy_strides, parse_z_strides  # noqa: E402
from ichmodel.progress import run_to_completion  # noqa: E402

log = logging.getLogger("train_demo")

TRAIN_SEED0 = 1_000_000
TEST_SEED0 = 2_000_000
#: Extra large-bleed phantoms (``--n-tail``): the default generator's volumes are log-normal
#: around 12 ml, so bleeds over 60 ml are rare in training and the model underestimates them.
TAIL_SEED0 = 1_100_000
TAIL_MEDIAN_ML, TAIL_SIGMA = 50.0, 0.5


def _args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/ich_demo"))
    p.add_argument("--stage", default="all",
                   choices=("all", "data", "train", "choose", "finalize", "pointing"))
    p.add_argument("--n-train", type=int, default=500, help="train+val phantoms")
    p.add_argument("--n-test", type=int, default=100, help="held-out test phantoms")
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--n-tail", type=int, default=0,
                   help=f"extra training phantoms with large bleeds (median {TAIL_MEDIAN_ML} ml)")
    p.add_argument("--init", type=Path, help="start from this checkpoint instead of scratch")
    p.add_argument("--cam-flips", default="",
                   help="finalize: axes (z,y,x) whose flips the shipped model's Grad-CAM "
                   "averages over (LoadedModel.cam_flip_axes)")
    p.add_argument("--provenance", default="",
                   help="finalize: text that opens the card's training data (e.g. how the "
                   "--init checkpoint was trained)")
    p.add_argument("--run-name", default="run", help="run folder inside --work")
    p.add_argument("--z-strides", type=parse_z_strides, default=(1, 2, 1, 1),
                   help="z stride of each stage (the paper's 1,2,2,2 leaves 2 slices in layer4)")
    p.add_argument("--xy-strides", type=parse_xy_strides, default=(1, 2, 2, 2),
                   help="in-plane stride of each stage (1,2,2,1 keeps a 14x14 layer4 map)")
    p.add_argument("--workers", type=int, default=1, help="processes generating phantoms")
    p.add_argument("--train-seconds", type=float,
                   help="size --epochs to this wall-clock budget (measured by a short probe)")
    p.add_argument("--num-workers", type=int, help="DataLoader processes (default: by device)")
    p.add_argument("--chosen-dtype", default="float32", choices=("float32", "float16"),
                   help="weights of checkpoints/chosen.safetensors (float16 to ship it back small)")
    p.add_argument("--checkpoint-every", type=int, default=20,
                   help="save the resumable state every N steps (0: at epoch ends only)")
    p.add_argument("--size-head", default="additive", choices=("linear", "additive"))
    p.add_argument("--grad-clip", type=float, default=10.0)
    p.add_argument("--flip-ap", type=float, default=0.0,
                   help="probability of a front-back flip (centres Grad-CAM in y, see augment.py)")
    p.add_argument("--flip-si", type=float, default=0.0,
                   help="probability of a head-foot flip (centres Grad-CAM in z)")
    p.add_argument("--epochs", type=int, default=14)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--warmup-steps", type=int, default=60)
    p.add_argument("--outcome-weight", type=float, default=5.0)
    p.add_argument("--device", default="auto")
    p.add_argument("--precision", default="fp32", choices=("auto", "bf16", "fp32"),
                   help="fp32: bf16 backward on this CPU now and then returns garbage gradients")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (1 beats 2 on a shared, oversubscribed machine)")
    p.add_argument("--force", action="store_true",
                   help="write the new weights even if they do not beat the shipped ones")
    p.add_argument("--out", type=Path, default=REPO / "resources" / "models" / "demo.safetensors")
    return p.parse_args(argv)


def _progress(every: float = 30.0):
    last = [0.0]

    def show(event) -> None:
        now = time.time()
        if event.stage == "validate" or now - last[0] > every or event.current == event.total:
            last[0] = now
            m = {k: round(v, 4) for k, v in event.metrics.items()}
            log.info("%s %s/%s %s %s", event.stage, event.current, event.total, event.message, m)

    return show


def _phantoms(tail: bool):
    """The phantom generator's config: large bleeds only for the tail, else the default."""
    from ichmodel.phantom import PhantomConfig

    if not tail:
        return None
    return PhantomConfig(volume_median_ml=TAIL_MEDIAN_ML, volume_sigma=TAIL_SIGMA, p_no_bleed=0.0)


def _cache_chunk(work: str, seeds: list[int], tail: bool) -> list[dict]:
    """Worker process: generate and cache one chunk of phantoms (one torch thread)."""
    import torch

    from ichmodel.preprocess import PreprocessConfig
    from ichmodel.train.cache import CaseCache
    from ichmodel.train.phantom_cases import cache_phantoms

    torch.set_num_threads(1)
    cache = CaseCache(Path(work) / "cache", PreprocessConfig())
    return [c.__dict__ for c in run_to_completion(cache_phantoms(seeds, cache, _phantoms(tail)))]


def _make_cases(a, cache, seeds: range, tail: bool = False):
    """Cases of ``seeds`` (cached, generated where missing), in ``a.workers`` processes."""
    from ichmodel.train.dataset import Case
    from ichmodel.train.phantom_cases import cache_phantoms

    if not seeds:
        return []
    if a.workers <= 1:
        return run_to_completion(cache_phantoms(seeds, cache, _phantoms(tail)), _progress())
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    seeds = list(seeds)
    chunks = [seeds[i : i + 8] for i in range(0, len(seeds), 8)]
    cases: list = []
    # spawn: the workers must not inherit a parent that may already hold a CUDA context
    with ProcessPoolExecutor(a.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for i, done in enumerate(pool.map(_cache_chunk, [str(a.work)] * len(chunks), chunks,
                                          [tail] * len(chunks))):
            cases += [Case(**d) for d in done]
            if (i + 1) % max(1, len(chunks) // 10) == 0:
                log.info("data: %d/%d phantoms", len(cases), len(seeds))
    return cases


def stage_data(a, cache, *, need_train: bool = True):
    """Cached train/val and test cases; ``cases.json`` pins them (phantom code may change).

    Without ``need_train`` (finalize of a run trained elsewhere) only the held-out phantoms
    are made; the train list is still read from the pinned file when there is one.
    """
    from ichmodel.train.dataset import Case

    pinned = a.work / "cases.json"
    n_train = a.n_train + a.n_tail
    if pinned.is_file():
        d = json.loads(pinned.read_text())
        train_cases = [Case(**c) for c in d["train"]][:n_train]
        test_cases = [Case(**c) for c in d["test"]][: a.n_test]
        wanted = (train_cases if need_train else []) + test_cases
        complete = len(train_cases) == n_train and len(test_cases) == a.n_test
        if complete and all(cache.has(c.cache_key) for c in wanted):
            log.info("data: %d + %d cases pinned in %s", len(train_cases), len(test_cases), pinned)
            return train_cases, test_cases
    t = time.time()
    train_cases = []
    if need_train:
        train_cases = _make_cases(a, cache, range(TRAIN_SEED0, TRAIN_SEED0 + a.n_train))
        train_cases += _make_cases(a, cache, range(TAIL_SEED0, TAIL_SEED0 + a.n_tail), tail=True)
    test_cases = _make_cases(a, cache, range(TEST_SEED0, TEST_SEED0 + a.n_test))
    if not need_train:
        return train_cases, test_cases
    vols = np.array([c.volume_ml for c in train_cases])
    log.info(
        "data: %d train/val + %d test phantoms in %.0f s; volumes median %.1f ml, max %.1f, "
        "poor outcome %.0f %%",
        len(train_cases), len(test_cases), time.time() - t, np.median(vols), vols.max(),
        100 * np.mean([c.poor_outcome for c in train_cases]),
    )
    pinned.write_text(json.dumps({"train": [c.__dict__ for c in train_cases],
                                  "test": [c.__dict__ for c in test_cases]}))
    return train_cases, test_cases


def _train_config(a):
    from ichmodel.train.augment import AugmentConfig
    from ichmodel.train.config import TrainConfig

    return TrainConfig(
        augment=AugmentConfig(flip_ap_probability=a.flip_ap, flip_si_probability=a.flip_si),
        epochs=a.epochs,
        batch_size=a.batch_size,
        optimizer="adamw",
        lr=a.lr,
        weight_decay=a.weight_decay,
        warmup_steps=a.warmup_steps,
        schedule="cosine",
        outcome_loss_weight=a.outcome_weight,
        val_fraction=0.15,
        seed=0,
        device=a.device,
        threads=a.threads,
        precision=a.precision,
        checkpoint_every_steps=a.checkpoint_every or None,
        grad_clip_norm=a.grad_clip,
        num_workers=a.num_workers,
    )


def _net_config(a):
    from ichmodel.nets import NetConfig

    return NetConfig(depth=34, base_width=a.width, stage_z_strides=a.z_strides,
                     stage_xy_strides=a.xy_strides, size_head=a.size_head)


def stage_train(a, cache, train_cases):
    import torch

    from ichmodel.nets import ICHNet
    from ichmodel.train.loop import StartModel, TrainData, train

    if a.init is not None:
        from ichmodel.checkpoint import load_checkpoint

        init = load_checkpoint(a.init)
        start = StartModel(init.net.float().train(), init.net_config, init.preprocess_config,
                           f"checkpoint {init.name} (sha256 {init.sha256[:12]})",
                           init.cam_flip_axes, init.label_transform)
    else:
        net_config = _net_config(a)
        torch.manual_seed(0)
        start = StartModel(ICHNet(net_config), net_config, cache.preprocess_config, "scratch")
    run_dir = a.work / a.run_name
    resume = (run_dir / "checkpoints" / "state.safetensors").is_file()
    data = TrainData(
        cache,
        tuple(train_cases),
        description={"phantom_seeds": [TRAIN_SEED0, TRAIN_SEED0 + a.n_train]},
    )
    if a.train_seconds and not resume:
        a.epochs = _epochs_for_budget(a, data, start)
    result = run_to_completion(
        train(data, start, run_dir, _train_config(a), resume=resume), _progress()
    )
    (run_dir / "trained_on.json").write_text(json.dumps(_trained_on(a)))
    log.info(
        "train: %s after %d steps, %d epochs, %.0f s; best epoch %s val loss %.4f",
        result.stopped, result.steps, result.epochs_done, result.elapsed_s, result.best_epoch,
        result.best_val_loss or float("nan"),
    )
    return result


def _trained_on(a) -> dict[str, str]:
    """Where the run trained, in words for the model card."""
    import torch

    from ichmodel.device import plan_for

    plan = plan_for(a.device, precision=a.precision, training=True)
    if plan.device.type == "cuda":
        where = f"one {torch.cuda.get_device_name(plan.device)} GPU"
    else:
        where = f"{a.threads} CPU thread(s)"
    return {"where": where, "precision": plan.precision}


def _epochs_for_budget(a, data, start, probe_steps: int = 40, warm_steps: int = 10) -> int:
    """Epochs that fit ``a.train_seconds``, from the step rate of a short probe run.

    The probe trains a copy of the start model for ``probe_steps`` steps (its first
    ``warm_steps`` pay for cuDNN autotuning and loader start-up, so they are not timed); an
    epoch is charged ~10 % extra for validation and checkpoints.
    """
    import copy
    import dataclasses
    import shutil

    from ichmodel.train.dataset import steps_per_epoch
    from ichmodel.train.loop import train

    probe_dir = a.work / f"{a.run_name}_probe"
    shutil.rmtree(probe_dir, ignore_errors=True)
    config = dataclasses.replace(_train_config(a), max_steps=probe_steps, epochs=10_000,
                                 checkpoint_every_steps=None)
    probe_start = dataclasses.replace(start, net=copy.deepcopy(start.net))
    stamps: dict[int, float] = {}
    t0 = time.perf_counter()
    for event in train(data, probe_start, probe_dir, config):
        if event.stage == "train":
            stamps[event.current] = time.perf_counter()
    shutil.rmtree(probe_dir, ignore_errors=True)
    step_s = (stamps[probe_steps] - stamps[warm_steps]) / (probe_steps - warm_steps)
    n_train = round(len(data.cases) * (1 - _train_config(a).val_fraction))
    epoch_s = 1.1 * step_s * steps_per_epoch(n_train, a.batch_size)
    budget = a.train_seconds - (time.perf_counter() - t0)
    epochs = max(1, int(budget // epoch_s))
    log.info("probe: %.3f s/step (%.0f samples/s) -> %.0f s/epoch; %d epochs fit %.0f s",
             step_s, a.batch_size / step_s, epoch_s, epochs, budget)
    return epochs


#: Tolerance of the ``near`` reading: Zhang et al.'s pointing game allows 15 pixels at a
#: 224-pixel input; on a ~180 mm head crop that is ~12 mm, so 10 mm is a little stricter.
POINTING_TOLERANCE_MM = 10.0


def cam_hits(cam: np.ndarray, mask: np.ndarray, spacing_mm=(1.0, 1.0, 1.0)) -> dict[str, bool]:
    """Pointing-game hits of one CAM against one hematoma mask, four readings of "the peak".

    * ``argmax``: the first voxel holding the CAM's maximum (numpy order) lies in the mask;
    * ``plateau``: the centroid of all voxels within 1e-6 of the maximum lies in the mask (a
      trilinearly upsampled coarse map is flat from its outermost cell centres to the crop's
      edge, and the first-voxel argmax sits on that edge);
    * ``near``: the argmax voxel is within ``POINTING_TOLERANCE_MM`` of a mask voxel (the
      tolerance of the original pointing game);
    * ``slice``: on the axial slice where the bleed is largest (what the viewer shows first),
      the CAM's in-plane maximum lies in the mask.
    """
    if cam is None or not np.any(cam > 0):
        return {"argmax": False, "plateau": False, "near": False, "slice": False}
    first = np.unravel_index(int(np.argmax(cam)), cam.shape)
    top = np.argwhere(cam >= cam.max() - 1e-6)
    centroid = tuple(int(round(v)) for v in top.mean(axis=0))
    z = int(np.argmax(mask.sum(axis=(1, 2))))
    in_plane = np.unravel_index(int(np.argmax(cam[z])), cam[z].shape)
    offsets_mm = (np.argwhere(mask) - np.array(first)) * np.asarray(spacing_mm, dtype=float)
    nearest_mm = float(np.sqrt((offsets_mm**2).sum(axis=1)).min())
    return {
        "argmax": bool(mask[first]),
        "plateau": bool(mask[centroid]),
        "near": nearest_mm <= POINTING_TOLERANCE_MM,
        "slice": bool(cam[z].max() > 0 and mask[z][in_plane]),
    }


def pointing_game(model, seeds, layers=("layer4", "layer3")):
    """Fraction of bleeds whose volume-head Grad-CAM peak lies inside the hematoma mask."""
    from ichmodel.phantom import make_phantom
    from ichmodel.predict import predict

    hits: dict[str, list[bool]] = {}
    for seed in seeds:
        ph = make_phantom(seed)
        if ph.site == "none" or not ph.hematoma_mask.any():
            continue
        for layer in layers:
            pred = run_to_completion(predict(ph.volume, model, cam_head="volume", cam_layer=layer))
            for kind, hit in cam_hits(pred.cam, ph.hematoma_mask,
                                      ph.volume.spacing_mm).items():
                hits.setdefault(f"{layer}_{kind}", []).append(hit)
    return {k: (float(np.mean(v)) if v else None, len(v)) for k, v in hits.items()}


def choose_model(a, cache, train_cases):
    """best vs last checkpoint of ``--run-name``, each with and without recalibrated BatchNorm
    statistics, by validation MAE (see :func:`choose_checkpoint`)."""
    return choose_checkpoint(a.work / a.run_name, cache, train_cases, device=a.device,
                             batch_size=a.batch_size)


def choose_checkpoint(run_dir, cache, train_cases, *, device, batch_size,
                      checkpoints=("best", "last")):
    """The run's ``checkpoints``, each plain and with BatchNorm statistics recalibrated on its
    training split (batch-size running statistics can lag behind the weights): the candidate
    with the lowest validation MAE, and a record of the choice."""
    from ichmodel.checkpoint import load_checkpoint
    from ichmodel.device import plan_for
    from ichmodel.train.dataset import CaseDataset, make_loader, ordered_batches
    from ichmodel.train.evaluate import evaluate_cases
    from ichmodel.train.split import Split
    from ichmodel.train.steps import recalibrate_batchnorm

    run_dir = Path(run_dir)
    split = Split.load(run_dir / "split.json")
    by_id = {c.case_id: c for c in train_cases}
    train_ds = CaseDataset(cache, [by_id[i] for i in split.train])
    val_cases = [by_id[i] for i in split.val]
    plan = plan_for(device, precision="fp32")
    scored = []
    for which in checkpoints:
        model = load_checkpoint(run_dir / "checkpoints" / f"{which}.safetensors")
        for recal in (False, True):
            if recal:
                loader = make_loader(train_ds, ordered_batches(len(train_ds), batch_size),
                                     device=plan.device)
                recalibrate_batchnorm(model.net, loader, plan)
            r = run_to_completion(evaluate_cases(model, cache, val_cases))
            log.info("val %s recalibrated=%s: MAE %.3f ml, AUC %s", which, recal,
                     r.metrics.mae_ml, r.metrics.auc)
            scored.append((r.metrics.mae_ml, which, recal, model if recal else None))
    mae, which, recal, recalibrated = min(scored, key=lambda t: t[0])
    # the recalibrated candidate is kept as evaluated; a plain one was recalibrated in place
    # after its evaluation, so it is read again
    if recalibrated is not None:
        model = recalibrated
    else:
        model = load_checkpoint(run_dir / "checkpoints" / f"{which}.safetensors")
    log.info("chosen: %s checkpoint, BatchNorm recalibrated: %s (val MAE %.3f ml)", which,
             recal, mae)
    return model, {"checkpoint": which, "bn_recalibrated": recal, "val_mae_ml": mae,
                   "val_candidates": [(t[1], t[2], t[0]) for t in scored]}


def stage_choose(a, cache, train_cases):
    """Save the chosen model as ``checkpoints/chosen.safetensors`` (+ ``choice.json``)."""
    from ichmodel.checkpoint import save_checkpoint

    model, choice = choose_model(a, cache, train_cases)
    ckpt = a.work / a.run_name / "checkpoints"
    save_checkpoint(ckpt / "chosen.safetensors", model.net, net_config=model.net_config,
                    preprocess_config=model.preprocess_config, card=model.card,
                    training=model.training, metrics=model.metrics, dtype=a.chosen_dtype,
                    cam_flip_axes=model.cam_flip_axes)
    (ckpt / "choice.json").write_text(json.dumps(choice))
    return model, choice


def _chosen_model(a, cache, train_cases):
    """The model ``stage_choose`` saved (a run trained elsewhere), or choose it now."""
    from ichmodel.checkpoint import load_checkpoint

    ckpt = a.work / a.run_name / "checkpoints"
    if (ckpt / "chosen.safetensors").is_file():
        log.info("using %s", ckpt / "chosen.safetensors")
        return (load_checkpoint(ckpt / "chosen.safetensors"),
                json.loads((ckpt / "choice.json").read_text()))
    return choose_model(a, cache, train_cases)


def _augment_words(augment: dict) -> str:
    flips = [name for key, name in (("flip_lr_probability", "left-right"),
                                    ("flip_ap_probability", "front-back"),
                                    ("flip_si_probability", "head-foot"))
             if augment.get(key, 0) > 0]
    return f"{'/'.join(flips) or 'no'} flips, rotation/shift/intensity"


def _seeds(cases) -> list[int]:
    """Phantom seeds of cases named ``phantom-<seed>``."""
    return [int(c.case_id.split("-")[1]) for c in cases]


def _map_shapes(net, preprocess_config) -> dict[str, str]:
    """Input and stage map sizes as 'z x y x x' strings, from one forward of zeros."""
    import torch

    from ichmodel.gradcam import capture_activation

    shape = tuple(preprocess_config.output_shape)
    out = {"input": "x".join(map(str, shape))}
    x = torch.zeros(1, 1, *shape)
    with capture_activation(net, "layer3") as c3, capture_activation(net, "layer4") as c4:
        with torch.no_grad():
            net.eval()(x)
    for name, cap in (("layer3", c3), ("layer4", c4)):
        out[name] = "x".join(map(str, cap.activation.shape[2:]))
    return out


def stage_finalize(a, cache, train_cases, test_cases):
    from ichmodel.checkpoint import flip_words, load_checkpoint, save_checkpoint
    from ichmodel.model_card import ModelCard
    from ichmodel.train.evaluate import evaluate_cases

    run_dir = a.work / a.run_name
    seeds = _seeds(test_cases)
    baseline = None
    if a.out.is_file():  # what is shipped now, on the same held-out phantoms
        shipped = load_checkpoint(a.out)
        bm = run_to_completion(evaluate_cases(shipped, cache, test_cases)).metrics
        baseline = {"mae_ml": bm.mae_ml, "auc": bm.auc,
                    "pointing": pointing_game(shipped, seeds, layers=("layer4",))}
        log.info("shipped model on the held-out set: %s", baseline)
    model, choice = _chosen_model(a, cache, train_cases)
    if a.cam_flips:
        import dataclasses

        from ichmodel.checkpoint import check_flip_axes

        model = dataclasses.replace(model, cam_flip_axes=check_flip_axes(a.cam_flips.split(",")))
    result = run_to_completion(evaluate_cases(model, cache, test_cases), _progress())
    m = result.metrics
    t = time.time()
    pg = pointing_game(model, seeds)
    log.info("pointing game %s in %.0f s", pg, time.time() - t)
    if baseline is not None and m.mae_ml >= baseline["mae_ml"] and not a.force:
        log.warning("new model MAE %.3f ml is not below the shipped %.3f ml: %s left as it is "
                    "(--force writes it anyway)", m.mae_ml, baseline["mae_ml"], a.out)
        return
    shapes = _map_shapes(model.net, model.preprocess_config)
    config = json.loads((run_dir / "config.json").read_text())
    history = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    metrics = {
        "heldout_n": m.n,
        "heldout_mae_ml": m.mae_ml,
        "heldout_mse_ml2": m.mse_ml2,
        "heldout_mape_pct": m.mape_pct,
        "heldout_mape_skipped_zero": m.n_mape_skipped_zero,
        "heldout_accuracy_proxy": m.accuracy,
        "heldout_auc_proxy": m.auc,
        "pointing_game_layer4_argmax": pg["layer4_argmax"][0],
        "pointing_game_layer4_plateau": pg["layer4_plateau"][0],
        "pointing_game_layer3_argmax": pg["layer3_argmax"][0],
        "pointing_game_layer4_near_10mm": pg["layer4_near"][0],
        "pointing_game_layer3_near_10mm": pg["layer3_near"][0],
        "pointing_game_layer3_plateau": pg["layer3_plateau"][0],
        "pointing_game_layer4_slice": pg["layer4_slice"][0],
        "pointing_game_layer3_slice": pg["layer3_slice"][0],
        "pointing_game_n_bleeds": pg["layer4_argmax"][1],
        "best_epoch": model.training.get("best_epoch"),
        "chosen_checkpoint": choice["checkpoint"],
        "bn_recalibrated": choice["bn_recalibrated"],
        "val_mae_ml": choice["val_mae_ml"],
    }
    tc = config["train"]
    trained_on = f"precision {tc['precision']}, {tc['threads']} CPU thread(s)"
    if (run_dir / "trained_on.json").is_file():
        where = json.loads((run_dir / "trained_on.json").read_text())
        trained_on = f"precision {where['precision']}, on {where['where']}"
    split = json.loads((run_dir / "split.json").read_text())
    n_params_m = sum(p.numel() for p in model.net.parameters()) / 1e6
    auc_text = "n/a" if m.auc is None else f"{m.auc:.3f}"
    seeds_text = f"seeds {TRAIN_SEED0}..{TRAIN_SEED0 + a.n_train - 1}"
    if a.n_tail:
        seeds_text += (f" and {a.n_tail} large-bleed phantoms (median {TAIL_MEDIAN_ML:.0f} ml, "
                       f"seeds {TAIL_SEED0}..{TAIL_SEED0 + a.n_tail - 1})")
    from ichmodel.nets import NetConfig

    nc, paper = model.net_config, NetConfig()
    variant = ""
    if (nc.stage_z_strides, nc.stage_xy_strides, nc.size_head) != (
            paper.stage_z_strides, paper.stage_xy_strides, paper.size_head):
        variant = (f"; stage strides z {'/'.join(map(str, nc.stage_z_strides))}, in-plane "
                   f"{'/'.join(map(str, nc.stage_xy_strides))} (the paper: "
                   f"{'/'.join(map(str, paper.stage_z_strides))} and "
                   f"{'/'.join(map(str, paper.stage_xy_strides))}), {nc.size_head} size head "
                   f"(the paper: {paper.size_head})")
    card = ModelCard(
        name="demo",
        summary=(
            f"Demo model bundled with ICH Viewer: ResNet34 topology at base width "
            f"{model.net_config.base_width} ({n_params_m:.2f} M parameters){variant}, input "
            f"{shapes['input']}, trained on SYNTHETIC PHANTOMS ONLY. On held-out "
            f"phantoms: volume MAE {m.mae_ml:.2f} ml, AUC {auc_text} "
            "on the proxy outcome label. Grad-CAM pointing game (volume head"
            + (f"; maps averaged over {flip_words(model.cam_flip_axes)} flips"
               if model.cam_flip_axes else "")
            + "): the 3-D peak "
            f"voxel lies inside the bleed for {100 * (pg['layer4_argmax'][0] or 0):.0f} % of "
            f"bleeds at layer4 (default, a {shapes['layer4']} map) and "
            f"{100 * (pg['layer3_argmax'][0] or 0):.0f}"
            " % at layer3; it lies within 10 mm of the bleed for "
            f"{100 * (pg['layer4_near'][0] or 0):.0f} % / {100 * (pg['layer3_near'][0] or 0):.0f}"
            " %; on the axial slice where the bleed is largest, the in-plane peak lies "
            f"inside it for {100 * (pg['layer4_slice'][0] or 0):.0f} % (layer4) / "
            f"{100 * (pg['layer3_slice'][0] or 0):.0f} % (layer3)."
        ),
        training_data=(
            (a.provenance + " " if a.provenance else "")
            + f"{len(split['train'])} training and {len(split['val'])} validation synthetic "
            f"head NCCT phantoms (ichmodel.phantom, {seeds_text}); "
            f"held-out test phantoms seeds {TEST_SEED0}..{TEST_SEED0 + a.n_test - 1}. Outcome "
            "label is a PROXY (hematoma >= 30 ml supratentorial or >= 15 ml infratentorial), "
            "not a patient outcome. Optimiser: "
            f"{tc['optimizer']} lr {tc['lr']} (warm-up {tc['warmup_steps']} steps, "
            f"{tc['schedule']}), weight decay {tc['weight_decay']}, batch {tc['batch_size']}, "
            f"{history[-1]['epoch']} epochs, loss MSE(size mm) + {tc['outcome_loss_weight']} x "
            f"CE, augmentation {_augment_words(tc['augment'])}, {trained_on}"
            + (f", starting from {a.init.name} (see selection)" if a.init else "")
            + f". Shipped weights: the {choice['checkpoint']} "
            "checkpoint" + (", BatchNorm statistics recalibrated on the training phantoms "
                            "(precise BN)" if choice["bn_recalibrated"] else "") + "."
        ),
        intended_use="Demonstrating and testing the software end to end.",
        not_for="Clinical use of any kind: it has never seen a real patient's scan.",
        limitations=(
            "Synthetic phantoms differ from real CT; the outcome head only learned a volume "
            "threshold (proxy label). Fine-tune on your own labelled data (ichmodel train)."
        ),
        banner="Trained on synthetic data - not for clinical use",
    )
    training = {
        "data": "synthetic phantoms (ichmodel.phantom)",
        "train_config": tc,
        "net_config": config["net"],
        "run_history": history,
        "best_epoch": model.training.get("best_epoch"),
        "selection": choice,
    }
    a.out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(a.out, model.net, net_config=model.net_config,
                    preprocess_config=model.preprocess_config, card=card, training=training,
                    metrics=metrics, dtype="float16", cam_flip_axes=model.cam_flip_axes)
    reloaded = load_checkpoint(a.out)
    check = run_to_completion(evaluate_cases(reloaded, cache, test_cases))
    log.info("fp16 demo: MAE %.3f ml (fp32 %.3f), AUC %s; %s, %.1f MB", check.metrics.mae_ml,
             m.mae_ml, check.metrics.auc, a.out, a.out.stat().st_size / 1e6)
    report = {"metrics": metrics, "baseline_shipped": baseline, "map_shapes": shapes,
              "fp16_mae_ml": check.metrics.mae_ml,
              "fp16_auc": check.metrics.auc, "file_mb": a.out.stat().st_size / 1e6}
    (a.work / "demo_report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report))


def main(argv=None) -> int:
    a = _args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from ichmodel.preprocess import PreprocessConfig
    from ichmodel.train.cache import CaseCache

    a.work.mkdir(parents=True, exist_ok=True)
    cache = CaseCache(a.work / "cache", PreprocessConfig())
    chosen = a.work / a.run_name / "checkpoints" / "chosen.safetensors"
    need_train = a.stage in ("all", "data", "train", "choose") or (
        a.stage == "finalize" and not chosen.is_file())
    train_cases, test_cases = stage_data(a, cache, need_train=need_train)
    if a.stage in ("all", "train"):
        stage_train(a, cache, train_cases)
    if a.stage == "choose":
        stage_choose(a, cache, train_cases)
    if a.stage in ("all", "finalize"):
        stage_finalize(a, cache, train_cases, test_cases)
    if a.stage == "pointing":  # measure the shipped model only
        from ichmodel.checkpoint import load_checkpoint

        seeds = _seeds(test_cases)
        print(json.dumps(pointing_game(load_checkpoint(a.out), seeds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
