"""The multi-task 3D ResNet: shapes, parameter count, FLOPs, config round trip, BN folding."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from ichmodel.nets import ICHNet, NetConfig, NetOutput, build_net, count_parameters, fuse_batchnorm

torch.set_num_threads(1)


def test_default_is_the_papers_resnet34_with_63_47_m_parameters():
    net = build_net(NetConfig(), device="meta")
    assert NetConfig().depth == 34 and NetConfig().base_width == 64
    assert count_parameters(net) == 63_471_171
    assert round(count_parameters(net) / 1e6, 2) == 63.47


def test_default_flops_and_last_stage_map_at_full_input():
    from torch.utils.flop_counter import FlopCounterMode

    net = build_net(NetConfig(), device="meta")
    x = torch.zeros(1, 1, 32, 224, 224, device="meta")
    with FlopCounterMode(display=False) as counter:
        features = net.encode(x)
        net.heads(features)
    assert counter.get_total_flops() / 1e9 == pytest.approx(165.5, abs=0.1)
    assert tuple(features.shape) == (1, 512, 2, 7, 7)


@pytest.mark.parametrize("depth", [10, 18, 34, 50])
def test_output_shapes_for_each_depth(depth):
    torch.manual_seed(0)
    net = ICHNet(NetConfig(depth=depth, base_width=2)).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 1, 8, 32, 32))
    assert isinstance(out, NetOutput)
    assert out.size_mm.shape == (2,)
    assert out.logits.shape == (2, 2)
    assert torch.isfinite(out.size_mm).all() and torch.isfinite(out.logits).all()
    expansion = 4 if depth == 50 else 1
    assert net.config.feature_channels == 16 * expansion


def test_encoder_is_fully_convolutional():
    net = ICHNet(NetConfig(depth=10, base_width=2)).eval()
    with torch.no_grad():
        for shape in [(8, 32, 32), (11, 40, 27)]:
            out = net(torch.rand(1, 1, *shape))
            assert out.size_mm.shape == (1,)


def test_no_inplace_activation_anywhere():
    net = ICHNet(NetConfig(depth=18, base_width=2))
    relus = [m for m in net.modules() if isinstance(m, nn.ReLU)]
    assert relus and not any(m.inplace for m in relus)


def test_config_round_trips_through_json_and_rejects_bad_values():
    cfg = NetConfig(depth=18, base_width=8, head_dropout=0.2)
    again = NetConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    with pytest.raises(ValueError, match="depth"):
        NetConfig(depth=20)
    with pytest.raises(ValueError, match="unknown"):
        NetConfig.from_dict({"depth": 10, "colour": "red"})


def test_folded_batchnorm_gives_the_same_outputs_and_leaves_the_original():
    torch.manual_seed(1)
    net = ICHNet(NetConfig(depth=18, base_width=4))
    for m in net.modules():
        if isinstance(m, nn.BatchNorm3d):
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.normal_(0, 0.1)
    net.train()
    fused = fuse_batchnorm(net)
    assert net.training  # original untouched
    assert not any(isinstance(m, nn.BatchNorm3d) for m in fused.modules())
    x = torch.rand(1, 1, 8, 32, 32)
    with torch.no_grad():
        ref = net.eval()(x)
        out = fused(x)
    torch.testing.assert_close(out.size_mm, ref.size_mm, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(out.logits, ref.logits, rtol=1e-4, atol=1e-5)


def test_forward_from_a_stage_matches_the_full_forward():
    net = ICHNet(NetConfig(depth=10, base_width=2)).eval()
    x = torch.rand(1, 1, 8, 32, 32)
    with torch.no_grad():
        act = net.layer2(net.layer1(net.stem(x)))
        torch.testing.assert_close(net.forward_from("layer2", act).logits, net(x).logits)
    with pytest.raises(ValueError, match="unknown stage"):
        net.forward_from("layer9", act)


def test_model_modules_need_only_torch_numpy_and_safetensors():
    """A GPU box without SimpleITK/pydicom/scipy must be able to train and predict."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "for name in ('SimpleITK', 'pydicom', 'scipy', 'PySide6'):\n"
        "    sys.modules[name] = None\n"
        "import numpy as np, torch\n"
        "torch.set_num_threads(1)\n"
        "import ichmodel.nets, ichmodel.preprocess, ichmodel.checkpoint, ichmodel.gradcam\n"
        "from ichmodel.predict import predict\n"
        "from ichmodel.progress import run_to_completion\n"
        "from ichmodel.checkpoint import LoadedModel\n"
        "from ichmodel.model_card import ModelCard\n"
        "from ichmodel.nets import ICHNet, NetConfig\n"
        "from ichmodel.preprocess import PreprocessConfig\n"
        "from ichmodel.volume import Volume\n"
        "cfg = NetConfig(depth=10, base_width=2)\n"
        "m = LoadedModel('t', '0' * 64, ICHNet(cfg).eval(), cfg,\n"
        "                PreprocessConfig(output_shape=(8, 32, 32)), ModelCard(name='t'))\n"
        "hu = np.full((6, 40, 40), 30.0, np.float32)\n"
        "p = run_to_completion(predict(Volume(hu=hu, spacing_mm=(5.0, 1.0, 1.0)), m))\n"
        "assert p.cam.shape == (6, 40, 40)\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def test_stage_z_strides_keep_slices_in_the_last_stage():
    x = torch.zeros(1, 1, 32, 224, 224, device="meta")
    paper_net = build_net(NetConfig(base_width=2), device="meta")
    kept = build_net(NetConfig(base_width=2, stage_z_strides=(1, 2, 1, 1)), device="meta")
    assert tuple(paper_net.encode(x).shape[2:]) == (2, 7, 7)
    assert tuple(kept.encode(x).shape[2:]) == (8, 7, 7)
    # same blocks and weights, only strides differ: the parameter count is unchanged
    assert count_parameters(kept) == count_parameters(paper_net)


def test_stage_xy_strides_keep_a_finer_last_map():
    x = torch.zeros(1, 1, 32, 224, 224, device="meta")
    fine = build_net(NetConfig(base_width=2, stage_z_strides=(1, 2, 1, 1),
                               stage_xy_strides=(1, 2, 2, 1)), device="meta")
    assert tuple(fine.encode(x).shape[2:]) == (8, 14, 14)
    assert count_parameters(fine) == count_parameters(build_net(NetConfig(base_width=2),
                                                                device="meta"))


def test_additive_size_head_is_the_cube_root_of_a_mean_of_local_volumes():
    torch.manual_seed(0)
    net = ICHNet(NetConfig(base_width=2, size_head="additive")).eval()
    net.volume_head.init_bias(31.07)  # a 30 ml bleed
    features = torch.rand(3, net.config.feature_channels, 2, 3, 3)
    with torch.no_grad():
        size = net.heads(features).size_mm
        local = net.volume_head.fc(features.movedim(1, -1))  # ml per location
        expected = torch.pow(nn.functional.softplus(local.mean(dim=(1, 2, 3))) * 1000 + 1e-6, 1 / 3)
    assert torch.allclose(size, expected.squeeze(1), rtol=1e-5)
    with torch.no_grad():
        net.volume_head.fc.weight.zero_()
        at_bias = net.heads(features).size_mm
    assert torch.allclose(at_bias, torch.full((3,), 31.07), atol=1e-3)
    # strongly negative evidence: 0 ml, finite gradient
    features = torch.full((1, net.config.feature_channels, 1, 1, 1), 1.0, requires_grad=True)
    with torch.no_grad():
        net.volume_head.fc.bias.fill_(-60.0)
    size = net.heads(features).size_mm
    size.sum().backward()
    assert float(size.detach()) < 0.02 and torch.isfinite(features.grad).all()


def test_new_fields_round_trip_and_old_configs_still_load():
    config = NetConfig(base_width=4, stage_z_strides=(1, 2, 1, 1), size_head="additive",
                       stage_xy_strides=(1, 2, 2, 1))
    assert NetConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    old = NetConfig(base_width=4).to_dict()
    # a checkpoint written before they existed
    del old["stage_z_strides"], old["size_head"], old["stage_xy_strides"]
    assert NetConfig.from_dict(old) == NetConfig(base_width=4)
    with pytest.raises(ValueError, match="size_head"):
        NetConfig(size_head="log")
    with pytest.raises(ValueError, match="stage_z_strides"):
        NetConfig(stage_z_strides=(1, 2, 3, 1))
    with pytest.raises(ValueError, match="stage_xy_strides"):
        NetConfig(stage_xy_strides=(1, 2, 2))
