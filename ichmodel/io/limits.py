"""The limits every input is held to, stated once.

A hospital export can hold anything: special files, zip bombs, headers whose values would size
arrays of terabytes. Each limit below is checked *before* the work it bounds (reading, inflating,
allocating), and breaking one gives an :class:`~ichmodel.errors.InputError` naming the tag or
entry and its value, or a coded notice when the input is usable without the offending part.

The values are generous for real head CT (a 0.5 mm, 1024x1024 thin-slice series fits) and far
below what would exhaust a reading-room workstation (the goal: peak memory under 4 GB).
"""

from __future__ import annotations

import math

# --- files ----------------------------------------------------------------------------------
#: Most files one study may hold (a folder walk stops with an error beyond this).
MAX_FILES = 20_000
#: A DICOM header must show itself within this many bytes ("DICM" at 128, or an element).
SNIFF_BYTES = 4096
#: Largest value we keep of one header element we read (descriptions, UIDs, positions).
MAX_VALUE_BYTES = 65_536
#: Largest header (everything before PixelData) we parse; longer ones are malformed.
MAX_HEADER_BYTES = 64 * 1024 * 1024
#: Deepest nesting of sequences accepted in a header (real CT headers use < 10).
MAX_SEQUENCE_DEPTH = 32
#: Longest DICOMDIR ReferencedFileID (PS3.10: at most 8 components of 8 characters).
MAX_FILE_ID_CHARS = 255
#: Deepest nesting of folders walked (also bounds symlinked folder loops).
MAX_FOLDER_DEPTH = 32

# --- zip archives ---------------------------------------------------------------------------
MAX_ZIP_ENTRIES = 20_000
MAX_ZIP_TOTAL_BYTES = 4 * 1024**3
MAX_ZIP_ENTRY_BYTES = 256 * 1024**2
#: Inflated/compressed ratio above which an entry (larger than 1 MiB) is a zip bomb.
MAX_ZIP_RATIO = 200.0
ZIP_RATIO_MIN_BYTES = 1024**2

# --- images and volumes ---------------------------------------------------------------------
MAX_IMAGE_SIDE = 4096
MAX_SLICES = 4000
#: Largest float32 voxel count of a loaded or resampled volume (~1.2 GB).
MAX_VOXELS = 300_000_000
#: Pixel and slice spacings outside this are refused (no CT has them), mm.
SPACING_REFUSE_MM = (0.01, 50.0)
#: ... and outside this warned about (a head CT has 0.1-10 mm voxels), mm.
SPACING_PLAUSIBLE_MM = (0.1, 10.0)
#: A head is ~100-300 mm along each axis; a head CT's field of view may be wider (up to a body
#: FOV of ~500 mm), so outside this the scanned box is warned about, mm.
HEAD_EXTENT_PLAUSIBLE_MM = (100.0, 500.0)
#: No axis of a volume may be longer than this (a whole body is ~2000 mm), mm.
MAX_EXTENT_MM = 2500.0
#: RescaleSlope must be finite, non-zero and at most this in magnitude.
MAX_RESCALE_SLOPE = 1000.0
#: RescaleIntercept must be finite and at most this in magnitude, HU.
MAX_RESCALE_INTERCEPT = 100_000.0
#: Orientation cosines that differ by no more than this belong to one stack.
ORIENTATION_TOLERANCE = 1e-3
#: Pixel spacings that differ relatively by no more than this are the same.
SPACING_TOLERANCE = 1e-3


def plausible_spacing(value_mm: float) -> bool:
    low, high = SPACING_PLAUSIBLE_MM
    return math.isfinite(value_mm) and low <= value_mm <= high


def refused_spacing(value_mm: float) -> bool:
    low, high = SPACING_REFUSE_MM
    return not (math.isfinite(value_mm) and low <= value_mm <= high)


def human_bytes(n: float) -> str:
    """``n`` bytes as a short text (1.5 GiB)."""
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
