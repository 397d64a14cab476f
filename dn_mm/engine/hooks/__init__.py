from .epoch_metrics_hook import EpochMetricsHook
from .exact_resume_hook import ExactResumeHook
from .non_finite_guard_hook import NonFiniteError, NonFiniteGuardHook
from .test_best_checkpoint_hook import TestBestCheckpointHook

__all__ = ['EpochMetricsHook', 'ExactResumeHook', 'NonFiniteGuardHook', 'NonFiniteError',
           'TestBestCheckpointHook']
