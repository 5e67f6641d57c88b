"""Benchmark: our DICOM series loading vs SimpleITK's ImageSeriesReader on the same files.

Run:  .venv/bin/python bench/load.py [--slices 240] [--repeats 3]

Cases (each timed in this run, best of N after one warm-up that fills the OS file cache):

* GE head of ../shared/data/dcm_qa_ct (28 slices, tilt + uneven spacing; skipped if absent);
* a synthetic 240-slice 512x512 head series written with ``write_dicom_series``;
* the same series RLE Lossless compressed.

Ours = ``load_study(folder)`` (header scan + read + HU + geometry, tilt/uneven resampling
included). SimpleITK = ``GetGDCMSeriesFileNames(folder)`` + ``ImageSeriesReader.Execute()``
(which does no tilt correction and no HU checks). Ratio = ours / SimpleITK (lower is better;
goal <= 1.0 uncompressed, well below 1 on RLE).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ichmodel.io.load import load_study  # noqa: E402
from ichmodel.io.write import write_dicom_series  # noqa: E402
from ichmodel.volume import SeriesMeta, Volume  # noqa: E402


def synthetic_head(n_slices: int, size: int = 512, seed: int = 0) -> Volume:
    """An ellipsoid 'head' (skull, brain, noise) in air: compresses like real CT does."""
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[:n_slices, :size, :size]
    zc, yc, xc = (n_slices - 1) / 2, (size - 1) / 2, (size - 1) / 2
    r = np.sqrt(((z - zc) / (n_slices * 0.55)) ** 2 + ((y - yc) / 200) ** 2 + ((x - xc) / 170) ** 2)
    hu = np.full((n_slices, size, size), -1000.0, dtype=np.float32)
    hu[r < 1.0] = 1000.0  # skull
    hu[r < 0.93] = 35.0  # brain
    hu += rng.normal(0.0, 6.0, hu.shape).astype(np.float32) * (r < 1.0)
    return Volume(
        hu=np.rint(hu).astype(np.float32),
        spacing_mm=(1.0, 0.45, 0.45),
        origin_mm=(-115.0, -115.0, 0.0),
        meta=SeriesMeta(series_description="bench head", body_part="HEAD", kernel="STANDARD"),
    )


def sitk_read(folder: Path) -> tuple[int, ...]:
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    image = reader.Execute()
    return image.GetSize()


def ours_read(folder: Path) -> tuple[int, ...]:
    return load_study(folder).shape


def best_of(fn, folder: Path, repeats: int) -> float:
    fn(folder)  # warm-up: OS file cache, imports
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(folder)
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--slices", type=int, default=240)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    import SimpleITK as sitk

    sitk.ProcessObject_GlobalWarningDisplayOff()
    from pydicom.uid import RLELossless

    cases: list[tuple[str, Path]] = []
    ge = ROOT.parent / "shared" / "data" / "dcm_qa_ct" / "In" / "GE"
    if ge.is_dir():
        cases.append(("GE head 28 sl (tilt+uneven)", ge))
    else:
        print("(dcm_qa_ct not found: GE case skipped)")
    with tempfile.TemporaryDirectory(prefix="ichbench-") as tmp:
        volume = synthetic_head(args.slices)
        t0 = time.perf_counter()
        write_dicom_series(volume, Path(tmp) / "plain")
        t1 = time.perf_counter()
        write_dicom_series(volume, Path(tmp) / "rle", transfer_syntax=RLELossless)
        t2 = time.perf_counter()
        print(
            f"wrote {args.slices} slices 512x512: uncompressed {t1 - t0:.1f} s, RLE {t2 - t1:.1f} s"
        )
        cases.append((f"synthetic {args.slices} sl uncompressed", Path(tmp) / "plain"))
        cases.append((f"synthetic {args.slices} sl RLE", Path(tmp) / "rle"))
        from ichmodel.io.scan import scan_study

        scan_s = best_of(scan_study, Path(tmp) / "plain", args.repeats)
        print(f"header scan of {args.slices} files (scan_study): {scan_s:.3f} s")
        print(f"{'case':34s} {'ours s':>8s} {'SimpleITK s':>12s} {'ratio':>7s}")
        for name, folder in cases:
            ours = best_of(ours_read, folder, args.repeats)
            theirs = best_of(sitk_read, folder, args.repeats)
            print(f"{name:34s} {ours:8.3f} {theirs:12.3f} {ours / theirs:7.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
