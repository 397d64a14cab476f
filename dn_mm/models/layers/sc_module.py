"""SC-Module: the small network that generates DN's scale and shift.

global-average-pooled input (N, C) -> FC1 (C -> hidden, no bias) -> activation
-> grouped FC2 (hidden -> 2C, no bias) -> (d_alpha, d_lambda), each (N, C).

The weights are plain ``nn.Parameter`` tensors on a class of our own rather
than ``nn.Linear`` / ``nn.Conv2d`` children. OpenMMLab models initialise by
layer type (``dict(type='Kaiming', layer='Conv2d')``, ``TruncNormal`` on
``Conv2d``, ``Normal`` on ``Linear``...), applied to every descendant. Had the
SC-Module used those layer types, a model-level ``init_weights()`` would
re-randomise FC2 and destroy DN's identity start (DN == BN at step 0).
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from ..weight_init import he_fout_std
from .registry import build_activation


def check_r(r: object) -> int:
    if isinstance(r, bool) or not isinstance(r, int) or r <= 0:
        raise ValueError(f'r (the SC-Module reduction ratio) must be a positive int, got {r!r}')
    return r


def check_g(g: object) -> Union[int, str]:
    if g == 'oup':
        return g
    if isinstance(g, bool) or not isinstance(g, int) or g <= 0:
        raise ValueError(f"g (FC2 input channels per group) must be 'oup' or a positive int, "
                         f"got {g!r}")
    return g


#: How the SC-Module's FCs start. 'zero_fc2': FC1 as ``nn.Linear``, FC2 zero, so
#: d_alpha = d_lambda = 0 (DN equals BN at step 0; the 'residual' form).
#: 'he_fout': both FCs as DenseNAS initialises its 1x1 convolutions (the paper's
#: code base, ``models/model_derived.py``, ``init_model(model_init='he_fout',
#: init_div_groups=True)``): N(0, 2 / n), n = out_channels / groups, i.e.
#: std sqrt(2 / hidden) for FC1 and sqrt(2 * groups / 2C) for FC2.
INIT_MODES = ('zero_fc2', 'he_fout')


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f'{name} must be one of {choices}, got {value!r}')
    return value


def sc_widths(num_features: int, r: int, g: Union[int, str]) -> Tuple[int, int]:
    """Return ``(hidden, groups)`` of the SC-Module for C channels.

    ``hidden = floor(C / r)`` as in the paper, at least 1. With ``g='oup'``
    FC2 is one group (a plain FC). With an int ``g`` FC2 has ``hidden / g``
    groups of ``g`` input channels, so ``hidden`` is rounded up to a multiple
    of ``g`` (the paper's MobileNetV2 r=16, g=2/4 layers need it; this keeps its
    parameter counts within 0.5%), and further up until the number of groups
    divides the 2C outputs, which a grouped FC requires.
    """
    check_r(r)
    check_g(g)
    hidden = max(num_features // r, 1)
    if g == 'oup':
        return hidden, 1
    groups = max(math.ceil(hidden / g), 1)
    while (2 * num_features) % groups:
        groups += 1
    return groups * g, groups


def grouped_linear(h: torch.Tensor, weight: torch.Tensor, groups: int) -> torch.Tensor:
    """A grouped FC: (..., in) -> (..., out), ``weight`` (out, in / groups), contiguous groups.

    The layout of a grouped 1x1 convolution's weight without its spatial dims;
    plain torch operators only (it also runs in exported graphs).
    """
    if groups == 1:
        return F.linear(h, weight)
    lead = h.shape[:-1]
    out_features, per_group = weight.shape
    if per_group == 1:  # g=1: each hidden unit feeds its own outputs, a broadcast multiply
        out = h.unsqueeze(-1) * weight.view(groups, -1)
        return out.reshape(*lead, out_features)
    hg = h.reshape(-1, groups, per_group)
    wg = weight.view(groups, -1, per_group)
    return torch.einsum('ngi,goi->ngo', hg, wg).reshape(*lead, out_features)


class SCModule(nn.Module):
    """Generates ``(d_alpha, d_lambda)`` of shape (N, C) from features (N, C).

    Args:
        num_features: C.
        r: reduction ratio of FC1 (hidden = floor(C / r)).
        g: FC2 input channels per group, or ``'oup'`` for a single group.
        act_cfg: activation between the two FCs (mmcv ``build_activation_layer``):
            ReLU by default, ``dict(type='Sigmoid')`` as in WeightNet.
        init: how the FCs start, one of :data:`INIT_MODES`. ``'zero_fc2'``
            (default): FC2 zero, so a fresh DN layer generates d_alpha =
            d_lambda = 0 and equals BN exactly; FC1 starts like ``nn.Linear`` so
            gradients reach FC2. ``'he_fout'``: the paper's code base's init.
    """

    def __init__(self, num_features: int, r: int = 16, g: Union[int, str] = 'oup',
                 act_cfg: Optional[dict] = None, init: str = 'zero_fc2'):
        super().__init__()
        self.init = check_choice('init', init, INIT_MODES)
        self.num_features = num_features
        self.r = check_r(r)
        self.g = check_g(g)
        self.hidden, self.groups = sc_widths(num_features, r, g)
        self.fc1 = nn.Parameter(torch.empty(self.hidden, num_features))
        # Grouped FC2 stored as (out, in_per_group), the layout of a grouped
        # 1x1 convolution's weight without its spatial dims.
        self.fc2 = nn.Parameter(torch.empty(2 * num_features, self.hidden // self.groups))
        self.act = build_activation(dict(type='ReLU') if act_cfg is None else act_cfg)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.init == 'he_fout':
            # a 1x1 conv's fan-out per group is its out_channels / groups
            nn.init.normal_(self.fc1, 0.0, he_fout_std(1, self.hidden))
            nn.init.normal_(self.fc2, 0.0, he_fout_std(1, 2 * self.num_features, self.groups))
        else:
            nn.init.kaiming_uniform_(self.fc1, a=math.sqrt(5))  # nn.Linear's default
            nn.init.zeros_(self.fc2)

    def init_weights(self) -> None:
        # mmengine calls ``init_weights`` of children after a parent's layer-type
        # init_cfg (which never matches our plain Parameters, but a user's
        # override may): restart in this module's own init, whatever ran before.
        self.reset_parameters()

    # The FCs run in the dtype of what they are given (the statistics: fp32, or fp64 for
    # fp64 inputs), whatever dtype the module was cast to; a no-op in the common case.
    def squeeze(self, v: torch.Tensor) -> torch.Tensor:
        """FC1, before the activation: (..., C) -> (..., hidden)."""
        return F.linear(v, self.fc1.to(v.dtype))

    def excite(self, h: torch.Tensor) -> torch.Tensor:
        """Activation and grouped FC2: (..., hidden) -> (..., 2C)."""
        return grouped_linear(self.act(h), self.fc2.to(h.dtype), self.groups)

    def forward(self, v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        out = self.excite(self.squeeze(v))
        return out[..., :self.num_features], out[..., self.num_features:]

    def mult_adds(self) -> int:
        """Multiply-adds of the two FCs for one sample (paper convention)."""
        return self.fc1.numel() + self.fc2.numel()

    def extra_repr(self) -> str:
        return (f'{self.num_features}, r={self.r}, g={self.g!r}, hidden={self.hidden}, '
                f'groups={self.groups}, init={self.init!r}')
