"""mmpretrain's MobileNetV2 with FNA's SSDLite feature taps.

FNA's SSDLite (JaminFong/FNA, ``fna_det/models/derived_ssdlite_backbone.py``,
the detector the paper's detection code is built on) feeds its head from the
576-channel output of the 1x1 expansion (conv + BN + ReLU6) of the *first*
block of the 160-channel stage (stride 16) and from the final 1280-channel
1x1 conv (stride 32). mmdet's SSDLite taps the 96-channel block output
instead, a smaller and cheaper head (4.23M / 0.75G vs the paper's 4.32M /
0.81G).

This subclass keeps mmpretrain's module names, so a checkpoint of the
ImageNet-100 classifier (``backbone.*``, exported with
``tools/model_converters/export_backbone.py``) loads into it strictly. It only
changes what ``forward`` returns: the expansion outputs of the first block of
the stages in ``expansion_out_indices`` and the stage outputs of
``out_indices``, in network order.
"""
from typing import Sequence, Tuple

from mmengine.registry import MODELS
from mmpretrain.models.backbones import MobileNetV2
from torch import Tensor


@MODELS.register_module()
class FNAMobileNetV2(MobileNetV2):
    """MobileNetV2 that also returns first-block expansion outputs (FNA's taps).

    Args:
        expansion_out_indices: stage indices (as ``out_indices``: 0 = layer1 ...
            6 = layer7) whose first inverted-residual block's expansion output
            (after its BN and activation) is returned. FNA's SSDLite: ``(5,)``,
            the 576 channels of ``layer6[0].conv[0]``.
        out_indices: stage outputs to return, as in mmpretrain (FNA: ``(7,)``,
            the 1280-channel ``conv2``).
        **kwargs: mmpretrain ``MobileNetV2`` arguments (``widen_factor``,
            ``norm_cfg``, ``frozen_stages``, ``init_cfg`` ...).
    """

    def __init__(self, expansion_out_indices: Sequence[int] = (5, ),
                 out_indices: Sequence[int] = (7, ), **kwargs) -> None:
        super().__init__(out_indices=out_indices, **kwargs)
        self.expansion_out_indices = tuple(int(i) for i in expansion_out_indices)
        for index in self.expansion_out_indices:
            if index not in range(len(self.arch_settings)):
                raise ValueError('expansion_out_indices: each index must be a stage with '
                                 f'inverted-residual blocks, 0..{len(self.arch_settings) - 1}; '
                                 f'got {index}')
            if self.arch_settings[index][0] == 1:
                raise ValueError(f'expansion_out_indices: stage {index} (layer{index + 1}) has '
                                 'expand_ratio 1, no expansion conv to tap')
        if self.with_cp and self.expansion_out_indices:
            raise ValueError('with_cp=True is not supported with expansion_out_indices')

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        x = self.conv1(x)
        outs = []
        for i, layer_name in enumerate(self.layers):
            layer = getattr(self, layer_name)
            if i in self.expansion_out_indices:
                first = layer[0]
                expanded = first.conv[0](x)
                outs.append(expanded)
                y = first.conv[1:](expanded)
                x = x + y if first.use_res_connect else y
                x = layer[1:](x)
            else:
                x = layer(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
