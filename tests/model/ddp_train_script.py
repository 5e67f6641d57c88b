"""Run by ``torchrun --standalone --nproc_per_node N`` in tests/model/test_distributed.py: each
rank trains the same toy run and writes its final weights to OUT/rank<r>.safetensors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file

from ichmodel.nets import ICHNet, NetConfig
from ichmodel.preprocess import PreprocessConfig
from ichmodel.progress import run_to_completion
from ichmodel.train.augment import NO_AUGMENTATION
from ichmodel.train.cache import CaseCache
from ichmodel.train.config import TrainConfig
from ichmodel.train.dataset import Case
from ichmodel.train.distributed import leave, main_first, world_from_env
from ichmodel.train.loop import StartModel, TrainData, train

SHAPE = (8, 32, 32)
NET = NetConfig(depth=10, base_width=4)
PRE = PreprocessConfig(output_shape=SHAPE)


def toy_data(folder: Path, n: int = 20) -> TrainData:
    cache = CaseCache(folder / "cache", PRE)
    rng = np.random.default_rng(0)
    cases = []
    for i in range(n):
        arr = rng.uniform(0, 0.2, size=(1, *SHAPE)).astype(np.float32)
        r = 1 + i % 6
        arr[0, 2:2 + min(r, 6), 8:8 + 2 * r, 8:8 + 2 * r] = 0.9
        key = cache.key(f"toy{i}")
        cache.put(key, arr, {"toy": i})
        cases.append(Case(f"toy{i:02d}", key, float(i * 3), int(i * 3 >= 30)))
    return TrainData(cache, tuple(cases))


def toy_start() -> StartModel:
    torch.manual_seed(0)
    return StartModel(ICHNet(NET), NET, PRE, "scratch")


def toy_config(steps: int) -> TrainConfig:
    return TrainConfig(epochs=10, max_steps=steps, batch_size=8, optimizer="sgd", lr=1e-4,
                       precision="fp32", augment=NO_AUGMENTATION, val_fraction=0.2, seed=3,
                       device="cpu")


def main() -> int:
    out, steps = Path(sys.argv[1]), int(sys.argv[2])
    torch.set_num_threads(1)
    world = world_from_env("cpu")
    with main_first(world):
        data = toy_data(out)
    start = toy_start()
    result = run_to_completion(train(data, start, out / "run", toy_config(steps), world=world))
    state = {k: v.detach().clone().contiguous() for k, v in start.net.state_dict().items()}
    save_file(state, str(out / f"rank{world.rank}.safetensors"))
    leave(world)
    print(f"rank {world.rank}: {result.steps} steps, stopped {result.stopped}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
