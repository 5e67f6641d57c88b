"""Inference: a Volume in, a :class:`Prediction` out (volume in ml, outcome, Grad-CAM on the grid).

:func:`predict` is a generator: it yields :class:`~ichmodel.progress.Progress` events for the
stages ``preprocess``, ``forward`` and ``explain`` and returns the :class:`Prediction`; closing
it between stages is the cancel. Grad mode is entered inside (``torch.inference_mode`` for the
forward, ``enable_grad`` for Grad-CAM), so it runs in any worker thread. Model jobs should run
one at a time (they share the prepared network).

The network is prepared once per (model, device) by :class:`Predictor`: BatchNorm folded into
the convolutions, ``channels_last_3d`` and bf16 autocast where the device supports it, with the
encoder's weights cast to bf16 once rather than on every call (see :mod:`ichmodel.device` for the
plan and its documented tolerance against fp32). The heads always run in fp32.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ichmodel import notices
from ichmodel.active_model import default_model
from ichmodel.checkpoint import LoadedModel
from ichmodel.device import DevicePlan, plan_for
from ichmodel.flip_axes import check_flip_axes, flip_sets
from ichmodel.gradcam import (
    DEFAULT_LAYER,
    HEADS,
    cam_from_activation,
    capture_activation,
)
from ichmodel.labels import ml_to_size_mm
from ichmodel.nets.resnet3d import STAGE_NAMES, ICHNet, NetOutput, fuse_batchnorm
from ichmodel.notices import Notice, Source, texts
from ichmodel.ood_gate import GATE_STAGES, pooled_stages
from ichmodel.preprocess import preprocess, resize_trilinear
from ichmodel.progress import Progress

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)
class Prediction:
    """The model's reading of one study.

    ``cam`` is float32 (z, y, x) in [0, 1] on the Volume's grid (None when not explained);
    ``timings_s`` holds seconds per stage: prepare_model (loading/preparing the network; ~0 once
    cached), preprocess, forward, explain, total.
    """

    predicted_volume_ml: float
    #: The paper's "ICH size": cube root of the predicted volume in mm^3 (for a model whose
    #: label transform scales by voxel volume, not the network's raw output).
    size_mm: float
    poor_outcome_probability: float
    cam: np.ndarray | None
    cam_head: str | None
    cam_layer: str | None
    model_name: str
    model_sha256: str
    device: str
    timings_s: dict[str, float] = field(default_factory=dict)
    notices: tuple[Notice, ...] = ()
    #: Axes whose flips the Grad-CAM was averaged over (the caller's ``cam_flip_axes``).
    cam_flip_axes: tuple[str, ...] = ()
    #: The model's out-of-distribution score of this scan (Mahalanobis distance of its pooled
    #: features, :mod:`ichmodel.ood_gate`) and whether it is within the gate's threshold; both
    #: None for a model without a gate.
    ood_score: float | None = None
    in_distribution: bool | None = None
    #: The gate's threshold the score was compared with.
    ood_threshold: float | None = None

    @property
    def trusted(self) -> bool:
        """False when the model's gate says it has not seen scans like this one."""
        return self.in_distribution is not False

    @property
    def warnings(self) -> tuple[str, ...]:
        return texts(self.notices)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (without the CAM array)."""
        return {
            "predicted_volume_ml": round(self.predicted_volume_ml, 3),
            "size_mm": round(self.size_mm, 4),
            "poor_outcome_probability": round(self.poor_outcome_probability, 4),
            "model": {"name": self.model_name, "sha256": self.model_sha256},
            "device": self.device,
            "cam_head": self.cam_head,
            "cam_layer": self.cam_layer,
            "cam_flip_axes": list(self.cam_flip_axes),
            "in_distribution": self.in_distribution,
            "ood_score": None if self.ood_score is None else round(self.ood_score, 4),
            "ood_threshold": None if self.ood_threshold is None else round(self.ood_threshold, 4),
            "timings_s": {k: round(v, 4) for k, v in self.timings_s.items()},
            "notices": [n.to_dict() for n in self.notices],
        }


def out_of_distribution_notice(score: float, threshold: float) -> Notice:
    """What a prediction says when the model's gate calls the scan out of distribution."""
    return notices.critical(
        "model.out_of_distribution",
        f"this model has not seen scans like this one (out-of-distribution score {score:.1f}, "
        f"above {threshold:.1f} of its training data): its volume and probability are not "
        "shown; trust the measurement",
        Source.MODEL,
    )


class Predictor:
    """A model prepared for inference on one device; reuse it across studies.

    Calls are serialised by a lock (the capture hook lives on the shared network), so a
    predictor may be used from several threads.
    """

    def __init__(self, model: LoadedModel, device: str = "auto", precision: str = "auto") -> None:
        self.model = model
        self.plan: DevicePlan = plan_for(device, precision=precision)
        net = fuse_batchnorm(model.net).to(self.plan.device)
        net = net.to(memory_format=self.plan.memory_format)
        if self.plan.autocast_dtype is not None:
            # Cast the encoder's weights once instead of on every call (autocast would cast
            # them per forward; the numbers are the same). The heads stay fp32.
            for name in STAGE_NAMES:
                getattr(net, name).to(self.plan.autocast_dtype)
        net.requires_grad_(False)  # Grad-CAM differentiates w.r.t. activations only
        self.net: ICHNet = net
        self._lock = threading.Lock()

    def forward(
        self, x: torch.Tensor, capture: str | None = None
    ) -> tuple[NetOutput, torch.Tensor | None]:
        """Outputs (fp32, on CPU) for a (B, C, z, y, x) batch, and the ``capture`` stage's
        activation (for :meth:`explain`) when asked."""
        out, activation, _ = self.forward_with_features(x, capture)
        return out, activation

    def forward_with_features(
        self, x: torch.Tensor, capture: str | None = None,
        stages: tuple[str, ...] = GATE_STAGES,
    ) -> tuple[NetOutput, torch.Tensor | None, torch.Tensor]:
        """:meth:`forward`, plus the globally average-pooled features of the encoder's
        ``stages`` (B, C) fp32 on the CPU (what an out-of-distribution gate scores: by
        default what a new one is fitted on)."""
        plan = self.plan
        with self._lock, torch.inference_mode():
            x = x.to(plan.device, torch.float32).contiguous(memory_format=plan.memory_format)
            if capture is None:
                with plan.autocast():
                    features, pooled = self.net.encode_pooled(x, stages)
                activation = None
            else:
                with capture_activation(self.net, capture) as cap, plan.autocast():
                    features, pooled = self.net.encode_pooled(x, stages)
                activation = cap.activation
            out = self.net.heads(features.float())
            out = NetOutput(out.size_mm.float().cpu(), out.logits.float().cpu())
            pooled = pooled.float().cpu()
        return out, activation, pooled

    def explain(self, activation: torch.Tensor, layer: str, head: str) -> torch.Tensor:
        """Unnormalised Grad-CAM (B, z', y', x') on CPU from a captured stage activation."""
        with self._lock:
            cam = cam_from_activation(
                self.net, layer, activation, head, autocast=self.plan.autocast
            )
        return cam.float().cpu()


_predictor_lock = threading.Lock()
_last_predictor: Predictor | None = None


def get_predictor(model: LoadedModel, device: str = "auto", precision: str = "auto") -> Predictor:
    """The cached :class:`Predictor` for this model object and device, else a new one.

    A :class:`LoadedModel` is treated as immutable: after changing a net's weights in place,
    wrap it in a new LoadedModel (or build a :class:`Predictor` directly)."""
    global _last_predictor
    plan = plan_for(device, precision=precision)
    with _predictor_lock:
        p = _last_predictor
        if p is not None and p.model is model and p.plan == plan:
            return p
        _last_predictor = None  # free the previous prepared copy before building another
        p = Predictor(model, device, precision)
        _last_predictor = p
        return p


def prepare(
    model: LoadedModel | None = None, device: str = "auto", *, warm_up: bool = True
) -> Predictor:
    """Load (``model`` None: the default model) and prepare the predictor ahead of time, e.g.
    while the viewer starts; ``warm_up`` runs one forward on zeros so the first real prediction
    does not pay the one-off kernel setup. The next :func:`predict` with the same model object
    and device reuses it."""
    model = model if model is not None else default_model()
    predictor = get_predictor(model, device)
    if warm_up:
        shape = model.preprocess_config.output_shape
        predictor.forward(torch.zeros((1, model.net_config.in_channels, *shape)))
    return predictor


def predict(
    volume,
    model: LoadedModel | None = None,
    *,
    device: str = "auto",
    cam_head: str | None = "volume",
    cam_layer: str = DEFAULT_LAYER,
    precision: str = "auto",
    cam_flip_axes: tuple[str, ...] = (),
) -> Generator[Progress, None, Prediction]:
    """Predict hematoma volume and poor-outcome probability, with a Grad-CAM heatmap.

    ``model`` None uses :func:`ichmodel.active_model.default_model` (active, demo, or the loudly
    labelled untrained model). ``cam_head`` 'volume' or 'prognosis' (None skips Grad-CAM);
    ``cam_layer`` an encoder stage, 'layer4' (paper) or 'layer3' (finer).
    ``cam_flip_axes`` (test-time augmentation of the heatmap only, see
    :mod:`ichmodel.flip_axes`): the flipped inputs run in the same batch, each map is mirrored
    back at the input resolution and the maps are averaged; the volume and probability stay the
    plain input's. A card may recommend axes (``model.card.recommended_cam_flip_axes``); the
    caller decides.
    """
    cam_flip_axes = check_flip_axes(cam_flip_axes)
    if cam_head is not None and cam_head not in HEADS:
        raise ValueError(f"cam_head must be one of {HEADS} or None, got {cam_head!r}")
    if cam_layer not in STAGE_NAMES[1:]:
        raise ValueError(f"cam_layer must be one of {STAGE_NAMES[1:]}, got {cam_layer!r}")
    n_stages = 3 if cam_head else 2
    timings: dict[str, float] = {}
    t_start = time.perf_counter()

    yield Progress("preprocess", 0, n_stages, "Preparing the study for the model")
    t = time.perf_counter()
    model = model if model is not None else default_model()
    predictor = get_predictor(model, device, precision)
    timings["prepare_model"] = time.perf_counter() - t
    t = time.perf_counter()
    model_input = preprocess(volume, model.preprocess_config)
    timings["preprocess"] = time.perf_counter() - t
    found = list(model.notices) + list(model_input.notices)

    yield Progress(
        "forward", 1, n_stages, f"Running '{model.name}' on {predictor.plan.description}"
    )
    t = time.perf_counter()
    flips = flip_sets(cam_flip_axes) if cam_head else [()]
    x = model_input.tensor()
    batch = torch.cat([x.flip(dims) if dims else x for dims in flips])  # flips[0] is ()
    out, activation, pooled = predictor.forward_with_features(
        batch, capture=cam_layer if cam_head else None,
        stages=pooled_stages(model.gate),
    )
    timings["forward"] = time.perf_counter() - t
    size_mm = float(out.size_mm[0])
    # the outcome head's temperature, fitted on held-out cases (1 when none was)
    probability = float(torch.softmax(out.logits[0] / model.outcome_temperature, dim=0)[1])
    ood_score = in_distribution = None
    if model.gate is not None:
        t = time.perf_counter()
        ood_score = float(model.gate.scores(pooled[:1].numpy())[0])
        in_distribution = bool(ood_score <= model.gate.threshold)
        if not in_distribution:
            found.append(out_of_distribution_notice(ood_score, model.gate.threshold))
        timings["gate"] = time.perf_counter() - t
    if not (math.isfinite(size_mm) and math.isfinite(probability)):
        found.append(notices.critical(
            "model.non_finite_output",
            "the model produced a non-finite output; its numbers are not usable",
            Source.MODEL,
        ))
        size_mm = 0.0 if not math.isfinite(size_mm) else size_mm
        probability = float("nan") if not math.isfinite(probability) else probability
    volume_ml = float(model.label_transform.to_ml(size_mm, model_input.model_voxel_mm3))

    cam = None
    if cam_head:
        yield Progress("explain", 2, n_stages, f"Grad-CAM of the {cam_head} head at {cam_layer}")
        t = time.perf_counter()
        cams = predictor.explain(activation, cam_layer, cam_head)
        if len(flips) == 1:
            cam = model_input.to_volume_grid(cams[0])  # float32, >= 0 (ReLU, linear resampling)
        else:  # mirror each map back at the input's resolution, where flipping is exact
            full = resize_trilinear(cams[:, None], tuple(x.shape[2:]))
            mean = torch.stack([m.flip(dims) if dims else m
                                for m, dims in zip(full[:, 0], flips, strict=True)]).mean(0)
            cam = model_input.to_volume_grid(mean)
        peak = float(cam.max())
        if math.isfinite(peak) and peak > 0:
            cam /= np.float32(peak)  # in place: the map can be as large as the study
            np.clip(cam, 0.0, 1.0, out=cam)
        else:
            cam[:] = 0.0
        timings["explain"] = time.perf_counter() - t
        if not cam.any():
            found.append(notices.info(
                "model.empty_cam",
                f"the Grad-CAM of the {cam_head} head is empty: no region of {cam_layer} pushed "
                "this output up, so there is nothing to show",
                Source.MODEL,
            ))
    timings["total"] = time.perf_counter() - t_start
    yield Progress("done", n_stages, n_stages, "Prediction ready")
    log.info(
        "predict: %.2f ml, p(poor)=%.3f, model %s on %s, %.2fs",
        volume_ml,
        probability,
        model.name,
        predictor.plan.description,
        timings["total"],
    )
    return Prediction(
        predicted_volume_ml=volume_ml,
        size_mm=float(ml_to_size_mm(volume_ml)),
        poor_outcome_probability=probability,
        cam=cam.astype(np.float32, copy=False) if cam is not None else None,
        cam_head=cam_head,
        cam_layer=cam_layer if cam_head else None,
        cam_flip_axes=cam_flip_axes if cam_head else (),
        ood_score=ood_score,
        in_distribution=in_distribution,
        ood_threshold=model.gate.threshold if model.gate is not None else None,
        model_name=model.name,
        model_sha256=model.sha256,
        device=predictor.plan.description,
        timings_s=timings,
        notices=tuple(found),
    )
