"""The window appears before torch, SimpleITK and pydicom have loaded (they load in workers)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "SimpleITK", "pydicom", "reportlab")


def test_showing_the_window_imports_no_heavy_module(tmp_path):
    code = (
        "import sys\n"
        "from ichviewer.app import create_app\n"
        "from ichviewer.main_window import MainWindow\n"
        "from ichviewer.settings import Settings\n"
        "app = create_app()\n"
        f"w = MainWindow(Settings({str(tmp_path / 's.ini')!r}))\n"
        "w.show(); app.processEvents()\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
        "w.close()\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert out.stdout.strip() == "", f"loaded before any study: {out.stdout}"
