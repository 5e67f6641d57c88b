"""The external DICOM validators the tests use (test-only extras), found beside the interpreter.

``dciodvfy`` (dicom3tools) checks an object against the standard's IODs; dcmqi's
``segimage2itkimage``/``tid1500reader`` read SEG and SR back as 3D Slicer does. Each helper skips
the calling test with a message when its tool is not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest


def tool(name: str) -> str:
    """Path of a command-line tool from the venv (beside python) or PATH, or skip."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if not found:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def dciodvfy_errors(path: Path) -> list[str]:
    """The ``Error`` lines dciodvfy prints for ``path`` (empty: valid)."""
    out = subprocess.run([tool("dciodvfy"), str(path)], capture_output=True, text=True,
                         timeout=120)
    lines = (out.stdout + out.stderr).splitlines()
    return [line for line in lines if line.startswith("Error")]


def dcmqi_segments(seg_path: Path, work: Path) -> list[tuple[np.ndarray, object]]:
    """Each segment dcmqi rebuilds from a SEG file: (bool (z, y, x) array, SimpleITK image)."""
    import SimpleITK as sitk

    work.mkdir(parents=True, exist_ok=True)
    out = subprocess.run(
        [tool("segimage2itkimage"), "--inputDICOM", str(seg_path), "--outputDirectory",
         str(work), "--outputType", "nrrd"],
        capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    found = []
    for path in sorted(work.glob("*.nrrd"), key=lambda p: int(p.stem)):
        image = sitk.ReadImage(str(path))
        found.append((sitk.GetArrayFromImage(image) > 0, image))
    return found


def dcmqi_sr(sr_path: Path, work: Path) -> dict:
    """The JSON dcmqi's ``tid1500reader`` makes of an SR."""
    work.mkdir(parents=True, exist_ok=True)
    target = work / "sr.json"
    out = subprocess.run(
        [tool("tid1500reader"), "--inputDICOM", str(sr_path), "--outputMetadata", str(target)],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return json.loads(target.read_text())
