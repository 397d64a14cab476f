"""Why a DN-B run diverges: per layer and iteration, what the SC-Module reads and generates.

    python tools/analysis_tools/norm_trace.py --data data/fashion_mnist_raw \
        --variant 'DN-B residual/ReLU/raw/none' --lr 0.5 --seed 0 --iters 600

trains the study's model and recipe (:func:`~dn_mm.analysis.norm_study.train_one`)
with the variant and with BN, same lr, seed and data order, and records at
every iteration, for every norm layer:

* ``x_rms``: the scale of the layer's input, sqrt(E[x^2]) (it follows the
  weights of the convolution in front, which BN's output ignores);
* ``sc_in_rms``: the scale of what the SC-Module reads (for BN: the raw
  per-sample mean an SC-Module would read);
* ``alpha_max``, ``lambda_max``: the largest generated |alpha|, |lambda|;
* ``grad_alpha_rms``: the scale of dL/d(SC-Module output);
* ``sc_grad``: the SC-Module's parameter gradient norm (BN: gamma/beta's).

A run stops at its first non-finite loss or gradient, or at ``--iters``.
:func:`first_failure` names the first layer whose generated alpha left a
bound (``--alpha-limit`` times its start, or non-finite). Writes
``<out>/norm_trace.json`` and ``<out>/norm_trace.png``.
"""
import math
from typing import Dict, List, Optional

import torch
from torch import Tensor, nn

from ..models import dn_layers

METRICS = ('x_rms', 'sc_in_rms', 'alpha_max', 'lambda_max', 'grad_alpha_rms', 'sc_grad')


def _rms(t: Tensor) -> float:
    return float(t.detach().double().pow(2).mean().sqrt())


def _amax(t: Tensor) -> float:
    return float(t.detach().abs().max())


class Tracer:
    """Hooks on every norm layer of a model; one row of :data:`METRICS` per layer and step."""

    def __init__(self):
        self.names: List[str] = []
        self.loss: List[float] = []
        self.series: Dict[str, List[List[float]]] = {m: [] for m in METRICS}
        self._now: Dict[str, Dict[str, float]] = {}
        self._layers: List[nn.Module] = []

    def attach(self, model: nn.Module) -> None:
        dn = dict(dn_layers(model))
        inside_dn = {id(layer.norm) for layer in dn.values()}
        for name, module in model.named_modules():
            if name in dn and hasattr(module, 'sc'):
                self._watch_dn(name, module)
            elif isinstance(module, nn.BatchNorm2d) and id(module) not in inside_dn:
                self._watch_bn(name, module)

    def _row(self, name: str) -> Dict[str, float]:
        return self._now.setdefault(name, {m: math.nan for m in METRICS})

    def _add(self, name: str, module: nn.Module) -> None:
        self.names.append(name)
        self._layers.append(module)

    def _watch_dn(self, name: str, layer: nn.Module) -> None:
        self._add(name, layer)

        def pre(_, args):
            self._row(name)['x_rms'] = _rms(args[0])

        def sc_hook(_, args, out):
            row = self._row(name)
            row['sc_in_rms'] = _rms(args[0])
            with torch.no_grad():
                alpha, lam = layer.affine_from_sc(out)
            row['alpha_max'], row['lambda_max'] = _amax(alpha), _amax(lam)
            if out[0].requires_grad:
                out[0].register_hook(lambda g: row.__setitem__('grad_alpha_rms', _rms(g)))

        layer.register_forward_pre_hook(pre)
        layer.sc.register_forward_hook(sc_hook)

    def _watch_bn(self, name: str, bn: nn.BatchNorm2d) -> None:
        self._add(name, bn)

        def pre(_, args):
            row = self._row(name)
            x = args[0]
            row['x_rms'] = _rms(x)
            row['sc_in_rms'] = _rms(x.mean((2, 3)))  # what a raw SC-Module would read
            if bn.affine:
                row['alpha_max'], row['lambda_max'] = _amax(bn.weight), _amax(bn.bias)

        bn.register_forward_pre_hook(pre)

    def after_backward(self, step: int, loss: float) -> bool:
        """Close the step's row; False (stop) once a gradient is non-finite."""
        finite = True
        for name, module in zip(self.names, self._layers):
            params = (list(module.sc.parameters()) if hasattr(module, 'sc')
                      else [p for p in module.parameters()])
            grads = [p.grad for p in params if p.grad is not None]
            norm = (float(torch.linalg.vector_norm(torch.stack(
                [torch.linalg.vector_norm(g) for g in grads]))) if grads else math.nan)
            self._row(name)['sc_grad'] = norm
            finite = finite and (not grads or math.isfinite(norm))
        for metric in METRICS:
            self.series[metric].append([self._row(n)[metric] for n in self.names])
        self.loss.append(loss)
        self._now = {}
        return finite

    def as_dict(self) -> dict:
        return dict(layers=self.names, loss=self.loss, series=self.series)


def first_failure(trace: dict, alpha_limit: float = 10.0) -> Optional[dict]:
    """The first (iteration, layer) where |alpha| exceeds ``alpha_limit`` times its start
    value in that layer, or a traced value is non-finite; None if none did."""
    alpha = trace['series']['alpha_max']
    if not alpha:
        return None
    start = alpha[0]
    present = {m: [v == v for v in trace['series'][m][0]] for m in METRICS}  # nan: not traced
    for it, row in enumerate(alpha):
        for j, value in enumerate(row):
            broken = any(present[m][j] and not math.isfinite(trace['series'][m][it][j])
                         for m in METRICS)
            if broken or (present['alpha_max'][j] and value > alpha_limit * max(start[j], 1e-3)):
                return dict(iteration=it + 1, layer=trace['layers'][j], index=j,
                            alpha_max=value, alpha_start=start[j],
                            sc_in_rms=trace['series']['sc_in_rms'][it][j],
                            sc_in_rms_start=trace['series']['sc_in_rms'][0][j])
    return None
