"""Reading a drawn ruler back out of a rendered picture (report key images, DICOM SC)."""

from __future__ import annotations

import numpy as np


def is_colour(rgb: np.ndarray, colour) -> np.ndarray:
    """Pixels of an (rows, cols, 3) uint8 picture that are exactly ``colour``."""
    return np.all(rgb == np.asarray(colour, dtype=np.uint8), axis=-1)


def ruler_offsets_px(rgb: np.ndarray, colour, start_rc, end_rc) -> tuple[np.ndarray, np.ndarray]:
    """(along, across) picture-pixel offsets from ``start_rc`` of the ``colour`` piece through
    the ruler's middle (its label stands apart), along and across the ruler's direction."""
    from scipy import ndimage

    (ra, ca), (rb, cb) = start_rc, end_rc
    pieces, _ = ndimage.label(is_colour(rgb, colour), structure=np.ones((3, 3)))
    rows, cols = np.nonzero(pieces == pieces[round((ra + rb) / 2), round((ca + cb) / 2)])
    direction = np.array([rb - ra, cb - ca]) / np.hypot(rb - ra, cb - ca)
    offsets = np.stack([rows - ra, cols - ca], axis=1)
    return offsets @ direction, np.abs(offsets @ np.array([-direction[1], direction[0]]))
