from .epoch_metrics_hook import EpochMetricsHook

__all__ = ['EpochMetricsHook']
