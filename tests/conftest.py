"""Shared fixtures. Shared data (../shared/data) is optional: tests that need it skip cleanly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path | None:
    """``../shared/data`` beside the checkout (or $ICH_SHARED_DATA), or None when absent."""
    env = os.environ.get("ICH_SHARED_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO_ROOT.parent / "shared" / "data")
    for path in candidates:
        if path.is_dir():
            return path
    return None


@pytest.fixture(scope="session")
def dcm_qa_ct() -> Path:
    """The dcm_qa_ct validation data's root (holds In/ and Ref/), or skip."""
    root = shared_data_dir()
    if root is None or not (root / "dcm_qa_ct").is_dir():
        pytest.skip("../shared/data/dcm_qa_ct is not available")
    return root / "dcm_qa_ct"


@pytest.fixture
def one_torch_thread():
    """torch on one CPU thread for the test (tiny models run fastest so), restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
