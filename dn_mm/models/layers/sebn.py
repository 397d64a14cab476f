"""SE-BN: a standard Squeeze-and-Excitation block in front of BN (paper Eq. 3-5).

The paper's Table 2 baseline, against which DN-B is compared: DN-B generates
BN's scale and shift, SE-BN rescales BN's *input*:

    a = sigmoid(FC2(ReLU(FC1(GAP(x)))))   (FCs with biases, C -> C/r -> C)
    y = BN(a * x)

The statistics of ``a * x`` follow from those of ``x`` (per-sample mean
``a * m``, variance ``a^2 * v``), so like DN-B it takes one reduction pass and
one multiply-add pass; ``a * x`` is never materialised.
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .dynamic_norm import DynamicNormBase
from .registry import build_activation, register_dn_layer
from .sc_module import check_r


@register_dn_layer('SEBN')
class SEBN(DynamicNormBase):
    """SE block followed by BN.

    Args:
        num_features: C.
        r: SE reduction ratio (hidden = max(floor(C / r), 1)).
        affine, eps, momentum, track_running_stats: as ``nn.BatchNorm2d``.
        act_cfg: the SE block's hidden activation, ReLU by default (the paper's);
            a dict for mmcv's ``build_activation_layer``, as DN-B's ``act_cfg``.
    """

    def __init__(self, num_features: int, r: int = 16, affine: bool = True,
                 eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 track_running_stats: bool = True, act_cfg: Optional[dict] = None):
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine,
                         track_running_stats=track_running_stats)
        self.r = check_r(r)
        hidden = max(num_features // r, 1)
        self.fc1 = nn.Linear(num_features, hidden)
        self.act = build_activation(dict(type='ReLU') if act_cfg is None else act_cfg)
        self.fc2 = nn.Linear(hidden, num_features)

    @staticmethod
    def _linear(fc: nn.Linear, v: Tensor) -> Tensor:
        """``fc(v)`` in ``v``'s dtype (the statistics': fp32, or fp64 for fp64 inputs),
        whatever dtype the layer was cast to; the module call (which forward hooks, e.g.
        the complexity counter's, see) where the dtypes agree."""
        if fc.weight.dtype == v.dtype:
            return fc(v)
        return F.linear(v, fc.weight.to(v.dtype), fc.bias.to(v.dtype))

    def excitation(self, mean_n: Tensor) -> Tensor:
        return torch.sigmoid(self._linear(self.fc2, self.act(self._linear(self.fc1, mean_n))))

    def coefficients(self, mean_n: Tensor, var_n: Optional[Tensor], count_per_row: int):
        """``(scale, shift)`` (N, C) of ``y = BN(a * x) = x * scale + shift``."""
        a = self.excitation(mean_n)
        if self.uses_batch_stats:
            mean, var = self.batch_statistics(a * mean_n, a * a * var_n, count_per_row)
        else:
            mean, var = self.running_statistics()
        gamma, beta = self.static_affine(a)
        bn_scale = gamma * torch.rsqrt(var + self.eps)
        scale = a * bn_scale
        shift = (beta - mean * bn_scale).expand_as(scale)
        return scale, shift

    def extra_repr(self) -> str:
        return super().extra_repr() + f', r={self.r}'
