"""The midline-shift truth of a phantom, from its own parameters (for tests and the bench).

The phantom moves its ventricles by ``shift`` mm away from a supratentorial bleed and squeezes
the ipsilateral lateral ventricle (:func:`ichmodel.phantom.anatomy.with_mass_effect`). Its
"septum" is the tissue between the two frontal-horn ellipsoids; the truth is the midpoint of
their medial walls, at the height and depth where it was measured, in mm from the head's plane
of symmetry (u = 0), positive towards the patient's left. The applied ``shift`` differs from it
by the squeeze (the ipsilateral wall moves back towards its bleed).
"""

from __future__ import annotations

import numpy as np

from ichmodel.phantom import Phantom

#: Index of each side's frontal horn / body ellipsoid in ``Anatomy.ventricles`` (left first).
LEFT_HORN, RIGHT_HORN = 0, 3


def applied_shift_mm(phantom: Phantom) -> float:
    """The shift the phantom applied to its ventricles (+ = towards the patient's left)."""
    if phantom.site in ("none", "infratentorial"):
        return 0.0
    shift = min(10.0, max(0.0, (phantom.hematoma_target_ml - 15.0) * 0.2))
    side = {"left": 1.0, "right": -1.0}.get(phantom.side, 0.0)
    return -side * shift


def septum_truth_mm(phantom: Phantom, at_lps: np.ndarray) -> float | None:
    """The phantom's septum position (mm from u = 0, + left) at the (v, w) of the LPS point
    ``at_lps`` (where a measurement put it); None when the horns do not both reach there."""
    frame = phantom.frame
    _, v, w = frame.rotation.T @ (np.asarray(at_lps, float) - frame.center_mm)
    walls = []
    for index, sign in ((LEFT_HORN, -1.0), (RIGHT_HORN, 1.0)):
        horn = phantom.anatomy.ventricles[index]
        cu, cv, cw = horn.center
        ru, rv, rw = horn.radii
        inside = 1.0 - ((v - cv) / rv) ** 2 - ((w - cw) / rw) ** 2
        if inside <= 0:
            return None
        walls.append(cu + sign * ru * np.sqrt(inside))
    return float(0.5 * (walls[0] + walls[1]))
