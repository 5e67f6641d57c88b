"""Write a set of phantoms as DICOM studies plus a training manifest.

Layout of ``OUT``::

    OUT/manifest.csv          study,volume_ml,poor_outcome,site,ivh,ivh_volume_ml,...
    OUT/case_000/IMG_xxxx.dcm  one CT series per case (shuffled file names)
    OUT/case_000_mask.nii.gz   optional: the hematoma mask (fraction >= 0.5) as NIfTI

``study`` is the case folder relative to the manifest; ``volume_ml`` the true parenchymal
hematoma volume (ml), ``poor_outcome`` the *proxy* label (see
:func:`ichmodel.phantom.proxy_poor_outcome`). Extra columns (IVH, slice thickness, the
phantom seed, the mask path) are ignored by the trainer.
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Generator
from pathlib import Path

import numpy as np

from ichmodel.errors import InputError
from ichmodel.phantom.config import PhantomConfig
from ichmodel.phantom.generate import make_phantom
from ichmodel.progress import Progress, run_to_completion

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = (
    "study",
    "volume_ml",
    "poor_outcome",
    "site",
    "ivh",
    "ivh_volume_ml",
    "slice_thickness_mm",
    "phantom_seed",
    "mask",
)


def case_seed(dataset_seed: int, index: int) -> int:
    """The phantom seed of case ``index`` of a dataset seeded ``dataset_seed`` (0..2**31-1).

    Derived with numpy's SeedSequence so datasets with different seeds do not share cases.
    """
    if dataset_seed < 0 or index < 0:
        raise ValueError("dataset seed and case index must be non-negative")
    state = np.random.SeedSequence([int(dataset_seed), int(index)]).generate_state(1)
    return int(state[0] & 0x7FFFFFFF)


def iter_write_synth_dataset(
    out_dir: str | Path,
    n_cases: int,
    seed: int = 0,
    config: PhantomConfig | None = None,
    *,
    masks: bool = False,
    overwrite: bool = False,
) -> Generator[Progress, None, Path]:
    """Write ``n_cases`` phantoms; yields one :class:`Progress` per case, returns the manifest.

    Raises :class:`~ichmodel.errors.InputError` when ``out_dir`` already holds a manifest
    (unless ``overwrite``) or is a file. Closing the generator stops after the current case;
    the manifest is written (atomically) only when every case is done.
    """
    from ichmodel.io.write import write_dicom_series

    config = config or PhantomConfig()
    if n_cases < 1:
        raise InputError(f"--cases must be at least 1, got {n_cases}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"{out} is a file; give a folder (new or empty) for the synthetic studies")
    manifest = out / MANIFEST_NAME
    if manifest.exists() and not overwrite:
        raise InputError(
            f"{manifest} already exists; choose an empty folder or pass --overwrite to replace it"
        )
    out.mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(n_cases - 1)))
    rows = []
    for i in range(n_cases):
        name = f"case_{i:0{width}d}"
        pseed = case_seed(seed, i)
        phantom = make_phantom(pseed, config)
        folder = out / name
        if folder.exists():
            for old in folder.glob("*.dcm"):
                old.unlink()
        write_dicom_series(phantom.volume, folder, shuffle_names=True, seed=pseed)
        mask_name = ""
        if masks:
            from ichmodel.io.sitk_bridge import write_nifti

            mask_name = f"{name}_mask.nii.gz"
            write_nifti(out / mask_name, phantom.volume, phantom.hematoma_mask)
        rows.append(
            {
                "study": name,
                "volume_ml": f"{phantom.hematoma_volume_ml:.3f}",
                "poor_outcome": phantom.poor_outcome,
                "site": phantom.site,
                "ivh": int(phantom.ivh),
                "ivh_volume_ml": f"{phantom.ivh_volume_ml:.3f}",
                "slice_thickness_mm": f"{phantom.volume.spacing_mm[0]:g}",
                "phantom_seed": pseed,
                "mask": mask_name,
            }
        )
        log.info("case %s: %s %.2f ml", name, phantom.site, phantom.hematoma_volume_ml)
        yield Progress(
            "synth",
            i + 1,
            n_cases,
            f"{name}: {phantom.site} {phantom.hematoma_volume_ml:.1f} ml",
            {"volume_ml": phantom.hematoma_volume_ml},
        )
    tmp = manifest.with_suffix(".csv.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=MANIFEST_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, manifest)
    log.info("wrote %s (%d cases)", manifest, n_cases)
    return manifest


def write_synth_dataset(
    out_dir: str | Path, n_cases: int, seed: int = 0, config: PhantomConfig | None = None
) -> Path:
    """Write ``n_cases`` phantom DICOM studies and ``manifest.csv`` into a new folder; returns
    the manifest path (masks and overwriting: :func:`iter_write_synth_dataset`)."""
    return run_to_completion(iter_write_synth_dataset(out_dir, n_cases, seed, config))


def read_manifest_rows(manifest: str | Path) -> list[dict[str, str]]:
    """The rows of a manifest written here (a small helper for tests and benches)."""
    with Path(manifest).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))
