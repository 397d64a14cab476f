"""DN-B: Dynamic Normalization, batch- and channel-wise (the paper's Eq. 6-7).

    y = (x - E[x]) / sqrt(Var[x] + eps) * alpha + lambda,   alpha, lambda in R^(N x C)

E/Var are BN's statistics (batch statistics in training, running statistics
in eval); alpha and lambda are generated per sample by the SC-Module from the
global average pool of the layer's input. With ``affine=True`` (default) BN's
own gamma/beta stay and the SC-Module adds to them: alpha = gamma + d_alpha,
lambda = beta + d_lambda. ``affine=False`` is the paper's exact model:
alpha = 1 + d_alpha, lambda = d_lambda.

Why it is computed the way it is: one reduction over H, W per sample gives the
per-sample means (the SC-Module's input) *and* variances, from which the
batch statistics follow by the law of total variance, so no second pass over
the input is needed for them. Normalisation, alpha and lambda then fold into
one scale and shift per sample and channel, applied in a single
multiply-add pass (``addcmul``), in training and eval alike.
"""
from typing import Optional, Union

import torch
from torch import Tensor

from .bn_role import BNRoleNorm, as_float, autocast_off, spatial_mean
from .sc_module import SCModule


class DNB(BNRoleNorm):
    """DN-B layer, a drop-in replacement for ``nn.BatchNorm2d``.

    Args:
        num_features: C.
        r: SC-Module reduction ratio (hidden = floor(C / r)).
        g: FC2 input channels per group, or ``'oup'`` (one group, plain FC).
        affine: keep BN's static gamma/beta under the generated parts.
        act_cfg: SC-Module activation, ReLU by default.
        eps, momentum, track_running_stats: as ``nn.BatchNorm2d``.

    Use in any OpenMMLab config: ``norm_cfg=dict(type='DNB', r=16, g='oup')``.
    """

    def __init__(self, num_features: int, r: int = 16, g: Union[int, str] = 'oup',
                 affine: bool = True, act_cfg: Optional[dict] = None, eps: float = 1e-5,
                 momentum: Optional[float] = 0.1, track_running_stats: bool = True):
        super().__init__(num_features, eps=eps, momentum=momentum, affine=affine,
                         track_running_stats=track_running_stats)
        self.sc = SCModule(num_features, r=r, g=g, act_cfg=act_cfg)

    def scale_shift(self, x: Tensor):
        """Per-sample scale and shift (N, C), fp32, with y = x * scale + shift.

        Also returns alpha and lambda (N, C) for analysis tools.
        """
        n, c, h, w = x.shape
        if self.uses_batch_stats:
            var_n, mean_n = torch.var_mean(as_float(x), dim=(2, 3), correction=0)
            mean, var = self.batch_statistics(mean_n, var_n, h * w)
        else:
            mean_n = spatial_mean(x)
            mean, var = self.running_statistics()
        d_alpha, d_lambda = self.sc(mean_n)
        gamma, beta = self.static_affine(d_alpha)
        alpha = d_alpha + gamma
        lam = d_lambda + beta
        scale = alpha * torch.rsqrt(var + self.eps)
        shift = lam - mean * scale
        return scale, shift, alpha, lam

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        with autocast_off(x):
            scale, shift, _, _ = self.scale_shift(x)
            y = torch.addcmul(shift[:, :, None, None], x, scale[:, :, None, None])
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return super().extra_repr() + f', r={self.sc.r}, g={self.sc.g!r}'
