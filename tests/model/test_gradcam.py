"""Grad-CAM: both heads, stage targets, fast path == full backward, hooks and modes restored,
and the map of a model that responds to one region peaks in that region."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from ichmodel.gradcam import (
    HEADS,
    cam_from_activation,
    capture_activation,
    grad_cam,
    normalise,
)
from ichmodel.nets import ICHNet, NetConfig

torch.set_num_threads(1)
BRIGHT_CONFIG = NetConfig(depth=10, base_width=2, max_pool=False)


def brightness_net(config: NetConfig = BRIGHT_CONFIG) -> ICHNet:
    """A net made to respond to local brightness: every conv is a positive averaging kernel,
    BatchNorm is the identity, both heads add up the features (outcome class 1 up, 0 down).
    Its activations are blurred copies of the input, so its evidence is where the input is
    bright."""
    net = ICHNet(config)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.Conv3d):
                m.weight.fill_(1.0 / m.weight[0].numel())
            elif isinstance(m, nn.BatchNorm3d):
                m.weight.fill_(1.0)
                m.bias.zero_()
                m.running_mean.zero_()
                m.running_var.fill_(1.0)
        for head in (net.volume_head, net.outcome_head):
            head.fc.weight.fill_(1.0)
            head.fc.bias.zero_()
        net.outcome_head.fc.weight[0].fill_(-1.0)
    return net.eval()


def _hooks(net: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
        for m in net.modules()
    )


def _random_net(seed=0):
    torch.manual_seed(seed)
    return ICHNet(NetConfig(depth=18, base_width=4))


@pytest.mark.parametrize("layer", ["layer4", "layer3"])
@pytest.mark.parametrize("head", HEADS)
def test_fast_path_equals_full_backward(layer, head):
    net = _random_net()
    x = torch.rand(1, 1, 16, 48, 48)
    fast, out_fast = grad_cam(net, x, head=head, layer=layer)
    full, out_full = grad_cam(net, x, head=head, layer=layer, fast=False)
    torch.testing.assert_close(fast, full, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(out_fast.logits, out_full.logits)
    assert fast.ndim == 4 and (fast >= 0).all()
    assert all(p.grad is None for p in net.parameters())


def test_generic_path_works_for_any_named_block():
    net = _random_net()
    cam, _ = grad_cam(net, torch.rand(1, 1, 16, 48, 48), layer="layer3.1.conv2")
    assert cam.shape == (1, 2, 3, 3)  # 16x48x48 -> stem/pool /4 in-plane -> layer3 /4


def test_last_stage_gradient_goes_through_the_head_only():
    net = _random_net().eval()
    x = torch.rand(1, 1, 16, 48, 48)
    calls: list[str] = []
    stages = ("stem", "layer1", "layer2", "layer3", "layer4")
    for layer, expected_reruns in (("layer4", []), ("layer3", ["layer4"])):
        with capture_activation(net, layer) as cap, torch.inference_mode():
            net(x)
        handles = [
            net.get_submodule(name).register_forward_hook(lambda *_a, n=name: calls.append(n))
            for name in stages
        ]
        try:
            cam = cam_from_activation(net, layer, cap.activation, "volume")
        finally:
            for h in handles:
                h.remove()
        assert calls == expected_reruns and cam.shape[1:] == cap.activation.shape[2:]
        calls.clear()


def test_hooks_removed_and_training_mode_restored_even_on_error():
    net = _random_net()
    net.train()
    net.layer2.eval()  # a mixed state must come back exactly
    grad_cam(net, torch.rand(1, 1, 8, 32, 32), head="prognosis", layer="layer3")
    assert _hooks(net) == 0
    assert net.training and not net.layer2.training and net.layer3.training
    with pytest.raises(RuntimeError):
        grad_cam(net, torch.rand(1, 3, 8, 32, 32))  # wrong channel count fails inside
    assert _hooks(net) == 0 and net.training and not net.layer2.training
    with pytest.raises(ValueError, match="no layer named"):
        grad_cam(net, torch.rand(1, 1, 8, 32, 32), layer="layer7")
    with pytest.raises(ValueError, match="unknown head"):
        grad_cam(net, torch.rand(1, 1, 8, 32, 32), head="mortality")
    assert _hooks(net) == 0


def test_grad_mode_is_entered_inside():
    net = _random_net()
    with torch.no_grad():
        cam, _ = grad_cam(net, torch.rand(1, 1, 8, 32, 32), layer="layer3", fast=False)
    assert cam.shape[0] == 1
    with torch.inference_mode():
        cam, _ = grad_cam(net, torch.rand(1, 1, 8, 32, 32), layer="layer3")
    assert cam.shape[0] == 1


@pytest.mark.parametrize("corner", [(3, 10, 12), (20, 60, 56)])
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("layer", ["layer4", "layer3"])
def test_cam_of_a_region_responsive_model_peaks_in_that_region(corner, head, layer):
    shape = (32, 96, 96)
    size = (6, 16, 16)
    net = brightness_net()
    x = torch.zeros(1, 1, *shape)
    region = tuple(slice(c, c + s) for c, s in zip(corner, size, strict=True))
    x[(0, 0, *region)] = 1.0
    cam, _ = grad_cam(net, x, head=head, layer=layer)
    assert float(cam.max()) > 0
    up = nn.functional.interpolate(cam[None], size=shape, mode="trilinear")[0, 0]
    peak = np.unravel_index(int(torch.argmax(up)), shape)
    cell = [n / m for n, m in zip(shape, cam.shape[1:], strict=True)]  # input voxels per cell
    for axis in range(3):  # inside the region, up to half a feature cell of quantisation
        slack = cell[axis] / 2 + 1
        assert region[axis].start - slack <= peak[axis] < region[axis].stop + slack, (axis, peak)


def test_normalise_to_unit_range():
    cam = normalise(torch.tensor([[0.0, 2.0], [4.0, float("nan")]]))
    assert float(cam.max()) == 1.0 and float(cam.min()) == 0.0
    assert not normalise(torch.zeros(3)).any()


def test_additive_size_head_cam_is_its_map_of_local_volume_contributions():
    """With size = cbrt(1000 * softplus(mean_x fc(A(x)))), the layer4 Grad-CAM of the volume
    head is ReLU(sum_c w_c A_c(x)) times a positive constant: where the volume comes from."""
    torch.manual_seed(3)
    net = ICHNet(NetConfig(depth=10, base_width=4, size_head="additive")).eval()
    x = torch.rand(1, 1, 16, 32, 32)
    cam, _ = grad_cam(net, x, head="volume", layer="layer4")
    with torch.no_grad():
        features = net.encode(x)
        contribution = torch.einsum("c,bczyx->bzyx", net.volume_head.fc.weight[0], features)
    expected = torch.relu(contribution)
    assert expected.max() > 0
    scale = cam.max() / expected.max()
    assert scale > 0 and torch.allclose(cam, expected * scale, atol=1e-6 * float(cam.max()))
