"""OpenMMLab engine glue: hooks, the paper's run report, CPU-distributed runs, the tools' CLI."""
from .hooks import EpochMetricsHook

__all__ = ['EpochMetricsHook']
