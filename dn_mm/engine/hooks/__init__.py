from .epoch_metrics_hook import EpochMetricsHook
from .exact_resume_hook import ExactResumeHook

__all__ = ['EpochMetricsHook', 'ExactResumeHook']
