"""Network architectures (torch only). The multi-task 3D ResNet lives in :mod:`.resnet3d`."""

from ichmodel.nets.resnet3d import (
    STAGE_NAMES,
    ICHNet,
    NetConfig,
    NetOutput,
    build_net,
    count_parameters,
    fuse_batchnorm,
)

__all__ = [
    "STAGE_NAMES",
    "ICHNet",
    "NetConfig",
    "NetOutput",
    "build_net",
    "count_parameters",
    "fuse_batchnorm",
]
