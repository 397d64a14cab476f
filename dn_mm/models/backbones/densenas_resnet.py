"""DenseNAS's ResNet-18/34 (the paper's classification code base) on mmpretrain's ResNet.

DenseNAS (JaminFong/DenseNAS, ``models/model_derived.py`` ``RES_Net`` and
``models/operations.py`` ``BasicBlock``) builds its ResNets with

* a 3x3 stride-2 stem conv (3 -> 64) + BN + ReLU6, where torchvision/mmpretrain
  have a 7x7 stride-2 conv + BN + ReLU and a 3x3 stride-2 max-pool;
* no max-pool: the first stage strides 2 instead (112 -> 56), so its first
  block gets a 1x1 stride-2 projection (conv1x1 + BN);
* the usual BasicBlocks otherwise, and no zero-init of the last BN of a block.

With a 100-class head these are the paper's Table 3 counts: ResNet-18 11.22M /
1730.12M Mult-Adds, ResNet-34 21.33M / 3579.81M (mmpretrain's ResNet: 11.23M /
1813.61M and 21.34M / 3663.30M; -118.01M for the 7x7 stem, +21.68M for the
3x3 stem, +12.85M for the projection). Module names are mmpretrain's
(``conv1``, ``norm1``, ``layer1.0.downsample`` ...), so the BN -> DN tools,
``norm_eval``, ``frozen_stages`` and checkpoints work as for ``ResNet``.
"""
from typing import Sequence

from mmcv.cnn import build_activation_layer, build_conv_layer, build_norm_layer
from mmengine.registry import MODELS
from mmpretrain.models.backbones import ResNet
from torch import nn

#: DenseNAS's stage strides: the first stage downsamples (no max-pool).
DENSENAS_STRIDES = (2, 2, 2, 2)


@MODELS.register_module()
class DenseNASResNet(ResNet):
    """ResNet with DenseNAS's stem (3x3 s2 conv, ReLU6, no max-pool, strided stage 1).

    Args:
        depth: 18 or 34 (DenseNAS's ResNets are BasicBlock networks; deeper
            depths build mmpretrain's Bottleneck stages on the same stem).
        strides: stage strides, DenseNAS's ``(2, 2, 2, 2)`` by default.
        zero_init_residual: DenseNAS initialises every BN weight to 1: False.
        stem_act_cfg: the stem's activation, DenseNAS's ReLU6.
        **kwargs: mmpretrain ``ResNet`` arguments (``norm_cfg``, ``out_indices``,
            ``frozen_stages``, ``norm_eval``, ``init_cfg`` ...). ``deep_stem``
            is not supported (the stem is DenseNAS's).
    """

    def __init__(self, depth: int, strides: Sequence[int] = DENSENAS_STRIDES,
                 zero_init_residual: bool = False,
                 stem_act_cfg: dict = dict(type='ReLU6', inplace=True), **kwargs) -> None:
        if kwargs.get('deep_stem', False):
            raise ValueError('DenseNASResNet: deep_stem is not supported; the stem is '
                             "DenseNAS's single 3x3 stride-2 conv")
        self.stem_act_cfg = stem_act_cfg
        super().__init__(depth=depth, strides=strides, zero_init_residual=zero_init_residual,
                         **kwargs)

    def _make_stem_layer(self, in_channels: int, stem_channels: int) -> None:
        self.conv1 = build_conv_layer(self.conv_cfg, in_channels, stem_channels, kernel_size=3,
                                      stride=2, padding=1, bias=False)
        self.norm1_name, norm1 = build_norm_layer(self.norm_cfg, stem_channels, postfix=1)
        self.add_module(self.norm1_name, norm1)
        self.relu = build_activation_layer(self.stem_act_cfg)
        self.maxpool = nn.Identity()
