from .epoch_metrics_hook import EpochMetricsHook
from .test_best_checkpoint_hook import TestBestCheckpointHook

__all__ = ['EpochMetricsHook', 'TestBestCheckpointHook']
