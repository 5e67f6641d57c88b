"""Synthetic head NCCT phantoms with a hematoma of known volume (pure numpy/scipy).

Our only source of labelled data until a site brings its own. Each phantom has a skull of
varying thickness with diploe, scalp with fat and temporalis muscle, CSF, grey/white matter
with gyri and sulci, deep grey nuclei, ventricles, a cerebellum below the tentorium, optional
calcifications (pineal, choroid plexus), and usually an acute hematoma (deep, lobar or
infratentorial; irregular multi-lobed shape; clinically skewed volume) with perihematomal
edema and sometimes intraventricular extension. Thick slices average the anatomy
(partial volume), the head is rotated and shifted, and scanner noise is added.

Public API::

    make_phantom(seed, config=PhantomConfig()) -> Phantom
    proxy_poor_outcome(volume_ml, site) -> int
    write_synth_dataset(out_dir, n_cases, seed) -> Path            # manifest.csv
    iter_write_synth_dataset(...) -> Generator[Progress, None, Path]

The outcome label is a *proxy* (volume >= 30 ml supratentorial or >= 15 ml infratentorial), the
seed paper's rule of thumb, not a patient outcome.
"""

from ichmodel.phantom.config import SITES, PhantomConfig, proxy_poor_outcome
from ichmodel.phantom.dataset import (
    MANIFEST_COLUMNS,
    case_seed,
    iter_write_synth_dataset,
    write_synth_dataset,
)
from ichmodel.phantom.generate import PHANTOM_VERSION, TISSUE_LABELS, Phantom, make_phantom

__all__ = [
    "MANIFEST_COLUMNS",
    "case_seed",
    "iter_write_synth_dataset",
    "write_synth_dataset",
    "PHANTOM_VERSION",
    "SITES",
    "TISSUE_LABELS",
    "Phantom",
    "PhantomConfig",
    "make_phantom",
    "proxy_poor_outcome",
]
