"""Mixed precision on CPU: bfloat16 autocast in mmengine's training step.

mmengine's ``AmpOptimWrapper`` refuses a machine without a CUDA / NPU / MLU / MUSA
device, so ``tools/train.py --amp`` on CPU had nothing to run. This wrapper is an
``OptimWrapper`` whose forward runs under ``torch.autocast('cpu', bfloat16)``.
No loss scaling: bfloat16 has float32's exponent range, so gradients do not
underflow the way float16's do. The dynamic norm layers keep their statistics
and SC-Module in float32 under autocast, as on CUDA.
"""
from contextlib import contextmanager
from typing import Optional, Union

import torch
from mmengine.device import (
    is_cuda_available,
    is_mlu_available,
    is_musa_available,
    is_npu_available,
)
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from torch import nn

#: what ``--amp-dtype`` may name, per device kind
AMP_DTYPES = dict(cpu=('bfloat16',), accelerator=('float16', 'bfloat16'))


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(OptimWrapper):
    """``OptimWrapper`` with bfloat16 autocast on CPU (``optim_wrapper.type``).

    Args:
        dtype: the autocast dtype; CPU autocast runs ``'bfloat16'`` only.
        **kwargs: as ``OptimWrapper`` (optimizer, accumulative_counts, clip_grad).
    """

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', **kwargs):
        name = dtype if isinstance(dtype, str) else str(dtype).replace('torch.', '')
        if name not in AMP_DTYPES['cpu']:
            raise ValueError(f'CPUAmpOptimWrapper: dtype must be one of {AMP_DTYPES["cpu"]} '
                             f'(CPU autocast), got {dtype!r}')
        super().__init__(**kwargs)
        self.cast_dtype = getattr(torch, name)

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), torch.autocast('cpu', dtype=self.cast_dtype):
            yield


def amp_optim_wrapper(optim_wrapper: dict, dtype: Optional[str] = None) -> dict:
    """``optim_wrapper`` turned to mixed precision on this machine (``tools/train.py --amp``).

    On a CUDA / NPU / MLU / MUSA machine mmengine's ``AmpOptimWrapper`` (dynamic loss
    scaling; ``dtype`` None is float16), elsewhere :class:`CPUAmpOptimWrapper` (bfloat16).
    """
    accelerator = (is_cuda_available() or is_npu_available() or is_mlu_available()
                   or is_musa_available())
    valid = AMP_DTYPES['accelerator' if accelerator else 'cpu']
    if dtype is not None and dtype not in valid:
        where = 'an accelerator' if accelerator else 'CPU (no accelerator found)'
        raise ValueError(f'--amp-dtype on {where} must be one of {valid}, got {dtype!r}')
    wrapper = dict(optim_wrapper)
    if accelerator:
        wrapper.update(type='AmpOptimWrapper', loss_scale=wrapper.get('loss_scale', 'dynamic'))
    else:
        wrapper['type'] = 'CPUAmpOptimWrapper'
        wrapper.pop('loss_scale', None)
    if dtype is not None or not accelerator:
        wrapper['dtype'] = dtype or 'bfloat16'
    return wrapper
