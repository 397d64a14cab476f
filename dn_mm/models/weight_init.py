"""DenseNAS's 'he_fout' initialisation, as an mmengine initializer (``type='HeFout'``).

DenseNAS (JaminFong/DenseNAS, ``models/model_derived.py``,
``MBV2_Net.init_model(model_init='he_fout', init_div_groups=True)``; the
paper's classification code base) draws every conv weight from
N(0, 2 / n), n = kh * kw * out_channels / groups. For a dense conv this is
mmengine's ``Kaiming`` (fan_out, normal); for a depthwise conv it is not:
torch's fan_out ignores ``groups`` (n = kh * kw * C), DenseNAS's divides by it
(n = kh * kw), a sqrt(C) larger std. The SC-Module's FCs use the same rule
(a 1x1 conv's fan-out per group, :mod:`dn_mm.models.layers.sc_module`).
"""
import math

from mmengine.model.weight_init import BaseInit, _get_bases_name, update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from torch import nn


def he_fout_std(kernel_area: int, out_channels: int, groups: int = 1) -> float:
    """std of DenseNAS's he_fout init: sqrt(2 / (kernel_area * out_channels / groups))."""
    return math.sqrt(2.0 * groups / (kernel_area * out_channels))


@WEIGHT_INITIALIZERS.register_module(name='HeFout')
class HeFoutInit(BaseInit):
    """``init_cfg=dict(type='HeFout', layer='Conv2d')``: DenseNAS's conv init; biases to
    ``bias``."""

    def __call__(self, module: nn.Module) -> None:
        def init(m: nn.Module) -> None:
            names = {m.__class__.__name__, *_get_bases_name(m)}
            if not isinstance(m, nn.modules.conv._ConvNd) or not set(self.layer) & names:
                return
            area = math.prod(m.kernel_size)
            nn.init.normal_(m.weight, 0.0, he_fout_std(area, m.out_channels, m.groups))
            if m.bias is not None:
                nn.init.constant_(m.bias, self.bias)

        module.apply(init)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())
