"""Training cases straight from :mod:`ichmodel.phantom`, preprocessed in memory into the cache.

The same cache entries a manifest of written phantom studies would give, without writing and
re-reading DICOM: ``make_phantom(seed) -> preprocess -> CaseCache``. The cache key covers the
phantom generator's version, the seed and the phantom config, so a changed generator never
reuses stale inputs. (``ichmodel synth`` + a manifest is the path a site's own data takes.)
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Generator, Iterable
from typing import Any

from ichmodel.progress import Progress
from ichmodel.train.cache import CaseCache, input_geometry_meta
from ichmodel.train.dataset import Case


def phantom_source_id(seed: int, phantom_config: Any) -> str:
    """The cache source string of one phantom (generator version + seed + config)."""
    from ichmodel.phantom import PHANTOM_VERSION

    config = json.dumps(dataclasses.asdict(phantom_config), sort_keys=True, default=str)
    return f"phantom:{PHANTOM_VERSION}:{int(seed)}:{config}"


def cache_phantoms(
    seeds: Iterable[int],
    cache: CaseCache,
    phantom_config: Any = None,
    *,
    with_hematoma: bool = False,
) -> Generator[Progress, None, list[Case]]:
    """Generate (or reuse) the cached input of each phantom seed; returns their cases.

    Each case's id is ``phantom-<seed>``, its labels the phantom's ground-truth hematoma volume
    (ml) and proxy poor outcome. Resumable: cached seeds are not generated again.
    ``with_hematoma`` also stores each phantom's hematoma mask on the input grid (for
    ``TrainConfig.localization_loss_weight``); entries cached without one are made again.
    """
    from ichmodel.phantom import PhantomConfig, make_phantom
    from ichmodel.preprocess import preprocess

    phantom_config = phantom_config or PhantomConfig()
    seeds = [int(s) for s in seeds]
    cases: list[Case] = []
    for i, seed in enumerate(seeds):
        key = cache.key(phantom_source_id(seed, phantom_config))
        if cache.has(key) and (not with_hematoma or cache.hematoma_path(key).is_file()):
            meta = cache.meta(key)
        else:
            phantom = make_phantom(seed, phantom_config)
            model_input = preprocess(phantom.volume, cache.preprocess_config)
            hematoma = (model_input.to_model_grid(phantom.hematoma_mask) if with_hematoma
                        else None)
            meta = {
                "phantom_seed": seed,
                "volume_ml": float(phantom.hematoma_volume_ml),
                "poor_outcome": int(phantom.poor_outcome),
                "site": phantom.site,
                **input_geometry_meta(model_input),
            }
            cache.put(key, model_input.array, meta, hematoma=hematoma)
        cases.append(
            Case(f"phantom-{seed}", key, float(meta["volume_ml"]), int(meta["poor_outcome"]))
        )
        yield Progress("cache", i + 1, len(seeds), f"phantom {seed}")
    return cases
