"""Rebuild the bundled sample study: ``resources/sample_study/`` (DICOM + TRUTH.json).

One synthetic head NCCT (256 x 256, 5 mm slices) with a clear deep (basal ganglia) bleed of
about 33 ml, calcified pineal/choroid plexus, no IVH. Deterministic: rerunning gives the same
pixels and UIDs. Usage::

    .venv/bin/python tools/make_sample_study.py [--out resources/sample_study]

Not a benchmark: it makes a bundled resource (``ichmodel`` comes from the installed checkout,
``make setup``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

from ichmodel.io.write import write_dicom_series
from ichmodel.phantom import PhantomConfig, make_phantom
from ichmodel.resources import sample_study_dir

SEED = 20240103
CONFIG = PhantomConfig(
    size=256,
    slice_thickness_mm=5.0,
    site="deep",
    volume_ml=33.0,
    ivh=False,
    calcifications=True,
    # the bundled study and the demo model's figures were made with generator v5; keep it
    version="5",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=sample_study_dir())
    args = parser.parse_args()
    phantom = make_phantom(SEED, CONFIG)
    if args.out.exists():
        shutil.rmtree(args.out)
    paths = write_dicom_series(phantom.volume, args.out / "DICOM", shuffle_names=True, seed=SEED)
    truth = {
        "description": (
            "Synthetic head NCCT phantom (ichmodel.phantom), not a patient. Ground truth of "
            "the hematoma: volume = integral of the partial-volume hematoma fraction; the "
            "mask volume counts voxels with fraction >= 0.5. poor_outcome is a proxy label "
            "(>= 30 ml supratentorial, >= 15 ml infratentorial), not an outcome."
        ),
        "generator": "tools/make_sample_study.py",
        "phantom_config": dataclasses.asdict(CONFIG),
        "series_uid": phantom.volume.meta.series_uid,
        "n_files": len(paths),
        **phantom.truth(),
    }
    (args.out / "TRUTH.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    size = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(
        f"wrote {len(paths)} slices to {args.out} ({size / 2**20:.2f} MiB): "
        f"{phantom.site} {phantom.side} bleed {phantom.hematoma_volume_ml:.2f} ml, "
        f"poor_outcome(proxy)={phantom.poor_outcome}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
