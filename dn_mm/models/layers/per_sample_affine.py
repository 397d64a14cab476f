"""Fast training path of the dynamic norm layers: per-sample affine normalisation.

DN-B (and SE-BN, DN-C) compute ``y = x * scale[n, c] + shift[n, c]`` where
``scale``/``shift`` come from per-sample moments of ``x`` (mean_n, var_n over
H, W) through a *small* graph on (N, C) tensors: batch statistics by the law of
total variance, the SC-Module, gamma/beta. Only the two ends touch the big
tensor, and those are hand-written here; the small graph stays in ordinary
autograd (so SyncBN's differentiable all-reduce and every parameter gradient
work as before)::

    mean_n, var_n = sample_moments(x)                # reductions over H, W
    scale, shift  = <small graph, autograd>          # (N, C)
    y             = sample_affine(x, scale, shift)   # one multiply-add pass

Backward, with g = dL/dy::

    gscale = sum_hw(g * x),  gshift = sum_hw(g)      # one pass over g and x
    <small graph backward>  -> gmean_n, gvar_n
    dx = g * scale + x * a + b,  a = 2 gvar_n / HW,  b = gmean_n / HW - a mean_n

Used alone, each function returns its own x-gradient (``g * scale`` and
``x * a + b``), which autograd then adds: extra full-tensor passes and a
second x-sized buffer. :func:`affine_normalize` pairs the two through a
:class:`GradLink`: the affine's backward only reduces and hands ``g`` and
``scale`` on, and the moments' backward writes ``dx`` (``x * a + b``, then
``+= g * scale`` in place). Nothing is saved beyond ``x`` (which BN saves too)
and (N, C) tensors.

On CPU with contiguous (NCHW) tensors the passes run on BN's own kernels, with
``x`` viewed as a batch of one with N*C channels: eval-mode ``native_batch_norm``
with mean 0, var 1, eps 0 is the per-row multiply-add, and its eval-mode
backward returns ``sum(g * (x - m))`` and ``sum(g)`` per row in one pass,
accumulated in fp32 for bf16/fp16 inputs, whose outputs keep the input dtype.
The variance takes two reads of x, like BN's own CPU kernel: the mean, then
``sum(x * (x - mean))`` (checked for cancellation, see :data:`ILL_CONDITIONED`).
Elsewhere (CUDA, channels-last, small tensors) the same maths runs on plain
torch ops.
Statistics are fp32 (fp64 for fp64 inputs). The functions are
once-differentiable: layers with ``fast_path = False`` support double backward.
"""
from typing import Callable, Optional, Tuple

import torch
from torch import Tensor
from torch.autograd import Function
from torch.autograd.function import once_differentiable

__all__ = ['GradLink', 'sample_moments', 'sample_affine', 'affine_normalize', 'row_affine',
           'centred_var']


def _stat_dtype(x: Tensor) -> torch.dtype:
    return x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32


#: Smallest input (elements) for BN's kernels; smaller tensors take the plain
#: ops, which have less fixed cost there and open no OpenMP region (BN's
#: kernels always do: a stall whenever the CPUs are shared).
MIN_BN_KERNEL_NUMEL = 1 << 15


def _bn_kernels(x: Tensor, other: Optional[Tensor] = None) -> bool:
    """Whether BN's CPU kernels can run the per-(n, c) passes on these tensors.

    Never while ``torch.compile`` traces: the plain ops are what its compiler fuses.
    """
    return (x.device.type == 'cpu' and x.numel() >= MIN_BN_KERNEL_NUMEL and x.is_contiguous()
            and (other is None or other.is_contiguous())
            and not torch.compiler.is_compiling())


def _rows(t: Tensor) -> Tensor:
    """(N, C, H, W) contiguous -> (1, N*C, H, W): BN's channels are our rows."""
    n, c, h, w = t.shape
    return t.view(1, n * c, h, w)


_CONSTANTS = {}


def _zeros_ones(rows: int, like: Tensor) -> Tuple[Tensor, Tensor]:
    """Read-only zeros and ones (rows,): BN's mean 0 / var 1, so that it applies no statistics."""
    key = (rows, like.dtype, like.device)
    found = _CONSTANTS.get(key)
    if found is None:
        if len(_CONSTANTS) > 64:
            _CONSTANTS.clear()
        with torch.inference_mode(False), torch.no_grad():  # plain tensors whatever the mode
            found = _CONSTANTS[key] = (like.new_zeros(rows), like.new_ones(rows))
    return found


def row_affine(x: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """``x * scale + shift`` with (N, C) scale/shift, in x's dtype; no autograd to scale/shift.

    Also the pass of dn_mm.deployment's folded layers, where nothing needs a gradient.
    """
    if _bn_kernels(x):
        flat = scale.reshape(-1)
        zeros, ones = _zeros_ones(flat.numel(), flat)
        y = torch.empty_like(x)  # written through a view, returned as its own base
        torch.ops.aten.native_batch_norm.out(
            _rows(x), flat, shift.reshape(-1), zeros, ones, False, 0.0, 0.0,
            out=_rows(y), save_mean=flat.new_empty(0), save_invstd=flat.new_empty(0))
        return y
    return torch.addcmul(shift[:, :, None, None], x, scale[:, :, None, None]).to(x.dtype)


def _row_scale(g: Tensor, scale: Tensor) -> Tensor:
    """``g * scale`` with (N, C) scale, in g's dtype."""
    if _bn_kernels(g):
        return row_affine(g, scale, _zeros_ones(scale.numel(), scale)[0].view_as(scale))
    return (g * scale[:, :, None, None]).to(g.dtype)


def _row_sums(g: Tensor, x: Tensor, center: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """``(sum_hw(g * (x - center)), sum_hw(g))`` per (n, c), in the stats dtype."""
    n, c = x.shape[:2]
    dtype = _stat_dtype(x)
    if _bn_kernels(g, x):
        zeros, ones = _zeros_ones(n * c, x.new_empty(0, dtype=dtype))
        _, dot, total = torch.ops.aten.native_batch_norm_backward(
            _rows(g), _rows(x), None, zeros if center is None else center.reshape(-1), ones,
            None, None, False, 0.0, [False, True, True])
        return dot.view(n, c), total.view(n, c)
    xc = x if center is None else x - center[:, :, None, None].to(x.dtype)
    return (g * xc).sum((2, 3), dtype=dtype), g.sum((2, 3), dtype=dtype)


#: The one-pass variance below rounds like ~5e-7 * mean_n^2 (fp32). Where that
#: is not small against the batch variance (batch-level mean^2 / var above this
#: ratio, i.e. ~1e-5 relative error), the variance is recomputed on centred data.
ILL_CONDITIONED = 32.0


def centred_var(x: Tensor, mean: Tensor) -> Tensor:
    """Biased variance over H, W (N, C) from ``x`` and its mean (N, C), two-pass.

    Not ``torch.var_mean``: on CPU its reduction over the inner dims of a small
    tensor takes ~10x the time of these two plain passes (1 ms against 0.1 ms for
    (8, 96, 16, 16), one thread), which made small-feature-map DN runs slow.
    """
    return (x - mean[:, :, None, None]).square().mean((2, 3))


def _moments(x: Tensor, with_var: bool) -> Tuple[Tensor, Optional[Tensor]]:
    """Per-sample mean and biased variance over H, W (N, C), in the stats dtype."""
    dtype = _stat_dtype(x)
    hw = x.shape[2] * x.shape[3]
    if x.dtype == dtype:
        mean = x.mean((2, 3))
    elif hw >= 1024 and _bn_kernels(x):  # large bf16/fp16 rows: fp32 sums without an fp32 copy
        mean = _row_sums(x, x)[1].div_(hw)
    else:
        mean = x.mean((2, 3), dtype=dtype)
    if not with_var:
        return mean, None
    if not _bn_kernels(x):
        return mean, centred_var(x.to(dtype), mean)
    # Two passes: the mean (cascade sum), then sum(x * (x - mean)) in one call of
    # BN's backward reduction; sum(x - mean) is rounding-level, so that is
    # sum((x - mean)^2) up to the rounding bounded below.
    var = _row_sums(x, x, mean)[0].div_(hw).clamp_min_(0)
    if dtype != torch.float64:
        # batch-level E[m^2] against the batch variance E[var] + E[m^2] - E[m]^2
        mean_sq = mean.square().mean(0)
        batch_mean = mean.mean(0)
        batch_var = var.mean(0).add_(mean_sq).addcmul_(batch_mean, batch_mean, value=-1)
        if bool((mean_sq > batch_var.mul_(ILL_CONDITIONED)).any()):
            var = _centred_var(x, mean)
    return mean, var


def _centred_var(x: Tensor, mean: Tensor) -> Tensor:
    """Biased variance from sums over ``x - mean`` (a temporary), free of cancellation."""
    hw = x.shape[2] * x.shape[3]
    xc = row_affine(x.to(mean.dtype), torch.ones_like(mean), -mean)
    dot, total = _row_sums(xc, xc)
    drift = total / hw
    return (dot / hw - drift * drift).clamp_min_(0)


class GradLink:
    """Carries ``g`` and ``scale`` from the affine's backward to the moments' backward."""

    __slots__ = ('grad', 'scale')

    def __init__(self):
        self.grad = self.scale = None

    def take(self):
        grad, scale = self.grad, self.scale
        self.grad = self.scale = None
        return grad, scale


class _SampleMoments(Function):

    @staticmethod
    def forward(ctx, x: Tensor, with_var: bool, link: Optional[GradLink]):
        mean, var = _moments(x, with_var)
        ctx.save_for_backward(x, mean)
        ctx.link = link
        ctx.set_materialize_grads(False)
        token = mean.new_empty(0)  # makes the affine depend on this node: see affine_normalize
        return mean, (mean.new_empty(0) if var is None else var), token

    @staticmethod
    @once_differentiable
    def backward(ctx, gmean: Optional[Tensor], gvar: Optional[Tensor], _token):
        x, mean = ctx.saved_tensors
        hw = x.shape[2] * x.shape[3]
        # dx = (gmean + 2 gvar (x - mean)) / HW [+ g * scale] = x * a + b [+ g * scale]
        if gvar is not None and gvar.numel():
            a = gvar * (2.0 / hw)
            b = (a * mean).neg_() if gmean is None else torch.addcmul(gmean / hw, a, mean, value=-1)
        else:
            a = torch.zeros_like(mean)
            b = torch.zeros_like(mean) if gmean is None else gmean / hw
        grad, scale = ctx.link.take() if ctx.link is not None else (None, None)
        dx = row_affine(x, a, b)
        if grad is not None:
            if dx.dtype == scale.dtype:
                dx.addcmul_(grad, scale[:, :, None, None])
            else:  # bf16/fp16: a mixed-dtype addcmul_ would copy its inputs to fp32
                dx.add_(_row_scale(grad, scale))
        return dx, None, None


class _SampleAffine(Function):

    @staticmethod
    def forward(ctx, x: Tensor, scale: Tensor, shift: Tensor, token: Optional[Tensor],
                link: Optional[GradLink]):
        ctx.save_for_backward(x, scale)
        ctx.link = link
        return row_affine(x, scale, shift)

    @staticmethod
    @once_differentiable
    def backward(ctx, g: Tensor):
        x, scale = ctx.saved_tensors
        need_x, need_scale, need_shift, need_token = ctx.needs_input_grad[:4]
        gscale = gshift = gx = gtoken = None
        if need_scale or need_shift:
            gscale, gshift = _row_sums(g, x)
        if need_x:
            if ctx.link is not None:  # the moments' backward writes dx once
                ctx.link.grad, ctx.link.scale = g, scale
            else:
                gx = _row_scale(g, scale)
        if need_token:
            gtoken = x.new_zeros(0, dtype=scale.dtype)
        return gx, gscale, gshift, gtoken, None


def sample_moments(x: Tensor, with_var: bool = True) -> Tuple[Tensor, Optional[Tensor]]:
    """Per-sample mean and biased variance over H, W: (N, C) each, fp32 (fp64 for fp64 x).

    ``with_var=False`` skips the variance (returns None for it).
    """
    mean, var, _ = _SampleMoments.apply(x, with_var, None)
    return mean, (var if with_var else None)


def sample_affine(x: Tensor, scale: Tensor, shift: Tensor) -> Tensor:
    """``x * scale[:, :, None, None] + shift[:, :, None, None]`` in x's dtype.

    ``scale``/``shift``: (N, C), fp32 (fp64 for fp64 x).
    """
    return _SampleAffine.apply(x, scale, shift, None, None)


def affine_normalize(x: Tensor, coefficients: Callable, stats: str = 'mean_var'):
    """``y = x * scale + shift`` with ``scale, shift, *extra = coefficients(mean_n, var_n)``.

    ``stats``: the per-sample moments ``coefficients`` needs: ``'mean_var'``,
    ``'mean'`` (var_n is None) or ``'none'`` (both None). ``coefficients`` is
    ordinary autograd on (N, C) tensors and returns (N, C) scale and shift in
    the stats dtype. Returns ``(y, extra)``.

    The moments and the affine share a :class:`GradLink` and the affine also
    takes the moments' empty ``token`` output as an input, so that whenever x
    needs a gradient autograd runs the moments' backward, after the affine's,
    whatever ``coefficients`` does with the moments.
    """
    if stats not in ('mean', 'mean_var', 'none'):
        raise ValueError(f"stats must be 'mean_var', 'mean' or 'none', got {stats!r}")
    with_var = stats == 'mean_var'
    if not (x.requires_grad and torch.is_grad_enabled()):
        # no gradient to x (inference, frozen input): no autograd functions on x,
        # and the affine's backward only when the coefficients need one
        mean_n, var_n = _moments(x, with_var) if stats != 'none' else (None, None)
        scale, shift, *extra = coefficients(mean_n, var_n)
        if (scale.requires_grad or shift.requires_grad) and torch.is_grad_enabled():
            return _SampleAffine.apply(x, scale, shift, None, None), extra
        return row_affine(x, scale, shift), extra
    if stats == 'none':
        scale, shift, *extra = coefficients(None, None)
        return _SampleAffine.apply(x, scale, shift, None, None), extra
    link = GradLink()
    mean_n, var_n, token = _SampleMoments.apply(x, with_var, link)
    scale, shift, *extra = coefficients(mean_n, var_n if with_var else None)
    return _SampleAffine.apply(x, scale, shift, token, link), extra
