"""Per-epoch metrics as the paper reports them, in one JSON file per run.

The paper's tables give the training accuracy of the *last* epoch, the val
accuracy of the *best* epoch and the test accuracy of that best checkpoint;
its figures plot accuracy or mAP per epoch. mmengine logs training scalars
smoothed over a window, so this hook averages the training metrics over each
whole epoch itself and stores them beside that epoch's val metrics in
``<work_dir>/epoch_metrics.json`` (rewritten atomically after every epoch).
Its state travels in the checkpoints, so a resumed run (even one resumed
mid-epoch) keeps the epochs before the resume and the partial epoch's sums.
"""
import os
from collections import defaultdict
from typing import Sequence

from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ...utils import write_json_atomic
from ..paper_report import FILENAME
from .exact_resume_hook import is_resuming


@HOOKS.register_module(force=True)
class EpochMetricsHook(Hook):
    """Averages training metrics per epoch and records val metrics per epoch.

    Args:
        keys: substrings of the training outputs to average (e.g. the
            ``accuracy_top-1`` a ``cal_acc=True`` head logs, or ``loss``).
    """

    priority = 'LOW'

    def __init__(self, keys: Sequence[str] = ('accuracy', 'loss')):
        self.keys = tuple(keys)
        self.epochs = {}
        self._sums = defaultdict(float)
        self._count = 0
        self._in_epoch = False
        self._resumed_in_epoch = False

    def before_train_epoch(self, runner) -> None:
        if not self._resumed_in_epoch:
            self._sums.clear()
            self._count = 0
        self._resumed_in_epoch = False
        self._in_epoch = True

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        partial = dict(sums=dict(self._sums), count=self._count) if self._in_epoch else None
        checkpoint['dn_mm_epoch_metrics'] = dict(epochs=self.epochs, partial=partial)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('dn_mm_epoch_metrics')
        if not is_resuming(runner) or state is None:
            return
        self.epochs = state['epochs']
        self._sums = defaultdict(float, (state['partial'] or {}).get('sums', {}))
        self._count = (state['partial'] or {}).get('count', 0)
        self._resumed_in_epoch = state['partial'] is not None

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not outputs:
            return
        for key, value in outputs.items():
            if any(k in key for k in self.keys):  # a compiled train_step's loss keeps its grad
                self._sums[key] += float(value.detach() if hasattr(value, 'detach') else value)
        self._count += 1

    def after_train_epoch(self, runner) -> None:
        self._in_epoch = False
        train = {f'train/{k}': v / max(self._count, 1) for k, v in self._sums.items()}
        # runner.epoch is 0-based here and advances before validation runs
        self.epochs.setdefault(str(runner.epoch + 1), {}).update(train)
        self._dump(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        if metrics:
            # during training runner.epoch was already advanced past the epoch just trained
            self.epochs.setdefault(str(runner.epoch), {}).update(
                {f'val/{k}': float(v) for k, v in metrics.items()
                 if isinstance(v, (int, float))})
            self._dump(runner)

    def _dump(self, runner) -> None:
        if is_main_process():
            write_json_atomic(os.path.join(runner.work_dir, FILENAME), self.epochs)
