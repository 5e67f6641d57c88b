"""Builds the PyInstaller bundle and runs its smoke test — only when asked.

The build takes a few minutes and ~1 GB of disk, so it runs when ICH_BUILD_BUNDLE=1
(see README, "Building the bundle"); the normal suite skips it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def test_audit_flags_tests_caches_and_dicom(tmp_path) -> None:
    sys.path.insert(0, str(REPO / "installer"))
    try:
        from audit_bundle import audit
    finally:
        sys.path.pop(0)
    (tmp_path / "_internal" / "pkg" / "tests").mkdir(parents=True)
    (tmp_path / "_internal" / "resources" / "sample_study").mkdir(parents=True)
    (tmp_path / "_internal" / "resources" / "sample_study" / "a").write_bytes(b"\0" * 128 + b"DICM")
    (tmp_path / "_internal" / "stray.bin").write_bytes(b"\0" * 128 + b"DICM")
    problems = audit(tmp_path)
    assert any("tests" in p for p in problems)
    assert any("stray.bin" in p for p in problems)
    assert not any("sample_study" in p for p in problems)


@pytest.mark.skipif(os.environ.get("ICH_BUILD_BUNDLE") != "1", reason="set ICH_BUILD_BUNDLE=1")
def test_bundle_builds_and_passes_its_smoke_test() -> None:
    result = subprocess.run(
        ["bash", "installer/build.sh"], cwd=REPO, capture_output=True, text=True, timeout=1800,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "smoke test passed" in result.stdout
    assert (REPO / "dist" / "ichviewer" / "ichviewer").is_file()
