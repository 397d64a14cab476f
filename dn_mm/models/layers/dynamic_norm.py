"""The BN part shared by DN-B, DN-C and SE-BN: statistics and static affine.

Each layer keeps a real ``nn.BatchNorm2d`` child, ``self.norm``, which owns
what BN owns (running statistics, ``weight``/``bias`` = gamma/beta, eps,
momentum), and the layer itself is *not* a ``_BatchNorm`` subclass. That split
is what makes DN behave in OpenMMLab and torch tooling:

* ``SyncBatchNorm.convert_sync_batchnorm`` and mmengine's
  ``convert_sync_batchnorm`` replace every ``_BatchNorm`` wholesale with a
  plain SyncBN. Here they only convert the child: the DN layer and its
  SC-Module survive, and :meth:`DynamicNormBase.batch_statistics` then reduces the
  statistics over the child's process group.
* ``norm_eval=True`` and ``frozen_stages`` walk ``model.modules()`` for
  ``_BatchNorm`` and call ``.eval()``: that reaches the child, so DN's
  statistics freeze like BN's. The layer reads the child's ``training`` flag.
* The optimizer constructor's ``norm_decay_mult`` applies to parameters
  directly owned by a ``_BatchNorm``: gamma/beta get it, the SC-Module not.
* mmcv's ``efficient_conv_bn_eval`` and ``fuse_conv_bn`` only fold
  ``_BatchNorm`` layers that directly follow a conv, so the dynamic part is
  never folded away.

BN checkpoints load directly: the flat keys ``<layer>.weight``,
``<layer>.running_mean``... are mapped onto ``<layer>.norm.*`` when loading.
"""
from contextlib import nullcontext
from typing import Optional, Tuple

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .per_sample_affine import affine_normalize, centred_var, sample_moments

BN_KEYS = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')

#: How DN-B / DN-C turn the SC-Module's outputs into alpha and lambda.
#: 'paper': Eq. 7 as written, alpha, lambda = the SC-Module's two outputs; no
#: static gamma/beta (BN child ``affine=False``), FCs started as the paper's
#: code base starts its 1x1 convolutions (``he_fout``).
#: 'residual': dn_mm's variant, alpha = gamma + d_alpha, lambda = beta + d_lambda
#: on BN's own gamma/beta (``affine=False``: 1 + d_alpha, d_lambda), FC2 started
#: at zero, so a fresh layer is exactly BN and a BN checkpoint is an exact start.
FORMS = ('paper', 'residual')
SC_INIT_OF_FORM = {'paper': 'he_fout', 'residual': 'zero_fc2'}
#: The form of a DNB / DNC whose config names none (see docs/study.md).
DEFAULT_FORM = 'residual'

#: What the SC-Module reads. 'raw': the per-sample mean of the layer's input x,
#: as the paper writes it; its scale follows the weights of the convolution in
#: front, which BN's output does not (the study's diagnosis). 'normalized': the
#: per-sample mean of BN's normalised features, (mean_n - E[x]) / sqrt(Var[x] + eps)
#: for DN-B (for DN-C, which sees batch statistics: E[x] / Std[x], and Std[x]
#: relative to the running std), scale-free as Attentive Normalization's input.
SC_INPUTS = ('raw', 'normalized')
#: How alpha/lambda are bounded around their start. 'none': Eq. 7 (paper) or
#: gamma + d_alpha, beta + d_lambda (residual). 'tanh': a bounded residual as
#: DY-ReLU bounds its coefficients, alpha = gamma * (1 + k * tanh(d_alpha)),
#: lambda = beta + k * tanh(d_lambda), k = ``bound_range`` (gamma, beta = 1, 0
#: without static gamma/beta, as in the paper form).
BOUNDS = ('none', 'tanh')
#: ``sc_input``, ``bound`` and ``act_cfg`` of a DNB / DNC whose config names them not, per
#: form: the paper form stays Eq. 7 as written (with SE's ReLU); the residual form's were
#: decided by the study (docs/study.md).
DEFAULT_OPTIONS = {'paper': dict(sc_input='raw', bound='none', act_cfg=dict(type='ReLU')),
                   'residual': dict(sc_input='normalized', bound='none',
                                    act_cfg=dict(type='Sigmoid'))}


def resolve_generator_options(form: str, sc_input: Optional[str], bound: Optional[str],
                              bound_range: float, act_cfg: Optional[dict]
                              ) -> Tuple[str, str, dict]:
    """Check the generator options every DN layer takes (see :data:`SC_INPUTS`, :data:`BOUNDS`);
    return ``(sc_input, bound, act_cfg)``, the form's defaults (:data:`DEFAULT_OPTIONS`) for
    those that are None."""
    defaults = DEFAULT_OPTIONS.get(form, DEFAULT_OPTIONS[DEFAULT_FORM])
    sc_input = defaults['sc_input'] if sc_input is None else sc_input
    bound = defaults['bound'] if bound is None else bound
    act_cfg = dict(defaults['act_cfg']) if act_cfg is None else act_cfg
    if sc_input not in SC_INPUTS:
        raise ValueError(f'sc_input must be one of {SC_INPUTS}, got {sc_input!r}')
    if bound not in BOUNDS:
        raise ValueError(f'bound must be one of {BOUNDS}, got {bound!r}')
    if (isinstance(bound_range, bool) or not isinstance(bound_range, (int, float))
            or not 0 < bound_range < float('inf')):
        raise ValueError(f'bound_range (k of the tanh bound) must be a positive number, '
                         f'got {bound_range!r}')
    return sc_input, bound, act_cfg


def resolve_form(form: str, affine: Optional[bool]) -> bool:
    """Check ``form`` and return the BN child's ``affine`` for it."""
    if form not in FORMS:
        raise ValueError(f'form must be one of {FORMS}, got {form!r}')
    if affine is not None and not isinstance(affine, bool):
        raise ValueError(f'affine must be True, False or None (the form decides), got {affine!r}')
    if form == 'paper':
        if affine:
            raise ValueError("affine=True conflicts with form='paper' (Eq. 7 has no static "
                             "gamma/beta): leave affine unset, or use form='residual'")
        return False
    return True if affine is None else affine


def _sync_group(norm: nn.Module):
    """Process group to reduce statistics over, or None when not syncing."""
    if not norm.training or not (dist.is_available() and dist.is_initialized()):
        return None
    if isinstance(norm, nn.SyncBatchNorm):
        group = norm.process_group
    elif type(norm).__name__ == 'SyncBatchNorm' and hasattr(norm, 'group'):  # mmcv.ops
        group = norm.group
    else:
        return None
    group = group if group is not None else dist.group.WORLD
    return group if dist.get_world_size(group) > 1 else None


def autocast_off(x: Tensor):
    """Statistics and the SC-Module run in float32 even under autocast."""
    if torch.is_autocast_enabled(x.device.type):
        return torch.autocast(device_type=x.device.type, enabled=False)
    return nullcontext()


def as_float(x: Tensor) -> Tensor:
    return x if x.dtype in (torch.float32, torch.float64) else x.float()


def spatial_mean(x: Tensor) -> Tensor:
    """Per-sample channel means (N, C), accumulated and returned in >= fp32."""
    if x.dtype in (torch.float32, torch.float64):
        return x.mean(dim=(2, 3))
    return x.mean(dim=(2, 3), dtype=torch.float32)


def plain_moments(x: Tensor, with_var: bool = True) -> Tuple[Tensor, Optional[Tensor]]:
    """Per-sample mean and biased variance (N, C) through plain autograd ops."""
    if not with_var:
        return spatial_mean(x), None
    x = as_float(x)
    mean_n = x.mean((2, 3))
    return mean_n, centred_var(x, mean_n)


class DynamicNormBase(nn.Module):
    """Base of the dynamic norm layers: owns the BN child and its statistics.

    A subclass defines :meth:`coefficients`, the small (N, C) graph from
    per-sample moments to ``scale``/``shift``, and :meth:`moments_needed`;
    the forward is then ``y = x * scale + shift`` in one pass.

    Args:
        num_features: C, channels of the (N, C, H, W) input.
        eps, momentum, track_running_stats: as ``nn.BatchNorm2d``.
        affine: keep BN's static gamma/beta (``norm.weight``/``norm.bias``).
    """

    _abbr_ = 'bn'  # build_norm_layer names the layer 'bn1' like BN's

    #: Run the big-tensor passes through :mod:`dn_mm.models.layers.per_sample_affine` (hand-written,
    #: once-differentiable backward). ``False`` (per class or instance): plain
    #: autograd, e.g. for double backward. Under ``torch.compile`` the plain path is
    #: taken whatever this says (see :meth:`uses_fast_path`).
    fast_path: bool = True

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: Optional[float] = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int) or num_features <= 0:
            raise ValueError(f'num_features must be a positive int, got {num_features!r}')
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps >= 0:
            raise ValueError(f'eps must be a number >= 0, got {eps!r}')
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(
                momentum, (int, float)) or not 0 <= momentum <= 1):
            raise ValueError(f'momentum must be None (cumulative average) or a number in [0, 1], '
                             f'got {momentum!r}')
        self.norm = nn.BatchNorm2d(num_features, eps=eps, momentum=momentum, affine=affine,
                                   track_running_stats=track_running_stats)

    # BN's attributes, so code written for BN (constant_init(m.norm2, 0) in
    # ResNet's zero_init_residual, checkpoint tools, logging) keeps working.
    num_features = property(lambda self: self.norm.num_features)
    affine = property(lambda self: self.norm.affine)
    weight = property(lambda self: self.norm.weight)
    bias = property(lambda self: self.norm.bias)
    running_mean = property(lambda self: self.norm.running_mean)
    running_var = property(lambda self: self.norm.running_var)
    num_batches_tracked = property(lambda self: self.norm.num_batches_tracked)

    @property
    def eps(self) -> float:
        return self.norm.eps

    @eps.setter
    def eps(self, value: float) -> None:
        self.norm.eps = value

    @property
    def momentum(self) -> Optional[float]:
        return self.norm.momentum

    @momentum.setter
    def momentum(self, value: Optional[float]) -> None:
        self.norm.momentum = value

    @property
    def uses_fast_path(self) -> bool:
        """The hand-written passes, in eager mode only.

        ``torch.compile`` traces the plain autograd ops instead: they are one graph
        with the rest of the model (no break at the autograd Functions' side
        channel, no data-dependent branch), which its compiler fuses, so a DN model
        compiles to as many graphs as the BN model and none per channel width.
        """
        return self.fast_path and not torch.compiler.is_compiling()

    @property
    def uses_batch_stats(self) -> bool:
        norm = self.norm
        return norm.training or norm.running_mean is None

    def check_input(self, x: Tensor) -> None:
        if not isinstance(x, Tensor) or x.dim() != 4:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f'{type(self).__name__} expects a 4-D input (N, C, H, W), got {shape}')
        if not x.is_floating_point():
            raise ValueError(f'{type(self).__name__} expects a floating-point input (float32, '
                             f'float64, bfloat16, float16), got {x.dtype}')
        if x.size(1) != self.num_features:
            raise ValueError(f'{type(self).__name__} was built for {self.num_features} channels '
                             f'(num_features), got input with {x.size(1)} channels')
        if self.uses_batch_stats:
            n, _, h, w = x.shape
            if n * h * w == 0:
                raise ValueError(
                    f'{type(self).__name__} got an empty input of size {tuple(x.shape)} when '
                    'training (batch statistics): it has no statistics to normalise with')
            if n * h * w == 1:
                raise ValueError(
                    f'{type(self).__name__} expected more than 1 value per channel when training '
                    f'(batch statistics), got input of size {tuple(x.shape)}: '
                    'use a batch size > 1, '
                    'or norm_eval=True to normalise with the running statistics')

    def moments_needed(self) -> str:
        """Per-sample moments :meth:`coefficients` reads: 'mean_var', 'mean' or 'none'."""
        return 'mean_var' if self.uses_batch_stats else 'mean'

    def coefficients(self, mean_n: Optional[Tensor], var_n: Optional[Tensor], count_per_row: int):
        """``(scale, shift, *extra)`` from per-sample moments; scale/shift (N, C) or (C,)."""
        raise NotImplementedError

    def _coefficients_for(self, x: Tensor):
        """``(scale, shift, *extra)`` of :meth:`coefficients` for input ``x``, >= fp32."""
        stats = self.moments_needed()
        with autocast_off(x):
            mean_n = var_n = None
            if stats != 'none':
                moments = sample_moments if self.uses_fast_path else plain_moments
                mean_n, var_n = moments(x, stats == 'mean_var')
            return self.coefficients(mean_n, var_n, x.shape[2] * x.shape[3])

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        if x.numel() == 0:  # eval on an empty batch: nothing to normalise, as BN
            return x.clone()
        n, c, h, w = x.shape
        # scale/shift in the statistics' dtype (fp32, or fp64 for fp64 x), whatever the
        # dtype of the layer's parameters and buffers (layer.double(), layer.bfloat16())
        dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32

        def coefficients(mean_n, var_n):
            scale, shift = self.coefficients(mean_n, var_n, h * w)[:2]
            if scale.dim() == 1:  # batch-shared (DN-C)
                scale, shift = scale.expand(n, c), shift.expand(n, c)
            return scale.to(dtype), shift.to(dtype)

        stats = self.moments_needed()
        with autocast_off(x):
            if self.uses_fast_path:
                y, _ = affine_normalize(x, coefficients, stats)
            else:
                mean_n, var_n = (None, None) if stats == 'none' else plain_moments(
                    x, stats == 'mean_var')
                scale, shift = coefficients(mean_n, var_n)
                y = torch.addcmul(shift[:, :, None, None], x, scale[:, :, None, None])
        return y.to(x.dtype)

    def affine_from_sc(self, sc_out: Tuple[Tensor, Tensor]) -> Tuple[Tensor, Tensor]:
        """alpha, lambda from the SC-Module's two outputs, as ``form`` and ``bound`` say.

        Only DNB and DNC call this; they set ``form``, ``bound`` and ``bound_range``.
        """
        d_alpha, d_lambda = sc_out
        if self.bound == 'tanh':
            gamma, beta = self.static_affine(d_alpha)  # 1, 0 in the paper form (affine=False)
            k = self.bound_range
            return gamma * (1 + k * torch.tanh(d_alpha)), beta + k * torch.tanh(d_lambda)
        if self.form == 'paper':
            return d_alpha, d_lambda
        gamma, beta = self.static_affine(d_alpha)
        return d_alpha + gamma, d_lambda + beta

    def static_affine(self, ref: Tensor) -> Tuple[Tensor, Tensor]:
        """gamma, beta (C,), or 1, 0 with ``affine=False``."""
        if self.norm.affine:
            return as_float(self.norm.weight), as_float(self.norm.bias)
        c = self.num_features
        return ref.new_ones(c), ref.new_zeros(c)

    def batch_statistics(self, mean_rows: Tensor, var_rows: Tensor,
                         count_per_row: int) -> Tuple[Tensor, Tensor]:
        """Batch mean and (biased) variance (C,) from row moments (R, C).

        Rows are samples (per-sample moments over H, W) or one row of moments
        over N, H, W; ``count_per_row`` is the element count behind a row.
        Reduces over the SyncBN child's process group (differentiably) and
        updates the running statistics exactly as ``nn.BatchNorm2d``.
        """
        rows = mean_rows.shape[0]
        # law of total variance: within-row variance + variance of row means
        if rows > 1:
            var_of_means, mean = torch.var_mean(mean_rows, 0, correction=0)
            var = var_rows.mean(0) + var_of_means
        else:
            mean, var = mean_rows[0], var_rows[0]
        count = rows * count_per_row
        group = _sync_group(self.norm)
        if group is not None:
            from torch.distributed.nn.functional import all_reduce
            packed = torch.stack([mean * count, (var + mean * mean) * count])
            packed = all_reduce(packed, op=dist.ReduceOp.SUM, group=group)
            total = torch.tensor([float(count)], device=mean.device)
            dist.all_reduce(total, group=group)
            count = int(total.item())
            mean = packed[0] / count
            var = (packed[1] / count - mean * mean).clamp_min(0)
        self._update_running_stats(mean, var, count)
        return mean, var

    @torch.no_grad()
    def _update_running_stats(self, mean: Tensor, var: Tensor, count: int) -> None:
        norm = self.norm
        if not (norm.training and norm.track_running_stats):
            return
        norm.num_batches_tracked.add_(1)
        factor = (1.0 / float(norm.num_batches_tracked) if norm.momentum is None
                  else norm.momentum)
        unbiased = var * (count / max(count - 1, 1))
        norm.running_mean.lerp_(mean.to(norm.running_mean.dtype), factor)
        norm.running_var.lerp_(unbiased.to(norm.running_var.dtype), factor)

    def running_statistics(self) -> Tuple[Tensor, Tensor]:
        return as_float(self.norm.running_mean), as_float(self.norm.running_var)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        # A BN checkpoint stores gamma/beta/statistics at the layer's own
        # prefix; map them onto the BN child so BN weights load directly. A
        # layer without static gamma/beta (form='paper') has no place for BN's:
        # they are dropped (the statistics still load), so a BN checkpoint
        # starts the paper's model as its code base would, from the statistics
        # and convolutions, and strict loading does not fail on them.
        for key in BN_KEYS:
            flat, nested = prefix + key, prefix + 'norm.' + key
            if flat in state_dict and nested not in state_dict:
                value = state_dict.pop(flat)
                if key in ('weight', 'bias') and not self.norm.affine:
                    continue
                state_dict[nested] = value
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return (f'{self.num_features}, eps={self.eps}, momentum={self.momentum}, '
                f'affine={self.affine}')
