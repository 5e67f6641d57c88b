"""Fit how a trained network's size output scales with the model input's voxel volume.

A network trained with the paper's transform (no voxel scaling) sees every head resized to the
same grid; whatever it learned of the head's physical scale it learned from the image alone,
and its volume errors then follow the voxel volume (larger heads are underestimated). Fitting
``LabelTransform.voxel_exponent`` and ``reference_voxel_mm3`` on held-out cases corrects that
without touching the weights, so the outcome head and the Grad-CAM maps stay exactly as they
were (the factor is one positive number per study).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ichmodel.errors import TrainingError
from ichmodel.labels import LabelTransform, ml_to_size_mm, size_mm_to_ml
from ichmodel.progress import Progress
from ichmodel.train.cache import CaseCache
from ichmodel.train.dataset import Case
from ichmodel.train.evaluate import cache_manifest, evaluate_cases

if TYPE_CHECKING:
    from ichmodel.checkpoint import LoadedModel
    from ichmodel.train.trust_fit import TrustFit


@dataclass(frozen=True)
class VoxelScaleFit:
    """The fitted transform and its mean absolute error (ml) on the fitting cases."""

    label_transform: LabelTransform
    mae_ml_before: float
    mae_ml_after: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return {**self.label_transform.to_dict(), "n": self.n,
                "mae_ml_before": round(self.mae_ml_before, 4),
                "mae_ml_after": round(self.mae_ml_after, 4)}


def fit_voxel_scale(
    size_mm: np.ndarray, voxel_mm3: np.ndarray, reference_ml: np.ndarray
) -> VoxelScaleFit:
    """Least-absolute-error fit of ``reference ~ size^3/1000 * (voxel / r) ** k``.

    ``size_mm``: the network's raw size outputs (the paper's cube root, no scaling),
    ``voxel_mm3``: each input's voxel volume, ``reference_ml``: the true volumes.
    """
    from scipy.optimize import minimize

    size = np.asarray(size_mm, np.float64).reshape(-1)
    voxel = np.asarray(voxel_mm3, np.float64).reshape(-1)
    ref = np.asarray(reference_ml, np.float64).reshape(-1)
    if not (len(size) == len(voxel) == len(ref)):
        raise ValueError(f"lengths differ: {len(size)} sizes, {len(voxel)} voxel volumes, "
                         f"{len(ref)} references")
    if len(size) < 10 or not np.any(ref > 0):
        raise ValueError(f"need at least 10 cases with some bleeds to fit, got {len(size)}")
    if not (np.all(np.isfinite(size)) and np.all(np.isfinite(voxel)) and np.all(voxel > 0)):
        raise ValueError("sizes and voxel volumes must be finite (and voxel volumes positive)")
    raw_ml = size_mm_to_ml(size)
    log_voxel = np.log(voxel)
    centre = float(np.mean(log_voxel))

    def mae(params: np.ndarray) -> float:
        k, log_r = params
        return float(np.mean(np.abs(raw_ml * np.exp(k * (log_voxel - log_r)) - ref)))

    best = minimize(mae, x0=np.array([1.0, centre]), method="Nelder-Mead",
                    options={"xatol": 1e-4, "fatol": 1e-6, "maxiter": 2000})
    k, log_r = (float(v) for v in best.x)
    transform = LabelTransform(voxel_exponent=round(k, 4),
                               reference_voxel_mm3=round(math.exp(log_r), 4))
    after = float(np.mean(np.abs(transform.to_ml(size, voxel) - ref)))
    return VoxelScaleFit(transform, float(np.mean(np.abs(raw_ml - ref))), after, len(size))


def calibrate_cases(
    model: LoadedModel, cache: CaseCache, cases: Sequence[Case], *, device: str = "auto"
) -> Generator[Progress, None, VoxelScaleFit]:
    """Run ``model`` (a LoadedModel) over cached cases and fit its voxel scaling to them."""
    plain = dataclasses.replace(model, label_transform=LabelTransform())
    result = yield from evaluate_cases(plain, cache, cases, device=device)
    voxel = [cache.voxel_mm3(c.cache_key) for c in cases]
    if any(v is None for v in voxel):
        raise TrainingError("some cached cases do not record their voxel size; build the cache "
                            "again with this ichmodel (delete the cache folder)")
    size = ml_to_size_mm(np.array([c.predicted_ml for c in result.cases]))
    try:
        return fit_voxel_scale(size, np.array(voxel), [c.volume_ml for c in cases])
    except ValueError as exc:
        raise TrainingError(f"cannot fit the voxel scaling: {exc}; use more cases with known "
                            "volumes (bleeds of several sizes)") from exc


def calibrate_and_trust(
    manifest: str | Path,
    model: LoadedModel,
    *,
    cache_dir: str | Path,
    device: str = "auto",
    exclude_rows: Sequence[int] = (),
) -> Generator[Progress, None, tuple[LoadedModel, VoxelScaleFit, TrustFit]]:
    """A site's calibration in one pass over its manifest: the voxel scaling (all cases), then
    the out-of-distribution gate (fitted on half the cases, threshold from the other half) and
    the outcome temperature (the other half's labelled cases). Returns the calibrated model
    (a LoadedModel, weights unchanged), the voxel fit and the :class:`TrustFit`."""
    from ichmodel.train.trust_fit import halves, trust_cases

    cache, cases = yield from cache_manifest(manifest, model, cache_dir, exclude_rows)
    fit = yield from calibrate_cases(model, cache, cases, device=device)
    training = dict(model.training or {})
    training["voxel_scale_calibration"] = {"from_sha256": model.sha256,
                                           "manifest": str(manifest), "fit": fit.to_dict()}
    calibrated = dataclasses.replace(model, label_transform=fit.label_transform,
                                     training=training)
    fit_half, held_half = halves(cases)
    if len(fit_half) < 3 or len(held_half) < 2:
        raise TrainingError(f"{len(cases)} cases are too few to fit the out-of-distribution "
                            "gate (at least 5); add cases to the manifest")
    trust = yield from trust_cases(
        calibrated, cache, fit_half, held_half, device=device,
        fitted_on=f"{len(fit_half)} + {len(held_half)} cases of {Path(manifest).name}",
    )
    return calibrated, fit, trust


def save_calibrated(
    model: LoadedModel, fit: VoxelScaleFit, path: str | Path, provenance: Mapping[str, Any],
    trust: TrustFit | None = None,
) -> Path:
    """``model``'s weights, configs and card with the fitted transform (and ``trust``, a
    :class:`~ichmodel.train.trust_fit.TrustFit`, when given), written to ``path``;
    ``training["voxel_scale_calibration"]`` records the fit and ``provenance``."""
    from ichmodel.checkpoint import save_checkpoint
    from ichmodel.train.trust_fit import save_with_trust

    training = dict(model.training or {})
    training["voxel_scale_calibration"] = {"from_sha256": model.sha256, **dict(provenance),
                                           "fit": fit.to_dict()}
    if trust is not None:
        return save_with_trust(dataclasses.replace(model, training=training), trust, path,
                               provenance, label_transform=fit.label_transform)
    return save_checkpoint(
        path, model.net, net_config=model.net_config, preprocess_config=model.preprocess_config,
        card=model.card, training=training, metrics=model.metrics, dtype=model.weights_dtype,
        label_transform=fit.label_transform,
    )
