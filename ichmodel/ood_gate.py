"""The out-of-distribution gate: does a scan look like the scans a model was trained on?

A class-conditional Gaussian over the encoder's globally average-pooled features with one shared
covariance, scored by the Mahalanobis distance to the closest class mean (Lee, Lee, Lee & Shin,
"A Simple Unified Framework for Detecting Out-of-Distribution Samples and Adversarial Attacks",
NeurIPS 2018), without their input perturbation: one matrix product per scan, on the features
the prediction computes anyway. The classes are the outcome labels of the training cases (one
class when none is labelled). The covariance is shrunk towards its diagonal (Ledoit-Wolf style,
a fixed weight) so a few hundred cases suffice for a few hundred feature channels. The threshold
is a high quantile (default the 99th percentile) of the scores of held-out in-distribution cases,
so about 1 % of scans like the training data are flagged.

Which encoder stages are pooled is part of the gate (``stages``): the last stage alone sees
what the heads see, and a phantom-like bleed inserted into a real head pulls it back into the
training range; an early stage (layer2) carries the texture and anatomy of the scan and keeps a
real head far outside a phantom-trained model's range with or without a bleed
(docs/gate_layers_2026-12-03.md), so new gates pool ``GATE_STAGES``, concatenated.

The gate travels inside the checkpoint's JSON document (covered by its config digest) and is
refitted on a site's own cases by fine-tuning and ``ichmodel calibrate``.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Weight of the diagonal in the shrunk covariance (0: the sample covariance).
SHRINKAGE = 0.1
#: Held-out in-distribution cases above the threshold, by construction.
DEFAULT_QUANTILE = 0.99
#: The encoder stages whose pooled features a new gate scores (concatenated, in this order).
GATE_STAGES: tuple[str, ...] = ("layer2", "layer4")
#: What a gate written before ``stages`` existed scores.
LEGACY_STAGES: tuple[str, ...] = ("layer4",)


def pooled_stages(gate: FeatureGate | None) -> tuple[str, ...]:
    """The encoder stages to pool for a model with ``gate``: the gate's own, or (no gate yet)
    what a new gate is fitted on."""
    return gate.stages if gate is not None else GATE_STAGES


@dataclass(frozen=True, eq=False)
class FeatureGate:
    """Class means (k, d) and the shared precision matrix (d, d) of the training features,
    and the score above which a scan is out of distribution."""

    class_means: np.ndarray
    precision: np.ndarray
    threshold: float
    quantile: float
    n_fit: int
    n_threshold: int
    #: What the gate was fitted on (for the model card), e.g. "620 training phantoms".
    fitted_on: str = ""
    #: The encoder stages whose globally average-pooled features it scores, concatenated.
    stages: tuple[str, ...] = LEGACY_STAGES

    def __post_init__(self) -> None:
        k, d = self.class_means.shape
        if self.precision.shape != (d, d) or k < 1:
            raise ValueError(f"gate shapes do not fit: means {self.class_means.shape}, "
                             f"precision {self.precision.shape}")
        if not np.isfinite(self.threshold) or self.threshold <= 0:
            raise ValueError(f"the gate's threshold must be a positive number, got "
                             f"{self.threshold}")

    @property
    def n_features(self) -> int:
        return int(self.class_means.shape[1])

    def scores(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row of ``features`` (n, d) to its closest class."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"features must be (n, {self.n_features}), got {x.shape}")
        diff = x[:, None, :] - self.class_means[None].astype(np.float64)  # (n, k, d)
        d2 = np.einsum("nkd,de,nke->nk", diff, self.precision.astype(np.float64), diff)
        return np.sqrt(np.maximum(d2.min(axis=1), 0.0))

    def to_doc(self) -> dict[str, Any]:
        """JSON form for the checkpoint document (arrays as base64 float32)."""
        return {
            "method": "mahalanobis-shared-covariance (Lee et al. 2018)",
            "class_means": _encode(self.class_means),
            "precision": _encode(self.precision),
            "shape": list(self.class_means.shape),
            "threshold": float(self.threshold),
            "quantile": float(self.quantile),
            "n_fit": int(self.n_fit),
            "n_threshold": int(self.n_threshold),
            "fitted_on": self.fitted_on,
            "stages": list(self.stages),
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> FeatureGate:
        k, d = (int(v) for v in doc["shape"])
        return cls(
            class_means=_decode(doc["class_means"], (k, d)),
            precision=_decode(doc["precision"], (d, d)),
            threshold=float(doc["threshold"]),
            quantile=float(doc["quantile"]),
            n_fit=int(doc["n_fit"]),
            n_threshold=int(doc["n_threshold"]),
            fitted_on=str(doc.get("fitted_on", "")),
            stages=tuple(str(v) for v in doc.get("stages", LEGACY_STAGES)),
        )


def _encode(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype="<f4").tobytes()).decode("ascii")


def _decode(text: str, shape: tuple[int, ...]) -> np.ndarray:
    data = np.frombuffer(base64.b64decode(text), dtype="<f4")
    if data.size != int(np.prod(shape)):
        raise ValueError(f"the gate's arrays hold {data.size} numbers, not {shape}")
    return data.reshape(shape).astype(np.float32)


def fit_gate(
    fit_features: np.ndarray,
    fit_labels: np.ndarray | None,
    threshold_features: np.ndarray,
    *,
    quantile: float = DEFAULT_QUANTILE,
    fitted_on: str = "",
    stages: tuple[str, ...] = GATE_STAGES,
) -> FeatureGate:
    """The gate of training-case features (n, d) with their outcome labels (None or -1 for
    unlabelled: one class), its threshold the ``quantile`` of held-out cases' scores."""
    x = np.asarray(fit_features, dtype=np.float64)
    held = np.asarray(threshold_features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"fitting the gate needs at least 3 cases of features, got {x.shape}")
    if len(held) < 2:
        raise ValueError("the gate's threshold needs at least 2 held-out cases")
    if not 0.5 <= quantile < 1.0:
        raise ValueError(f"quantile must be in [0.5, 1), got {quantile}")
    labels = np.full(len(x), -1) if fit_labels is None else np.asarray(fit_labels).astype(int)
    classes = [c for c in np.unique(labels) if c >= 0 and (labels == c).sum() >= 2]
    groups = [labels == c for c in classes] or [np.ones(len(x), dtype=bool)]
    means = np.stack([x[g].mean(axis=0) for g in groups])
    centred = np.concatenate([x[g] - m for g, m in zip(groups, means, strict=True)])
    cov = centred.T @ centred / max(1, len(centred) - len(groups))
    diag = np.diag(np.diag(cov)) + 1e-6 * np.eye(cov.shape[0])
    precision = np.linalg.pinv((1 - SHRINKAGE) * cov + SHRINKAGE * diag, hermitian=True)
    gate = FeatureGate(means.astype(np.float32), precision.astype(np.float32), 1.0, quantile,
                       len(x), len(held), fitted_on, tuple(stages))
    threshold = float(np.quantile(gate.scores(held), quantile))
    return dataclasses.replace(gate, threshold=threshold)
