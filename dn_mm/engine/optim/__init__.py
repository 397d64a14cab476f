"""Optimizer wrappers: mixed precision where mmengine's own wrapper does not run."""
from .cpu_amp_optim_wrapper import CPUAmpOptimWrapper, amp_optim_wrapper

__all__ = ['CPUAmpOptimWrapper', 'amp_optim_wrapper']
