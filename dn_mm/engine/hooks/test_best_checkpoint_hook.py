"""Test the best checkpoint after training and print the paper's columns (Tables 1-8).

The paper reports, per run, the training accuracy of the *last* epoch, the val
accuracy of the *best* epoch and the test accuracy of that best checkpoint.
mmengine trains and tests in separate commands; this hook does the paper's
test inside the training run, so it happens under ``tools/train.py``,
upstream ``tools/train.py`` and ``mim train`` alike:

    custom_hooks = [dict(type='EpochMetricsHook'), dict(type='TestBestCheckpointHook')]

After the last epoch it loads the best checkpoint that ``CheckpointHook(save_best=...)``
recorded, runs the test loop and writes ``<work_dir>/paper_report.json``.
"""
from mmengine.dist import is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from ..paper_report import paper_report


@HOOKS.register_module()
class TestBestCheckpointHook(Hook):
    """After training: test the best checkpoint (the last weights if none) on the test split.

    Args:
        enabled: False skips the test (``tools/train.py --no-test`` sets it).
    """

    priority = 'VERY_LOW'  # after CheckpointHook has written the last best checkpoint

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.report = None

    def after_train(self, runner) -> None:
        if not self.enabled:
            return
        if runner._test_loop is None:
            runner.logger.warning('TestBestCheckpointHook: the config has no test_dataloader, '
                                  'test_cfg and test_evaluator: no test after training')
            return
        best = runner.message_hub.get_info('best_ckpt')
        if best:
            runner.load_checkpoint(best, map_location='cpu')
        else:
            runner.logger.warning('TestBestCheckpointHook: no best checkpoint recorded '
                                  "(CheckpointHook save_best); testing the last weights")
        runner._test_loop = runner.build_test_loop(runner._test_loop)
        metrics = runner.test_loop.run()
        if is_main_process():
            self.report = paper_report(runner.work_dir, metrics, best, logger=runner.logger)
