"""Grad-CAM (Selvaraju et al. 2017) for either head of :class:`~ichmodel.nets.ICHNet`.

For a target layer with activation A (B, C, z, y, x) and a scalar score S (the predicted size in
mm for the ``"volume"`` head, the poor-outcome logit for ``"prognosis"``):
weights_c = mean over (z, y, x) of dS/dA_c; CAM = ReLU(sum_c weights_c * A_c). The caller
upsamples it (trilinear) onto the Volume grid with
:meth:`ichmodel.preprocess.ModelInput.to_volume_grid` and normalises it to [0, 1]
(:func:`normalise`).

Targets are the encoder's stages (``"layer4"``, the paper's choice: a 2x7x7 map at the default
input with the paper's strides, 8x7x7 with ``NetConfig.stage_z_strides=(1, 2, 1, 1)``; or
``"layer3"``, twice as fine in-plane); any other named submodule works via the generic path.
With ``NetConfig.size_head="additive"`` the volume head's layer4 map is exactly its map of
local volume contributions (a positive multiple of ReLU(sum_c w_c A_c)).
For a stage, the gradient flows only through what follows it: from ``"layer4"`` that is just the
heads (free), from ``"layer3"`` layer4 + heads. The activation is taken from a forward hook
registered in a context manager and always removed; training mode is restored afterwards; grad
mode is entered here, so this runs from any thread (grad mode is per thread).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass

import torch
from torch import nn

from ichmodel.nets.resnet3d import STAGE_NAMES, ICHNet, NetOutput

HEADS: tuple[str, ...] = ("volume", "prognosis")
DEFAULT_LAYER = "layer4"


def target_score(output: NetOutput, head: str) -> torch.Tensor:
    """The per-sample scalar (B,) whose gradient Grad-CAM follows."""
    if head == "volume":
        return output.size_mm.float()
    if head == "prognosis":
        return output.logits[:, 1].float()
    raise ValueError(f"unknown head {head!r}; choose one of {HEADS}")


@contextmanager
def restored_modes(net: nn.Module) -> Iterator[nn.Module]:
    """Put ``net`` in eval mode and give every submodule its training flag back afterwards."""
    modes = [(m, m.training) for m in net.modules()]
    net.eval()
    try:
        yield net
    finally:
        for module, mode in modes:
            module.training = mode


@dataclass
class _Capture:
    activation: torch.Tensor | None = None


@contextmanager
def capture_activation(net: nn.Module, layer: str) -> Iterator[_Capture]:
    """Record the output of submodule ``layer`` during forwards inside the block; hook removed
    on exit, whatever happens."""
    modules = dict(net.named_modules())
    if layer not in modules or layer == "":
        stages = ", ".join(STAGE_NAMES[1:])
        raise ValueError(f"no layer named {layer!r} in the network; use one of {stages}")
    capture = _Capture()

    def hook(_module, _inputs, output):
        capture.activation = output

    handle = modules[layer].register_forward_hook(hook)
    try:
        yield capture
    finally:
        handle.remove()


def _weighted_map(activation: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
    weights = grad.float().mean(dim=(2, 3, 4), keepdim=True)
    return torch.relu((weights * activation.detach().float()).sum(dim=1))


def cam_from_activation(
    net: ICHNet,
    layer: str,
    activation: torch.Tensor,
    head: str = "volume",
    *,
    autocast: Callable[[], AbstractContextManager] | None = None,
) -> torch.Tensor:
    """Grad-CAM (B, z', y', x') from a stage's activation, back-propagating only through the
    stages after it and the heads. ``activation`` may come from an inference-mode forward.

    ``autocast`` (e.g. ``DevicePlan.autocast``) wraps the remaining encoder stages; the heads
    run in fp32.
    """
    if layer not in STAGE_NAMES:
        raise ValueError(f"the fast path needs an encoder stage ({STAGE_NAMES}), got {layer!r}")
    start = STAGE_NAMES.index(layer) + 1
    with torch.inference_mode(False), torch.enable_grad():
        leaf = activation.detach().clone().requires_grad_(True)
        x = leaf
        with autocast() if autocast is not None else nullcontext():
            for name in STAGE_NAMES[start:]:
                x = getattr(net, name)(x)
        score = target_score(net.heads(x.float()), head).sum()
        (grad,) = torch.autograd.grad(score, leaf)
    return _weighted_map(leaf, grad)


def grad_cam(
    net: ICHNet,
    x: torch.Tensor,
    *,
    head: str = "volume",
    layer: str = DEFAULT_LAYER,
    fast: bool = True,
) -> tuple[torch.Tensor, NetOutput]:
    """Grad-CAM of ``head`` at ``layer`` for input ``x`` (B, C, z, y, x), unnormalised.

    Returns ``(cam (B, z', y', x'), output)``. With ``fast`` and a stage as target the forward
    runs without a graph and only the suffix is differentiated; otherwise (or for any other
    submodule) a full forward with a graph is used. No parameter gradients are accumulated.
    """
    if head not in HEADS:
        raise ValueError(f"unknown head {head!r}; choose one of {HEADS}")
    with restored_modes(net):
        if fast and layer in STAGE_NAMES:
            with capture_activation(net, layer) as cap, torch.no_grad():
                output = net(x)
            cam = cam_from_activation(net, layer, cap.activation, head)
            return cam, NetOutput(output.size_mm.detach(), output.logits.detach())
        with torch.inference_mode(False), torch.enable_grad():
            with capture_activation(net, layer) as cap:
                output = net(x.detach().requires_grad_(True))
            activation = cap.activation
            if not isinstance(activation, torch.Tensor) or activation.ndim != 5:
                raise ValueError(f"layer {layer!r} does not output a (B, C, z, y, x) tensor")
            score = target_score(output, head).sum()
            (grad,) = torch.autograd.grad(score, activation)
        cam = _weighted_map(activation, grad)
        return cam, NetOutput(output.size_mm.detach(), output.logits.detach())


def normalise(cam: torch.Tensor) -> torch.Tensor:
    """Scale a non-negative map to [0, 1] by its maximum (all zeros stays all zeros)."""
    cam = torch.nan_to_num(cam.float().clamp(min=0), nan=0.0, posinf=0.0)
    peak = cam.max()
    return cam / peak if float(peak) > 0 else torch.zeros_like(cam)
