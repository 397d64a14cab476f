"""Exact resume: what a run needs beyond mmengine's ``--resume`` to continue bit for bit.

mmengine's checkpoints carry the weights (running statistics included), the
optimizer, the lr schedulers, epoch and iteration, and the message hub (best
score and best checkpoint). A resumed run still differs from an uninterrupted
one, because:

* the RNG states of torch, numpy and random are re-seeded at start-up, so the
  augmentations after a resume are not those the run would have drawn;
* checkpoints are taken at epoch ends only, and resuming mid-epoch is not
  possible (the loop would restart the epoch's sampler order from batch 0);
* validation between epochs draws from the same RNGs as training, so where a
  run was resumed changes what training draws next;
* checkpoints and ``last_checkpoint`` are written in place, so a kill during a
  write leaves a truncated file that ``--resume`` then fails on.

This hook saves the RNG states with every checkpoint (key ``dn_mm_resume``),
optionally writes a checkpoint every ``interval`` iterations inside an epoch,
skips the batches already trained when resuming mid-epoch (indices only, no
image is read) and restores the RNG states exactly where they were saved,
keeps validation from consuming training's random numbers, and makes the
checkpoint writes atomic (:mod:`dn_mm.engine.atomic_checkpoints`).

Bit-exact on one process with ``num_workers=0`` (or with non-persistent
workers when resuming at an epoch end); with more processes every rank
resumes from the same checkpoint, but only rank 0's RNG state is saved.
"""
import os
import os.path as osp
import random
from typing import Callable, Iterable, Optional

import numpy as np
import torch
from mmengine.dist import barrier, get_rank, is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import HOOKS
from mmengine.runner import EpochBasedTrainLoop

from ..atomic_checkpoints import (
    BACKEND,
    make_checkpoint_hook_atomic,
    recover_last_checkpoint,
    write_last_checkpoint,
)

KEY = 'dn_mm_resume'


def is_resuming(runner) -> bool:
    """True inside ``Runner.resume`` (not for ``load_from`` or a test-time load)."""
    return bool(getattr(runner, '_resume', False)) and not getattr(runner, '_has_loaded', True)


def capture_rng() -> dict:
    """The global RNG states of torch (CPU and CUDA), numpy and random."""
    np_state = np.random.get_state(legacy=False)
    state = dict(torch=torch.get_rng_state(), random=random.getstate(),
                 numpy=dict(key=torch.from_numpy(np_state['state']['key'].astype(np.int64)),
                            pos=int(np_state['state']['pos']), has_gauss=np_state['has_gauss'],
                            gauss=np_state['gauss']))
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict) -> None:
    torch.set_rng_state(state['torch'])
    random.setstate(state['random'])
    np_state = state['numpy']
    np.random.set_state(dict(
        bit_generator='MT19937', has_gauss=np_state['has_gauss'], gauss=np_state['gauss'],
        state=dict(key=np_state['key'].numpy().astype(np.uint32), pos=np_state['pos'])))
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class ResumeInEpoch:
    """Stands in for the train loader's batch sampler in the epoch resumed mid-way.

    Draws the first ``skip`` batches of indices without loading them, then
    calls ``on_start`` (which restores the RNG states) just before the first
    batch that is loaded: after the DataLoader drew its base seed, as in the
    run that saved the checkpoint.
    """

    def __init__(self, batch_sampler: Iterable, skip: int, on_start: Callable[[], None]):
        self.batch_sampler = batch_sampler
        self.sampler = getattr(batch_sampler, 'sampler', None)  # for DistSamplerSeedHook
        self.skip = skip
        self.on_start = on_start

    def __iter__(self):
        batches = iter(self.batch_sampler)
        for _ in range(self.skip):
            next(batches)
        if self.on_start is not None:
            self.on_start()
            self.on_start = None
        yield from batches

    def __len__(self) -> int:
        return len(self.batch_sampler) - self.skip

    def finish(self) -> None:
        """Pass everything through from now on (a persistent worker iterator keeps us)."""
        self.skip, self.on_start = 0, None


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Checkpoints that resume bit for bit (``custom_hooks=[dict(type='ExactResumeHook')]``).

    Args:
        interval: also save a checkpoint (``iter_<N>.pth``) every ``interval``
            training iterations inside an epoch, so a job killed mid-epoch
            loses at most ``interval`` iterations; only the newest such file
            is kept. 0: checkpoints come from ``CheckpointHook`` only.
    """

    priority = 'VERY_LOW'  # after the lr schedulers and metric hooks of the same iteration

    def __init__(self, interval: int = 0):
        if not isinstance(interval, int) or isinstance(interval, bool) or interval < 0:
            raise ValueError(f'interval must be an int >= 0 (0: no mid-epoch checkpoints), '
                             f'got {interval!r}')
        self.interval = interval
        self._loaded: Optional[dict] = None  # our part of the checkpoint resumed from
        self._train_rng: Optional[dict] = None  # held while validation runs inside training
        self._wrapper: Optional[ResumeInEpoch] = None
        self._epoch_len = 0
        self._mid_ckpt: Optional[str] = None  # our newest mid-epoch checkpoint
        self._last_ckpt_then = None  # CheckpointHook's newest when we wrote it

    # -- atomic writes and a usable last_checkpoint ------------------------------------
    def before_run(self, runner) -> None:
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook) and not make_checkpoint_hook_atomic(hook):
                runner.logger.warning('ExactResumeHook: CheckpointHook writes to a non-local '
                                      'backend; its writes are not made atomic')
        if getattr(runner, '_resume', False) and runner._load_from is None:
            if is_main_process():
                recover_last_checkpoint(runner.work_dir, runner.logger)
            barrier()

    # -- saving -------------------------------------------------------------------------
    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        meta = checkpoint.get('meta', {})
        done = 0
        if self._epoch_len and isinstance(runner._train_loop, EpochBasedTrainLoop):
            done = int(meta.get('iter', 0)) - int(meta.get('epoch', 0)) * self._epoch_len
        checkpoint[KEY] = dict(rng=self._train_rng or capture_rng(), epoch_len=self._epoch_len,
                               batches_done=done if 0 < done < self._epoch_len else 0)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not self.interval or (runner.iter + 1) % self.interval:
            return
        if not isinstance(runner.train_loop, EpochBasedTrainLoop):
            return
        done = runner.iter + 1 - runner.epoch * self._epoch_len
        if done >= self._epoch_len:  # the epoch's end: CheckpointHook's business
            return
        out_dir = self._out_dir(runner)
        filename = f'iter_{runner.iter + 1}.pth'
        runner.save_checkpoint(out_dir, filename, meta=dict(epoch=runner.epoch,
                                                            iter=runner.iter + 1),
                               by_epoch=False, backend_args=dict(backend=BACKEND))
        if is_main_process():
            path = osp.join(out_dir, filename)
            write_last_checkpoint(runner.work_dir, path)
            self._remove_mid_ckpt()
            self._mid_ckpt = path
            self._last_ckpt_then = runner.message_hub.get_info('last_ckpt')

    def after_train_epoch(self, runner) -> None:
        if self._wrapper is not None:
            self._wrapper.finish()
            object.__setattr__(runner.train_dataloader, 'batch_sampler',
                               self._wrapper.batch_sampler)
            self._wrapper = None
        # a newer checkpoint from CheckpointHook supersedes our mid-epoch one
        if is_main_process() and self._mid_ckpt is not None and \
                runner.message_hub.get_info('last_ckpt') != self._last_ckpt_then:
            self._remove_mid_ckpt()

    def _remove_mid_ckpt(self) -> None:
        if self._mid_ckpt is not None and osp.isfile(self._mid_ckpt):
            os.remove(self._mid_ckpt)
        self._mid_ckpt = None

    @staticmethod
    def _out_dir(runner) -> str:
        for hook in runner.hooks:
            if isinstance(hook, CheckpointHook) and hook.out_dir is not None:
                return hook.out_dir
        return runner.work_dir

    # -- resuming -----------------------------------------------------------------------
    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if is_resuming(runner):
            self._loaded = checkpoint.get(KEY)
            if self._loaded is None:
                runner.logger.warning('ExactResumeHook: the checkpoint has no RNG states '
                                      '(saved without this hook); the run resumes, not exactly')

    def before_train(self, runner) -> None:
        self._epoch_len = len(runner.train_dataloader)
        loaded, self._loaded = self._loaded, None
        if loaded is None:
            return
        if loaded['epoch_len'] and loaded['epoch_len'] != self._epoch_len:
            raise RuntimeError(
                f'resume: the checkpoint was taken with {loaded["epoch_len"]} iterations per '
                f'epoch, this run has {self._epoch_len} (data or batch size changed)')
        restore = (lambda: restore_rng(loaded['rng'])) if get_rank() == 0 else None
        if loaded['batches_done'] and isinstance(runner.train_loop, EpochBasedTrainLoop):
            loader = runner.train_dataloader
            self._wrapper = ResumeInEpoch(loader.batch_sampler, loaded['batches_done'], restore)
            # DataLoader forbids setting batch_sampler after construction; the loader
            # reads it afresh (``_index_sampler``) each time an epoch's iterator starts
            object.__setattr__(loader, 'batch_sampler', self._wrapper)
            runner.logger.info(f'resume: skipping the {loaded["batches_done"]} batches of '
                               f'epoch {runner.epoch + 1} already trained')
        elif restore is not None:
            restore()

    # -- validation inside training leaves training's random numbers alone --------------
    def before_val_epoch(self, runner) -> None:
        if self._epoch_len:  # validating inside training
            self._train_rng = capture_rng()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._train_rng is not None:
            restore_rng(self._train_rng)
            self._train_rng = None

    def after_train(self, runner) -> None:
        self._epoch_len = 0
