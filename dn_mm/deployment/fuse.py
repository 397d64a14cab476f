"""Fold a trained model's norm layers for inference: BN, DN-C, DN-B, SE-BN.

In eval every norm layer here is an affine map of its input ``x`` (the output
of the convolution before it) with BN's running statistics:

* BN: ``y = x * s + t``, constant ``s, t`` (C,): folded into the convolution
  (mmcv's ``fuse_conv_bn``), the layer disappears.
* DN-C: alpha and lambda come from the running statistics only, so its scale
  and shift are constants too: folded completely, like BN.
* DN-B: ``y = x_hat * alpha_n + lambda_n``, ``x_hat = (x - mean) / std``. The
  convolution takes the statistics (it then outputs ``x_hat``); what stays is
  the per-sample part. The SC-Module saw ``GAP(x) = std * GAP(x_hat) + mean``,
  so FC1 is rewritten to read ``GAP(x_hat)`` and produce the same hidden
  values: ``W1 (std * g + mean) = (W1 diag(std)) g + W1 mean``, a weight and a
  bias (with ``sc_input='normalized'`` FC1 reads ``GAP(x_hat)`` already, and
  is rewritten only when no convolution took the statistics). gamma/beta of
  ``form='residual'`` (alpha = gamma + d_alpha, ...) become FC2's bias; with
  ``bound='tanh'`` they stay as the bound's base, after FC2's tanh.
* SE-BN: ``y = BN(a * x) = x * a * gamma / std + beta - mean * gamma / std``.
  The convolution takes the statistics as for DN-B (FC1 likewise), and with
  ``m = mean / std``: ``y = x_hat * (a * gamma) + (beta - gamma * m) + a * (gamma * m)``.
  (Folding ``gamma / std`` instead would need a division by gamma, which may be 0.)

A norm layer with no convolution right before it (same parent module, the
previous child) keeps its statistics in its folded form. The folded model is
per-sample independent like the eval model and equals it up to float32
rounding; it holds only plain torch operators (:mod:`.folded_layers`), so it
traces and exports to ONNX.
"""
import copy
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..models.layers import DNB, DNC, SEBN, DynamicNormBase
from .folded_layers import ChannelAffine, FoldedDynamicNorm

FOLDABLE = (DNB, DNC, SEBN)


def _statistics(norm: nn.Module, where: str) -> Tuple[Tensor, Tensor]:
    """Running mean and std (C,) in float64 of a BN (or a DN layer's BN child)."""
    if norm.running_mean is None or not norm.track_running_stats:
        raise ValueError(f'{where}: a norm layer without running statistics '
                         '(track_running_stats=False) normalises with batch statistics in eval '
                         'and cannot be folded for inference')
    return norm.running_mean.double(), torch.sqrt(norm.running_var.double() + norm.eps)


def _static_affine(norm: nn.Module) -> Tuple[Tensor, Tensor]:
    """gamma, beta (C,) float64; 1, 0 for a BN without affine parameters."""
    c = norm.num_features
    if norm.affine:
        return norm.weight.detach().double(), norm.bias.detach().double()
    ref = norm.running_mean.double()
    return ref.new_ones(c), ref.new_zeros(c)


@torch.no_grad()
def fold_affine_into_conv(conv: nn.Conv2d, scale: Tensor, shift: Tensor) -> None:
    """Make ``conv`` output ``conv(x) * scale + shift`` (per output channel), in place."""
    weight = conv.weight.double() * scale.reshape(-1, *([1] * (conv.weight.dim() - 1)))
    bias = conv.bias.double() if conv.bias is not None else torch.zeros_like(scale)
    conv.weight.copy_(weight.to(conv.weight.dtype))
    new_bias = (bias * scale + shift).to(conv.weight.dtype)
    if conv.bias is None:
        conv.bias = nn.Parameter(new_bias, requires_grad=conv.weight.requires_grad)
    else:
        conv.bias.copy_(new_bias)


def _fc1(weight: Tensor, bias: Optional[Tensor], mean: Tensor, std: Tensor, stats_in_conv: bool,
         reads_normalized: bool = False):
    """FC1's weight and bias for the input the folded layer pools.

    The folded layer pools the convolution's output: ``x_hat`` when the conv
    took the statistics, else ``x``. FC1 read ``GAP(x) = std * GAP(x_hat) + mean``
    (``reads_normalized=False``) or ``GAP(x_hat)``; rewrite it for what it gets.
    """
    weight = weight.detach().double()
    bias = weight.new_zeros(weight.shape[0]) if bias is None else bias.detach().double()
    if stats_in_conv and not reads_normalized:  # W (std * g + mean) + b
        bias = bias + weight @ mean
        weight = weight * std
    elif not stats_in_conv and reads_normalized:  # W (x - mean) / std + b
        bias = bias - weight @ (mean / std)
        weight = weight / std
    return weight, bias


def _folded_sc(num_features: int, fc1: Tuple[Tensor, Tensor], fc2: Tuple[Tensor, Tensor],
               groups: int, act: nn.Module, gate: Optional[str], pqr: dict,
               stats_in_conv: bool, like: Tensor, **gate_args) -> FoldedDynamicNorm:
    """A :class:`FoldedDynamicNorm` with the given (float64) FC weights and biases.

    Its parameters and buffers take the dtype and device of ``like``.
    """
    tensors = {k: None if v is None else v.to(like) for k, v in dict(pqr, **gate_args).items()
               if k != 'bound_range'}
    folded = FoldedDynamicNorm(num_features, fc1[0].shape[0], groups, copy.deepcopy(act), gate=gate,
                               stats_in_conv=stats_in_conv,
                               bound_range=gate_args.get('bound_range', 0.5), **tensors)
    folded.to(like)
    with torch.no_grad():
        for (weight, bias), (w, b) in (((folded.fc1_weight, folded.fc1_bias), fc1),
                                       ((folded.fc2_weight, folded.fc2_bias), fc2)):
            weight.copy_(w.reshape(weight.shape).to(weight))
            bias.copy_(b.to(bias))
    return folded


def fold_norm(layer: nn.Module, conv: Optional[nn.Conv2d], where: str = 'norm layer'):
    """The inference form of ``layer``, taking what it can into ``conv`` (modified in place).

    Returns the module that replaces ``layer`` (``nn.Identity`` when all of it
    went into ``conv``), or ``None`` to keep ``layer`` as it is (a BN with no
    convolution before it: eval BN is already a plain operator).
    """
    if not isinstance(layer, FOLDABLE + (_BatchNorm,)):
        raise TypeError(f'{where}: cannot fold {type(layer).__name__} for inference; foldable: '
                        f'BatchNorm, {", ".join(t.__name__ for t in FOLDABLE)}')
    norm = layer.norm if isinstance(layer, DynamicNormBase) else layer
    mean, std = _statistics(norm, where)
    if isinstance(layer, DNC) or isinstance(layer, _BatchNorm):
        if isinstance(layer, DNC):
            with torch.no_grad():
                scale, shift = (t.double() for t in layer.coefficients(None, None, 1)[:2])
        elif conv is None:
            return None
        else:
            gamma, beta = _static_affine(norm)
            scale = gamma / std
            shift = beta - mean * scale
        if conv is None:
            like = norm.running_mean
            return ChannelAffine(scale.to(like), shift.to(like))
        fold_affine_into_conv(conv, scale, shift)
        return nn.Identity()
    stats_in_conv = conv is not None
    if stats_in_conv:
        fold_affine_into_conv(conv, 1.0 / std, -mean / std)
    gamma, beta = _static_affine(norm)
    if isinstance(layer, DNB):
        sc = layer.sc
        fc1_w, fc1_b = _fc1(sc.fc1, None, mean, std, stats_in_conv,
                            reads_normalized=layer.sc_input == 'normalized')
        gate, gate_args = None, {}
        if layer.bound == 'tanh':  # gamma, beta (1, 0 in the paper form) around the tanh
            gate, gate_args = 'tanh', dict(base_scale=gamma, base_shift=beta,
                                           bound_range=layer.bound_range)
        if layer.form == 'residual' and gate is None:  # alpha = gamma + FC2's output, ...
            fc2_b = torch.cat([gamma, beta])
        else:
            fc2_b = gamma.new_zeros(2 * layer.num_features)
        pqr = dict(p=None, q=None, r=None) if stats_in_conv else dict(p=1.0 / std, q=None,
                                                                     r=-mean / std)
        return _folded_sc(layer.num_features, (fc1_w, fc1_b), (sc.fc2.detach().double(), fc2_b),
                          sc.groups, sc.act, gate, pqr, stats_in_conv, sc.fc1, **gate_args)
    fc1_w, fc1_b = _fc1(layer.fc1.weight, layer.fc1.bias, mean, std, stats_in_conv)
    if stats_in_conv:
        m = mean / std
        pqr = dict(p=gamma, q=beta - gamma * m, r=gamma * m)
    else:
        bn_scale = gamma / std
        pqr = dict(p=bn_scale, q=beta - mean * bn_scale, r=None)
    fc2 = (layer.fc2.weight.detach().double(), layer.fc2.bias.detach().double())
    return _folded_sc(layer.num_features, (fc1_w, fc1_b), fc2, 1, layer.act, 'sigmoid', pqr,
                      stats_in_conv, layer.fc1.weight)


def _is_norm(module: nn.Module) -> bool:
    return isinstance(module, (DynamicNormBase, nn.BatchNorm2d)) or (
        isinstance(module, _BatchNorm) and type(module).__name__ == 'SyncBatchNorm')


def _conv_then_norm(module: nn.Module) -> bool:
    """Whether the children's registration order is their order of use (conv, then norm).

    mmcv's ConvModule registers ``conv`` before ``norm`` whatever its ``order``;
    only ``('conv', 'norm', ...)`` feeds the norm the convolution's output.
    """
    order = getattr(module, 'order', None)
    if isinstance(order, tuple) and 'conv' in order and 'norm' in order:
        return order.index('norm') == order.index('conv') + 1
    return True


def _fuse_children(module: nn.Module, prefix: str, counts: dict) -> None:
    last_conv = None
    may_fold = _conv_then_norm(module)
    for name, child in list(module.named_children()):
        where = prefix + name
        if _is_norm(child):
            replacement = fold_norm(child, last_conv if may_fold else None, where)
            if replacement is not None:
                setattr(module, name, replacement)
                key = type(child).__name__ + (' into conv' if last_conv is not None and may_fold
                                              else ' alone')
                counts[key] = counts.get(key, 0) + 1
            last_conv = None
        elif isinstance(child, nn.Conv2d):
            last_conv = child
        else:
            _fuse_children(child, where + '.', counts)
            last_conv = None


def fuse_for_inference(model: nn.Module, inplace: bool = False, counts: Optional[dict] = None):
    """The inference form of ``model`` (a copy unless ``inplace``), in eval mode.

    Every BN, DN-B, DN-C and SE-BN layer is folded (see the module docstring);
    ``counts``, when given, receives how many layers of each type were folded
    into a convolution or alone. The result equals ``model.eval()`` up to
    float32 rounding and runs on plain torch operators.
    """
    model = model if inplace else copy.deepcopy(model)
    model.eval()
    if _is_norm(model):
        raise ValueError('fuse_for_inference takes a model holding norm layers, got a norm layer '
                         'itself: use fold_norm(layer, conv=None)')
    _fuse_children(model, '', {} if counts is None else counts)
    return model
