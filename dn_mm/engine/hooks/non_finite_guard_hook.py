"""Stop training at the first non-finite number, naming the layer, the iteration and the quantity.

The paper's own DN-C runs ended in NaN, and a DN-B SC-Module can blow up at a
high lr. mmdet's ``CheckInvalidLossHook`` looks at the loss every 50
iterations, after the optimizer has already stepped on it; by then every
weight is NaN and the log does not say where it began. This hook checks, at
every optimizer step and *before* the step is taken:

* alpha and lambda as each DN layer generates them (scale/shift for SE-BN),
  in forward order, so the first layer named is where the fault began;
* the running statistics of every BN / DN layer;
* the loss;
* every gradient (after clipping, i.e. what the step would apply).

All checks of an iteration are reduced on the device and read back once (one
synchronisation per step); only when that says something is wrong does it
look tensor by tensor for the first culprit. On a fault it raises :class:`NonFiniteError` from
inside ``optimizer.step``: the weights keep the last good step and no
checkpoint is written after it, so the last good checkpoint is left as it was.
"""
from typing import List, Optional, Tuple

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from torch import Tensor

from ...models.layers.dynamic_norm import DynamicNormBase


class NonFiniteError(RuntimeError):
    """Training met a NaN or an infinity; the message says where."""


def sums_finite(tensors: List[Tensor]) -> Tensor:
    """One bool tensor, no host sync: the sum of every tensor is finite.

    A NaN or an infinity anywhere makes its tensor's sum non-finite, so this
    never misses one; it is one plain read of each tensor (the cheapest
    reduction on CPU and GPU alike). A false alarm (finite values summing past
    float32's range) is ruled out by the exact check that runs before raising.
    """
    if not tensors:
        return torch.ones((), dtype=torch.bool)
    return torch.isfinite(torch.stack([t.detach().sum(dtype=torch.float32) for t in tensors])).all()


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """``custom_hooks=[dict(type='NonFiniteGuardHook')]``: fail fast and precisely on NaN/inf."""

    priority = 'HIGHEST'

    def __init__(self):
        self._active = False
        self._coef: List[Tuple[str, str, Tensor]] = []  # (layer, quantity, value) this iteration
        self._loss: List[Tensor] = []
        self._stats: List[Tuple[str, Tensor]] = []
        self._params: List[Tuple[str, torch.nn.Parameter]] = []
        self._iter = 0

    def before_train(self, runner) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        for name, module in model.named_modules():
            if isinstance(module, DynamicNormBase) and 'coefficients' not in vars(module):
                module.coefficients = self._watch(name, module.coefficients)
            if isinstance(getattr(module, 'running_var', None), Tensor):
                self._stats.append((f'{name}.running_mean', module.running_mean))
                self._stats.append((f'{name}.running_var', module.running_var))
        self._params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        wrapper = runner.optim_wrapper
        backward = wrapper.backward

        def checked_backward(loss, **kwargs):
            if self._active:
                self._loss.append(loss.detach())
            return backward(loss, **kwargs)
        wrapper.backward = checked_backward
        for optimizer in self._optimizers(wrapper):
            optimizer.register_step_pre_hook(lambda opt, args, kwargs: self._check(runner))

    @staticmethod
    def _optimizers(wrapper):
        if hasattr(wrapper, 'optim_wrappers'):  # OptimWrapperDict
            return [w.optimizer for w in wrapper.optim_wrappers.values()]
        return [wrapper.optimizer]

    def _watch(self, name, coefficients):
        def watched(*args, **kwargs):
            out = coefficients(*args, **kwargs)
            if self._active and torch.is_grad_enabled():
                pairs = (('alpha', out[2]), ('lambda', out[3])) if len(out) >= 4 else \
                    (('scale', out[0]), ('shift', out[1]))
                for quantity, value in pairs:
                    self._coef.append((name, quantity, value.detach()))
            return out
        return watched

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self._active = True
        self._iter = runner.iter + 1
        self._coef.clear()
        self._loss.clear()

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._active = False

    def _check(self, runner) -> None:
        if not self._active:
            return
        grads = [p.grad for _, p in self._params if p.grad is not None]
        watched = [v for _, _, v in self._coef] + self._loss + [t for _, t in self._stats] + grads
        if bool(sums_finite(watched)):
            return
        problem = self._diagnose(runner)
        if problem is None:  # the sums overflowed, every value is finite
            return
        raise NonFiniteError(problem + (
            ' Training stopped before the optimizer step: no checkpoint was written after '
            f'the last good one ({runner.message_hub.get_info("last_ckpt") or "none yet"}).'))

    def _diagnose(self, runner) -> Optional[str]:
        where = f'at iteration {self._iter} (epoch {runner.epoch + 1})'
        for layer, quantity, value in self._coef:
            if not bool(torch.isfinite(value).all()):
                return f'non-finite {quantity} generated by DN layer {layer!r} {where}.'
        for name, stat in self._stats:
            if not bool(torch.isfinite(stat).all()):
                return f'non-finite running statistic {name!r} {where}.'
        if not all(bool(torch.isfinite(loss).all()) for loss in self._loss):
            return f'non-finite loss {where} (every layer\'s alpha/lambda was finite).'
        bad: Optional[str] = next((n for n, p in self._params if p.grad is not None and
                                   not bool(torch.isfinite(p.grad).all())), None)
        if bad is None:
            return None
        return f'non-finite gradient of parameter {bad!r} {where} (loss was finite).'
