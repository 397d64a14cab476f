from .epoch_metrics_hook import EpochMetricsHook
from .exact_resume_hook import ExactResumeHook
from .non_finite_guard_hook import NonFiniteError, NonFiniteGuardHook

__all__ = ['EpochMetricsHook', 'ExactResumeHook', 'NonFiniteGuardHook', 'NonFiniteError']
