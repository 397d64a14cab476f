"""OpenMMLab engine glue: hooks, the paper's run report, CPU-distributed runs, the tools' CLI."""
from .hooks import EpochMetricsHook, ExactResumeHook, NonFiniteGuardHook, TestBestCheckpointHook

__all__ = ['EpochMetricsHook', 'ExactResumeHook', 'NonFiniteGuardHook', 'TestBestCheckpointHook']
