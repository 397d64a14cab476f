"""DN-B: Dynamic Normalization, batch- and channel-wise (the paper's Eq. 6-7).

    y = (x - E[x]) / sqrt(Var[x] + eps) * alpha + lambda,   alpha, lambda in R^(N x C)

E/Var are BN's statistics (batch statistics in training, running statistics
in eval); alpha and lambda are generated per sample by the SC-Module from the
global average pool of the layer's input. Two forms (see ``FORMS`` in
:mod:`~dn_mm.models.layers.dynamic_norm`):

* ``form='paper'``: Eq. 7 exactly, alpha and lambda are the SC-Module's
  outputs, no static gamma/beta, FCs started as the paper's code base starts
  its 1x1 convolutions. The paper's parameter counts.
* ``form='residual'``: dn_mm's variant. BN's gamma/beta stay and the
  SC-Module adds to them (alpha = gamma + d_alpha, lambda = beta + d_lambda;
  ``affine=False``: 1 + d_alpha, d_lambda) with FC2 started at zero, so a
  fresh layer computes exactly BN and BN checkpoints are an exact start.

Why it is computed the way it is: one reduction over H, W per sample gives the
per-sample means (the SC-Module's input) *and* variances, from which the
batch statistics follow by the law of total variance, so no second pass over
the input is needed for them. Normalisation, alpha and lambda then fold into
one scale and shift per sample and channel, applied in a single
multiply-add pass, in training and eval alike. In training those passes and
their backward are the hand-written functions of :mod:`dn_mm.models.layers.per_sample_affine`
(see :class:`~dn_mm.models.layers.dynamic_norm.DynamicNormBase`), which save only x, as BN does.
"""
from typing import Optional, Union

import torch
from torch import Tensor

from .dynamic_norm import (
    DEFAULT_FORM,
    SC_INIT_OF_FORM,
    DynamicNormBase,
    resolve_form,
    resolve_generator_options,
)
from .registry import register_dn_layer
from .sc_module import SCModule


@register_dn_layer(['DNB', 'DN-B'])
class DNB(DynamicNormBase):
    """DN-B layer, a drop-in replacement for ``nn.BatchNorm2d``.

    Args:
        num_features: C.
        r: SC-Module reduction ratio (hidden = floor(C / r)).
        g: FC2 input channels per group, or ``'oup'`` (one group, plain FC).
        form: ``'paper'`` (Eq. 7) or ``'residual'`` (on BN's gamma/beta).
        affine: static gamma/beta under the generated parts; None: as the form
            says (residual: True, paper: False; paper with True is an error).
        act_cfg: SC-Module activation (``dict(type='Sigmoid')`` as in WeightNet).
        sc_input: what the SC-Module reads: ``'raw'`` (GAP of x, as the paper)
            or ``'normalized'`` (GAP of BN's normalised x, scale-free).
        bound: ``'none'`` (Eq. 7 / gamma + d_alpha) or ``'tanh'`` (alpha =
            gamma * (1 + k tanh(.)), lambda = beta + k tanh(.)).
            ``act_cfg``, ``sc_input``, ``bound``: None takes the form's default
            (``DEFAULT_OPTIONS``: the paper form is Eq. 7 as written with ReLU,
            the residual form what the norm study chose).
        bound_range: k of ``bound='tanh'``.
        eps, momentum, track_running_stats: as ``nn.BatchNorm2d``.

    Use in any OpenMMLab config: ``norm_cfg=dict(type='DNB', r=16, g='oup')``.
    """

    def __init__(self, num_features: int, r: int = 16, g: Union[int, str] = 'oup',
                 form: str = DEFAULT_FORM, affine: Optional[bool] = None,
                 act_cfg: Optional[dict] = None, sc_input: Optional[str] = None,
                 bound: Optional[str] = None, bound_range: float = 0.5, eps: float = 1e-5,
                 momentum: Optional[float] = 0.1, track_running_stats: bool = True):
        sc_input, bound, act_cfg = resolve_generator_options(form, sc_input, bound,
                                                             bound_range, act_cfg)
        super().__init__(num_features, eps=eps, momentum=momentum,
                         affine=resolve_form(form, affine),
                         track_running_stats=track_running_stats)
        self.form = form
        self.sc_input, self.bound, self.bound_range = sc_input, bound, float(bound_range)
        self.sc = SCModule(num_features, r=r, g=g, act_cfg=act_cfg, init=SC_INIT_OF_FORM[form])

    def coefficients(self, mean_n: Tensor, var_n: Optional[Tensor], count_per_row: int):
        """Per-sample scale and shift (N, C), fp32, with y = x * scale + shift.

        Also returns alpha and lambda (N, C) for analysis tools. ``mean_n``,
        ``var_n``: per-sample moments over H, W (``var_n`` only in training).
        """
        if self.uses_batch_stats:
            mean, var = self.batch_statistics(mean_n, var_n, count_per_row)
        else:
            mean, var = self.running_statistics()
        inv_std = torch.rsqrt(var + self.eps)
        # 'normalized': the per-sample mean of BN's output before its affine, GAP(x_hat)
        sc_in = mean_n if self.sc_input == 'raw' else (mean_n - mean) * inv_std
        alpha, lam = self.affine_from_sc(self.sc(sc_in))
        scale = alpha * inv_std
        shift = torch.addcmul(lam, mean, scale, value=-1)  # lam - mean * scale
        return scale, shift, alpha, lam

    def scale_shift(self, x: Tensor):
        """Per-sample ``(scale, shift, alpha, lam)`` (N, C), fp32, for input ``x``.

        y = x * scale + shift; alpha and lambda are for analysis tools.
        """
        return self._coefficients_for(x)

    def extra_repr(self) -> str:
        return (super().extra_repr() + f', form={self.form!r}, r={self.sc.r}, g={self.sc.g!r}, '
                f'sc_input={self.sc_input!r}, bound={self.bound!r}'
                + (f', bound_range={self.bound_range}' if self.bound != 'none' else ''))
