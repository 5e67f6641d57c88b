"""Data-parallel training under torchrun (gloo, CPU): the ranks hold identical weights and a
2-process run follows a 1-process run at the same global batch."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from ichmodel.train.distributed import World
from tests.conftest import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

SCRIPT = Path(__file__).with_name("ddp_train_script.py")
STEPS = 4


def _torchrun(out: Path, nproc: int) -> None:
    torchrun = Path(sys.executable).with_name("torchrun")
    done = subprocess.run(
        [str(torchrun), "--standalone", "--nproc_per_node", str(nproc), str(SCRIPT), str(out),
         str(STEPS)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=240,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]


def _last_row(run: Path) -> dict[str, str]:
    with (run / "metrics.csv").open() as fh:
        return list(csv.DictReader(fh))[-1]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    two, one = tmp_path_factory.mktemp("world2"), tmp_path_factory.mktemp("world1")
    _torchrun(two, 2)
    _torchrun(one, 1)
    return two, one


def test_both_ranks_hold_identical_weights_and_only_rank_0_writes(runs):
    from safetensors.torch import load_file

    two, _ = runs
    rank0, rank1 = (load_file(str(two / f"rank{r}.safetensors")) for r in (0, 1))
    assert rank0.keys() == rank1.keys()
    for name in rank0:
        assert torch.equal(rank0[name], rank1[name]), name  # buffers included
    run = two / "run"
    assert (run / "checkpoints" / "state.safetensors").is_file()
    assert len(list(run.glob("metrics.csv"))) == 1


def test_two_processes_follow_one_at_the_same_global_batch(runs):
    """Same steps on the same global batches; only BatchNorm's batch statistics differ (each
    rank normalises its half of the batch), so the weight updates agree to within a few %."""
    from safetensors.torch import load_file

    from ichmodel.nets import ICHNet, NetConfig

    two, one = runs
    torch.manual_seed(0)
    start = ICHNet(NetConfig(depth=10, base_width=4)).state_dict()
    a, b = load_file(str(two / "rank0.safetensors")), load_file(str(one / "rank0.safetensors"))
    names = [k for k in a if a[k].is_floating_point() and "running" not in k]
    update_2 = torch.cat([(a[k] - start[k]).flatten() for k in names])
    update_1 = torch.cat([(b[k] - start[k]).flatten() for k in names])
    assert float(update_1.norm()) > 0
    assert float((update_2 - update_1).norm() / update_1.norm()) < 0.05
    row_2, row_1 = _last_row(two / "run"), _last_row(one / "run")
    assert row_2["step"] == row_1["step"]
    assert float(row_2["val_mae_ml"]) == pytest.approx(float(row_1["val_mae_ml"]), rel=0.02)
    assert float(row_2["train_loss"]) == pytest.approx(float(row_1["train_loss"]), rel=0.1)


def test_a_run_resumes_only_with_its_own_world_size(runs):
    from ichmodel.errors import TrainingError
    from ichmodel.progress import run_to_completion
    from ichmodel.train.loop import train
    from tests.model.ddp_train_script import toy_config, toy_data, toy_start

    two, _ = runs
    with pytest.raises(TrainingError, match="same number"):
        run_to_completion(train(toy_data(two), toy_start(), two / "run", toy_config(STEPS + 2),
                                resume=True))


def test_a_world_of_one_needs_no_process_group():
    world = World()
    assert world.is_main and not world.distributed
    assert world.agree(False) is False and world.sum_over_ranks([1.5]) == [1.5]
    assert world.shard([4, 5, 6]) == [4, 5, 6]
    assert World(rank=1, size=2).shard([4, 5, 6, 7]) == [5, 7]


def test_torchrun_ichmodel_train_writes_and_registers_once(tmp_path, monkeypatch):
    """The CLI under torchrun: rank 0 prints, writes the checkpoints and registers; a too
    small global batch is refused with the reason."""
    import json
    import os

    from ichmodel import registry
    from ichmodel.cli import main

    cohort = tmp_path / "cohort"
    assert main(["synth", str(cohort), "--cases", "6", "--size", "128", "--seed", "9",
                 "--json"]) == 0
    env = dict(os.environ, ICHVIEWER_DATA_DIR=str(tmp_path / "data"))
    torchrun = Path(sys.executable).with_name("torchrun")
    base = [str(torchrun), "--standalone", "--nproc_per_node", "2", "-m", "ichmodel", "train",
            str(cohort / "manifest.csv"), "--out", str(tmp_path / "run"), "--from-scratch",
            "--width", "4", "--max-steps", "2", "--val-fraction", "0.34", "--device", "cpu",
            "--cache", str(tmp_path / "cache"), "--json"]
    done = subprocess.run(base + ["--batch-size", "4", "--register", "ddp-tiny"], cwd=REPO_ROOT,
                          env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)  # one JSON document: rank 1 prints nothing
    assert out["steps"] == 2 and out["registered"] == "ddp-tiny"
    from ichmodel.train.state import load_train_state

    state = load_train_state(tmp_path / "run" / "checkpoints" / "state.safetensors")
    assert state.info["skipped_steps"] == 0 and state.info["world_size"] == 2
    monkeypatch.setenv(registry.ENV_DATA_DIR, str(tmp_path / "data"))
    assert [e.name for e in registry.list_models() if not e.bundled] == ["ddp-tiny"]
    small = subprocess.run(base[:-1] + ["--out", str(tmp_path / "run2"), "--batch-size", "2"],
                           cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=240)
    assert small.returncode != 0 and "2 samples per step" in small.stderr
