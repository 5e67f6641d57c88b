"""Where the bundled files live: the sample study and the demo model.

They sit in the repository's top-level ``resources/`` folder; a PyInstaller bundle copies that
folder next to the executable (``sys._MEIPASS/resources``). Nothing is ever downloaded.
"""

from __future__ import annotations

import sys
from pathlib import Path


def resources_dir() -> Path:
    """The folder holding the bundled resources (works from a checkout and frozen)."""
    frozen_root = getattr(sys, "_MEIPASS", None)
    if frozen_root:
        return Path(frozen_root) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def sample_study_dir() -> Path:
    """The bundled synthetic sample study (a DICOM folder)."""
    return resources_dir() / "sample_study"


def demo_model_path() -> Path:
    """The bundled demo model's safetensors file (its JSON card lies beside it)."""
    return resources_dir() / "models" / "demo.safetensors"
