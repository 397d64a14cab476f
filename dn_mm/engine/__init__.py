"""OpenMMLab engine glue: hooks, CPU mixed precision, the paper's run report, CPU-distributed
runs, the tools' CLI."""
from .hooks import EpochMetricsHook, ExactResumeHook, NonFiniteGuardHook, TestBestCheckpointHook
from .optim import CPUAmpOptimWrapper

__all__ = ['EpochMetricsHook', 'ExactResumeHook', 'NonFiniteGuardHook', 'TestBestCheckpointHook',
           'CPUAmpOptimWrapper']
