"""The inference forms of the norm layers, on plain torch operators only.

:func:`~dn_mm.deployment.fuse.fuse_for_inference` replaces each norm layer of
an eval model by one of these. They hold no statistics and take no branch on
the data, and every operator they use has a standard ONNX counterpart
(ReduceMean, Conv, Relu/Sigmoid/Tanh, Split, Mul, Add): the training layers' fast
path (autograd Functions, BN kernels on an (1, N*C, H, W) view whose batch size
a tracer would bake in) is not traceable, these are.

The small SC / SE networks run on the pooled (N, C) features: FC1 gains a bias
when the running statistics are folded into it (see :mod:`~dn_mm.deployment.fuse`),
FC2 keeps its grouping and its bias carries BN's static gamma/beta (DN's
``form='residual'``).
"""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..models.layers.per_sample_affine import row_affine
from ..models.layers.sc_module import grouped_linear

#: What follows FC2: nothing (DN-B), DN-B's tanh bound, SE-BN's sigmoid gate.
GATES = (None, 'tanh', 'sigmoid')


class ChannelAffine(nn.Module):
    """``y = x * scale[c] + shift[c]``: a norm with constant coefficients and no convolution
    before it.

    The inference form of DN-C (whose coefficients do not depend on the
    sample in eval) where no convolution precedes it to take them.
    """

    def __init__(self, scale: Tensor, shift: Tensor):
        super().__init__()
        self.register_buffer('scale', scale.detach().clone().reshape(1, -1, 1, 1))
        self.register_buffer('shift', shift.detach().clone().reshape(1, -1, 1, 1))

    def forward(self, x: Tensor) -> Tensor:
        return torch.addcmul(self.shift, x, self.scale)

    def extra_repr(self) -> str:
        return f'{self.scale.numel()}'


class FoldedDynamicNorm(nn.Module):
    """A per-sample affine ``y = x * (u * p) + (q + u * r + v)`` with ``u, v`` from the pooled
    input.

    ``u, v`` (N, C) come from ``GAP(x)`` through FC1 (C -> hidden, bias), the
    activation, the grouped FC2 (bias) and, for SE-BN, a sigmoid:

    * DN-B: FC2 outputs ``(u, v) = (alpha, lambda)``. After a convolution
      that took the statistics, ``x`` already is BN's normalised input and
      ``p = 1, q = r = 0`` (left out). Without one, ``p = 1 / std`` and
      ``r = -mean / std`` normalise ``x`` inside the same multiply-add.
    * DN-B with ``bound='tanh'``: ``alpha = base_scale * (1 + k tanh(.))``,
      ``lambda = base_shift + k tanh(.)`` on FC2's outputs, as the layer.
    * SE-BN: FC2 outputs the gate's logits, ``u = sigmoid(.)``, ``v = 0``,
      and ``p, q, r`` hold BN's static part (see :mod:`~dn_mm.deployment.fuse`).

    ``p``, ``q``, ``r`` are (C,) buffers or absent (1, 0, 0).

    The multiply-add over ``x`` runs on the training layers' fast kernel in
    eager PyTorch (no gradient), and as ``x * scale + shift`` (Mul, Add) when
    traced for export or when a gradient is asked for.
    """

    def __init__(self, num_features: int, hidden: int, groups: int, act: nn.Module,
                 gate: Optional[str] = None, p: Optional[Tensor] = None,
                 q: Optional[Tensor] = None, r: Optional[Tensor] = None,
                 stats_in_conv: bool = False, base_scale: Optional[Tensor] = None,
                 base_shift: Optional[Tensor] = None, bound_range: float = 0.5):
        super().__init__()
        if gate not in GATES:
            raise ValueError(f"gate must be one of {GATES} (DN-B, DN-B with bound='tanh', "
                             f"SE-BN), got {gate!r}")
        if (gate == 'tanh') != (base_scale is not None and base_shift is not None):
            raise ValueError("base_scale and base_shift are the tanh bound's gamma and beta: "
                             "give both with gate='tanh', neither otherwise")
        self.bound_range = float(bound_range)
        out = num_features if gate == 'sigmoid' else 2 * num_features
        if hidden % groups or out % groups:
            raise ValueError(f'groups ({groups}) must divide hidden ({hidden}) and the FC2 '
                             f'outputs ({out})')
        self.num_features = num_features
        self.gate = gate
        self.groups = groups
        self.stats_in_conv = stats_in_conv  # for the repr: where the running statistics went
        self.fc1_weight = nn.Parameter(torch.zeros(hidden, num_features))
        self.fc1_bias = nn.Parameter(torch.zeros(hidden))
        self.act = act
        self.fc2_weight = nn.Parameter(torch.zeros(out, hidden // groups))
        self.fc2_bias = nn.Parameter(torch.zeros(out))
        for name, value in (('p', p), ('q', q), ('r', r), ('base_scale', base_scale),
                            ('base_shift', base_shift)):
            self.register_buffer(name, None if value is None else value.detach().reshape(-1))

    def coefficients(self, x: Tensor):
        """``(scale, shift)`` (N, C) of ``y = x * scale + shift``."""
        h = self.act(F.linear(x.mean((2, 3)), self.fc1_weight, self.fc1_bias))
        out = grouped_linear(h, self.fc2_weight, self.groups) + self.fc2_bias
        if self.gate == 'sigmoid':
            u, v = torch.sigmoid(out), None
        else:
            u, v = out[:, :self.num_features], out[:, self.num_features:]
            if self.gate == 'tanh':  # DN-B's bound: gamma * (1 + k tanh(.)), beta + k tanh(.)
                k = self.bound_range
                u = self.base_scale * (1 + k * torch.tanh(u))
                v = self.base_shift + k * torch.tanh(v)
        scale = u if self.p is None else u * self.p
        shift = v
        if self.r is not None:
            shift = u * self.r if shift is None else torch.addcmul(shift, u, self.r)
        if self.q is not None:
            shift = self.q.expand_as(u) if shift is None else shift + self.q
        if shift is None:
            shift = torch.zeros_like(scale)
        return scale, shift

    def forward(self, x: Tensor) -> Tensor:
        scale, shift = self.coefficients(x)
        if (torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
                or (torch.is_grad_enabled() and scale.requires_grad)):
            return x * scale[:, :, None, None] + shift[:, :, None, None]
        return row_affine(x, scale, shift)

    def extra_repr(self) -> str:
        return (f'{self.num_features}, hidden={self.fc1_weight.shape[0]}, groups={self.groups}, '
                f'gate={self.gate!r}, stats_in_conv={self.stats_in_conv}')
