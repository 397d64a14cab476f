"""DN-C: Dynamic Normalization, batch-shared and channel-wise.

The SC-Module sees the batch statistics E[X] and Std[X] = sqrt(Var[X] + eps)
(running statistics in eval) through the same weights, and generates one
alpha, lambda (C,) for the whole batch. The two branches are added after FC1
(``fuse='fc1'``, the paper's DN-C1) or after FC2 (``fuse='fc2'``, DN-C2). The
paper reports that DN-C does not train (NaN, Table 1); it is here to
reproduce that result. DN-C with ``g=1`` has the parameter count of DN-B (r, 1).
"""
from typing import Optional, Union

import torch
from torch import Tensor

from .dynamic_norm import (
    DEFAULT_FORM,
    SC_INIT_OF_FORM,
    DynamicNormBase,
    as_float,
    resolve_form,
    resolve_generator_options,
)
from .registry import register_dn_layer
from .sc_module import SCModule

FUSE_POINTS = ('fc1', 'fc2')


@register_dn_layer(['DNC', 'DN-C'])
class DNC(DynamicNormBase):
    """DN-C layer.

    Args:
        num_features: C.
        r, g, act_cfg: SC-Module settings, as in :class:`~dn_mm.DNB`.
        fuse: ``'fc1'`` (DN-C1) or ``'fc2'`` (DN-C2): where the E[X] and
            Std[X] branches are summed.
        sc_input: ``'raw'`` (the paper: E[x], Std[x]) or ``'normalized'``
            (scale-free: E[x] / Std[x], and Std[x] / sqrt(running var + eps),
            which needs running statistics).
        form, affine, bound, bound_range, eps, momentum, track_running_stats:
            as :class:`~dn_mm.DNB`.
    """

    def __init__(self, num_features: int, r: int = 16, g: Union[int, str] = 'oup',
                 fuse: str = 'fc1', form: str = DEFAULT_FORM, affine: Optional[bool] = None,
                 act_cfg: Optional[dict] = None, sc_input: Optional[str] = None,
                 bound: Optional[str] = None, bound_range: float = 0.5, eps: float = 1e-5,
                 momentum: Optional[float] = 0.1, track_running_stats: bool = True):
        sc_input, bound, act_cfg = resolve_generator_options(form, sc_input, bound,
                                                             bound_range, act_cfg)
        if sc_input == 'normalized' and not track_running_stats:
            raise ValueError("DNC with sc_input='normalized' reads Std[x] relative to the running "
                             "std: it needs track_running_stats=True (or sc_input='raw')")
        if fuse not in FUSE_POINTS:
            raise ValueError(f'fuse must be one of {FUSE_POINTS} (DN-C1 / DN-C2), got {fuse!r}')
        super().__init__(num_features, eps=eps, momentum=momentum,
                         affine=resolve_form(form, affine),
                         track_running_stats=track_running_stats)
        self.fuse = fuse
        self.form = form
        self.sc_input, self.bound, self.bound_range = sc_input, bound, float(bound_range)
        self.sc = SCModule(num_features, r=r, g=g, act_cfg=act_cfg, init=SC_INIT_OF_FORM[form])

    def moments_needed(self) -> str:
        # batch statistics follow from per-sample moments (law of total
        # variance, one pass); in eval nothing depends on x
        return 'mean_var' if self.uses_batch_stats else 'none'

    def coefficients(self, mean_n, var_n, count_per_row: int):
        """Batch-shared scale and shift (C,), plus alpha and lambda (C,)."""
        if self.uses_batch_stats:
            mean, var = self.batch_statistics(mean_n, var_n, count_per_row)
        else:
            mean, var = self.running_statistics()
        c = self.num_features
        std = torch.sqrt(var + self.eps)
        first, second = mean, std
        if self.sc_input == 'normalized':  # scale-free: E/Std, and Std relative to the running std
            first = mean / std
            second = std * torch.rsqrt(as_float(self.norm.running_var) + self.eps)
        sc = self.sc
        if self.fuse == 'fc1':
            out = sc.excite(sc.squeeze(first) + sc.squeeze(second))
        else:
            out = sc.excite(sc.squeeze(first)) + sc.excite(sc.squeeze(second))
        alpha, lam = self.affine_from_sc((out[:c], out[c:]))
        scale = alpha / std
        shift = lam - mean * scale
        return scale, shift, alpha, lam

    def scale_shift(self, x: Tensor):
        """Batch-shared ``(scale, shift, alpha, lam)`` (C,) for input ``x``."""
        return self._coefficients_for(x)

    def extra_repr(self) -> str:
        return (super().extra_repr()
                + f', form={self.form!r}, r={self.sc.r}, g={self.sc.g!r}, fuse={self.fuse!r}, '
                f'sc_input={self.sc_input!r}, bound={self.bound!r}'
                + (f', bound_range={self.bound_range}' if self.bound != 'none' else ''))
