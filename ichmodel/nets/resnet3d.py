"""The multi-task 3D ResNet of Gong et al. 2023 (Front. Neurosci. 17:1118340).

One fully convolutional encoder, two heads on its globally average-pooled features:

* a regression head predicting the hematoma *size* in mm (the cube root of its volume in mm^3;
  see :mod:`ichmodel.labels` for the ml <-> mm transform), and
* a classification head giving two logits (good, poor outcome).

The default :class:`NetConfig` is the paper's ResNet34: a 7x7x7 stem with 64 filters and stride
(1, 2, 2), BatchNorm, ReLU, a 3x3x3 max-pool with stride 2, four stages of [3, 4, 6, 3] basic
blocks at 64/128/256/512 channels, zero padding, 1x1x1 convolution shortcuts where the shape
changes. At an input of 1x1x32x224x224 it has 63.47 M parameters and its last stage's map is
2x7x7. No activation is in-place, so Grad-CAM hooks see unmodified activations.

Inputs are (B, C, z, y, x) float tensors.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from ichmodel.config_fields import config_kwargs
from ichmodel.labels import MM3_PER_ML

#: Blocks per stage for each supported depth.
STAGE_BLOCKS: dict[int, tuple[int, int, int, int]] = {
    10: (1, 1, 1, 1),
    18: (2, 2, 2, 2),
    34: (3, 4, 6, 3),
    50: (3, 4, 6, 3),
}

#: The encoder's stages in forward order; Grad-CAM targets are named after them.
STAGE_NAMES: tuple[str, ...] = ("stem", "layer1", "layer2", "layer3", "layer4")

#: How the volume head turns pooled features into a size in mm (see ``NetConfig.size_head``).
SIZE_HEADS: tuple[str, ...] = ("linear", "additive")


@dataclass(frozen=True)
class NetConfig:
    """Architecture of :class:`ICHNet`. Frozen and JSON-serialisable (saved in checkpoints).

    ``base_width`` is the channel count of the stem and first stage (the paper: 64); the stages
    have ``base_width * (1, 2, 4, 8)`` channels (times 4 at depth 50, which uses bottlenecks).
    """

    depth: int = 34
    base_width: int = 64
    in_channels: int = 1
    stem_kernel: tuple[int, int, int] = (7, 7, 7)
    stem_stride: tuple[int, int, int] = (1, 2, 2)
    max_pool: bool = True
    head_dropout: float = 0.0
    #: z stride of each stage's first block. The paper's (1, 2, 2, 2) leaves a 2x7x7 last map
    #: at 32x224x224, too coarse in z to say which slices Grad-CAM points at; (1, 2, 1, 1)
    #: keeps 8 slices in layer3/layer4 for ~25 % more FLOPs.
    stage_z_strides: tuple[int, int, int, int] = (1, 2, 2, 2)
    #: In-plane (y and x) stride of each stage's first block. The paper's (1, 2, 2, 2) leaves
    #: 7x7 cells of ~26 mm on a head crop: the peak of an upsampled map sits on a cell centre,
    #: so it can miss a small bleed entirely; (1, 2, 2, 1) keeps layer4 at 14x14 (~13 mm).
    stage_xy_strides: tuple[int, int, int, int] = (1, 2, 2, 2)
    #: ``"linear"`` (the paper): size_mm = linear(GAP(features)). ``"additive"``: the linear
    #: layer gives a volume in ml (softplus keeps it positive) and size_mm is its cube root, so
    #: the volume is a mean of per-location contributions and the volume head's Grad-CAM is
    #: that contribution map (it points at the blood). Both train with MSE on size_mm.
    size_head: str = "linear"

    def __post_init__(self) -> None:
        if self.depth not in STAGE_BLOCKS:
            raise ValueError(f"depth must be one of {sorted(STAGE_BLOCKS)}, got {self.depth}")
        if self.base_width < 1 or self.in_channels < 1:
            raise ValueError("base_width and in_channels must be positive")
        if not 0.0 <= self.head_dropout < 1.0:
            raise ValueError(f"head_dropout must be in [0, 1), got {self.head_dropout}")
        if self.size_head not in SIZE_HEADS:
            raise ValueError(f"size_head must be one of {SIZE_HEADS}, got {self.size_head!r}")
        z_strides = tuple(int(s) for s in self.stage_z_strides)
        if len(z_strides) != 4 or any(s not in (1, 2) for s in z_strides):
            raise ValueError(f"stage_z_strides must be four values of 1 or 2, got {z_strides}")
        object.__setattr__(self, "stage_z_strides", z_strides)
        xy_strides = tuple(int(s) for s in self.stage_xy_strides)
        if len(xy_strides) != 4 or any(s not in (1, 2) for s in xy_strides):
            raise ValueError(f"stage_xy_strides must be four values of 1 or 2, got {xy_strides}")
        object.__setattr__(self, "stage_xy_strides", xy_strides)
        object.__setattr__(self, "stem_kernel", tuple(int(k) for k in self.stem_kernel))
        object.__setattr__(self, "stem_stride", tuple(int(s) for s in self.stem_stride))

    @property
    def bottleneck(self) -> bool:
        return self.depth >= 50

    @property
    def feature_channels(self) -> int:
        """Channels of the last stage, i.e. the heads' input size."""
        return self.base_width * 8 * (4 if self.bottleneck else 1)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["stem_kernel"] = list(self.stem_kernel)
        d["stem_stride"] = list(self.stem_stride)
        d["stage_z_strides"] = list(self.stage_z_strides)
        d["stage_xy_strides"] = list(self.stage_xy_strides)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NetConfig:
        tuples = ("stem_kernel", "stem_stride", "stage_z_strides", "stage_xy_strides")
        return cls(**config_kwargs(cls, data, tuples=tuples))


class NetOutput(NamedTuple):
    """What :class:`ICHNet` returns: ``size_mm`` (B,) and outcome ``logits`` (B, 2)."""

    size_mm: torch.Tensor
    logits: torch.Tensor


Stride = int | tuple[int, int, int]


def _conv3(cin: int, cout: int, stride: Stride = 1) -> nn.Conv3d:
    return nn.Conv3d(cin, cout, kernel_size=3, stride=stride, padding=1, bias=False)


def _shortcut(cin: int, cout: int, stride: Stride) -> nn.Module | None:
    if stride in (1, (1, 1, 1)) and cin == cout:
        return None
    return nn.Sequential(
        nn.Conv3d(cin, cout, kernel_size=1, stride=stride, bias=False), nn.BatchNorm3d(cout)
    )


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: Stride = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = _conv3(cin, width, stride)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = _conv3(width, cout)
        self.bn2 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=False)
        self.downsample = _shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: Stride = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv3d(cin, width, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm3d(width)
        self.conv2 = _conv3(width, width, stride)
        self.bn2 = nn.BatchNorm3d(width)
        self.conv3 = nn.Conv3d(width, cout, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm3d(cout)
        self.relu = nn.ReLU(inplace=False)
        self.downsample = _shortcut(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class Head(nn.Module):
    """Global average pool -> (dropout) -> linear."""

    def __init__(self, channels: int, outputs: int, dropout: float) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(channels, outputs)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.pool(features), 1)))

    def init_bias(self, mean_size_mm: float) -> None:
        """Start a size head at the training set's mean size (its output is in mm)."""
        with torch.no_grad():
            self.fc.bias.fill_(mean_size_mm)


class AdditiveSizeHead(Head):
    """size_mm = cbrt(1000 * softplus(linear(GAP(features)))): the linear part is a volume in
    ml averaged over locations. Returns (B, 1) like :class:`Head`."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        volume_ml = nn.functional.softplus(super().forward(features).float())
        # the tiny floor keeps d(cbrt)/dv finite when a no-bleed study drives softplus to 0
        return torch.pow(volume_ml * MM3_PER_ML + 1e-6, 1.0 / 3.0)

    def init_bias(self, mean_size_mm: float) -> None:
        """Start at the training set's mean size (inverse softplus of its volume in ml)."""
        ml = max(mean_size_mm, 1e-3) ** 3 / MM3_PER_ML
        with torch.no_grad():
            self.fc.bias.fill_(ml + math.log(-math.expm1(-ml)))


class ICHNet(nn.Module):
    """Multi-task 3D ResNet: encoder (``stem``, ``layer1``..``layer4``) + two heads."""

    def __init__(self, config: NetConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or NetConfig()
        block = Bottleneck if config.bottleneck else BasicBlock
        w = config.base_width
        pad = tuple(k // 2 for k in config.stem_kernel)
        self.stem = nn.Sequential(
            nn.Conv3d(
                config.in_channels, w, config.stem_kernel, config.stem_stride, pad, bias=False
            ),
            nn.BatchNorm3d(w),
            nn.ReLU(inplace=False),
            nn.MaxPool3d(kernel_size=3, stride=2, padding=1) if config.max_pool else nn.Identity(),
        )
        cin = w
        stages = []
        for i, n_blocks in enumerate(STAGE_BLOCKS[config.depth]):
            width = w * 2**i
            xy = config.stage_xy_strides[i]
            stride = (config.stage_z_strides[i], xy, xy)
            blocks = []
            for j in range(n_blocks):
                blocks.append(block(cin, width, stride if j == 0 else 1))
                cin = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        size_head = AdditiveSizeHead if config.size_head == "additive" else Head
        self.volume_head = size_head(cin, 1, config.head_dropout)
        self.outcome_head = Head(cin, 2, config.head_dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if getattr(m, "weight", None) is not None and m.weight.is_meta:
                continue  # shapes only (counting); meta init would import torch._dynamo
            if isinstance(m, nn.Conv3d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm3d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def stage(self, name: str) -> nn.Module:
        if name not in STAGE_NAMES:
            raise ValueError(f"unknown stage {name!r}; choose one of {STAGE_NAMES}")
        return getattr(self, name)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The last stage's feature map (B, C, z', y', x')."""
        for name in STAGE_NAMES:
            x = getattr(self, name)(x)
        return x

    def encode_pooled(
        self, x: torch.Tensor, stages: tuple[str, ...]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`encode`, and the globally average-pooled outputs of ``stages`` (fp32,
        concatenated along channels in the order given: what an out-of-distribution gate
        scores)."""
        unknown = [s for s in stages if s not in STAGE_NAMES]
        if unknown or not stages:
            raise ValueError(f"pool stages from {STAGE_NAMES}, got {stages!r}")
        pooled: dict[str, torch.Tensor] = {}
        for name in STAGE_NAMES:
            x = getattr(self, name)(x)
            if name in stages:
                pooled[name] = x.float().mean(dim=(2, 3, 4))
        return x, torch.cat([pooled[s] for s in stages], dim=1)

    def heads(self, features: torch.Tensor) -> NetOutput:
        """Both heads on a last-stage feature map."""
        return NetOutput(self.volume_head(features).squeeze(1), self.outcome_head(features))

    def forward_from(self, stage: str, activation: torch.Tensor) -> NetOutput:
        """Run the network from the *output* of ``stage`` to the heads."""
        self.stage(stage)  # validates the name
        start = STAGE_NAMES.index(stage) + 1
        x = activation
        for name in STAGE_NAMES[start:]:
            x = getattr(self, name)(x)
        return self.heads(x)

    def forward(self, x: torch.Tensor) -> NetOutput:
        return self.heads(self.encode(x))


def count_parameters(net: nn.Module) -> int:
    """Number of trainable parameters (BatchNorm running statistics excluded)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def build_net(
    config: NetConfig | None = None, *, device: str | torch.device | None = None
) -> ICHNet:
    """An :class:`ICHNet`; ``device="meta"`` builds it without allocating weights."""
    if device is None:
        return ICHNet(config)
    with torch.device(device):
        return ICHNet(config)


def fuse_batchnorm(net: ICHNet) -> ICHNet:
    """An eval-mode copy of ``net`` with every BatchNorm folded into the conv before it.

    Mathematically identical to ``net.eval()`` (up to float rounding) and faster; the module
    names (``stem``, ``layer1``.., heads) are kept, so Grad-CAM targets stay valid. The
    original is not modified.
    """
    import copy

    from torch.nn.utils.fusion import fuse_conv_bn_eval

    fused = copy.deepcopy(net).eval()
    fused.stem[0] = fuse_conv_bn_eval(fused.stem[0], fused.stem[1])
    fused.stem[1] = nn.Identity()
    for module in fused.modules():
        if not isinstance(module, BasicBlock | Bottleneck):
            continue
        for i in (1, 2, 3):
            conv, bn = getattr(module, f"conv{i}", None), getattr(module, f"bn{i}", None)
            if conv is not None and isinstance(bn, nn.BatchNorm3d):
                setattr(module, f"conv{i}", fuse_conv_bn_eval(conv, bn))
                setattr(module, f"bn{i}", nn.Identity())
        if module.downsample is not None:
            module.downsample = fuse_conv_bn_eval(module.downsample[0], module.downsample[1])
    return fused
