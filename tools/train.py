#!/usr/bin/env python
"""Train an mmpretrain or mmdet config (the config's ``default_scope`` decides).

Same arguments as mmdet's and mmpretrain's ``tools/train.py``. The paper's
classification configs test their best checkpoint after training through
``TestBestCheckpointHook`` (``--no-test`` skips it).
"""
import argparse

from mmengine.config import Config

import dn_mm  # noqa: F401  (layers, hooks and stack fixes, whatever the config imports)
from dn_mm.engine import runner_cli
from dn_mm.engine.optim import amp_optim_wrapper


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a classifier or a detector')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--amp', action='store_true', default=False,
                        help='enable automatic-mixed-precision training (CUDA: float16 with '
                        'dynamic loss scaling; CPU: bfloat16)')
    parser.add_argument('--amp-dtype', choices=['float16', 'bfloat16'],
                        help='the autocast dtype of --amp (CPU: bfloat16 only)')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='enable automatically scaling LR (by auto_scale_lr.base_batch_size)')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from this checkpoint, or without a path from the latest '
                        'checkpoint in the work directory')
    parser.add_argument('--no-test', action='store_true',
                        help='skip the test of the best checkpoint after training')
    runner_cli.add_common_args(parser)
    return runner_cli.parse_common(parser, argv)


def build_cfg(args) -> Config:
    cfg = runner_cli.load_config(args)
    if args.amp_dtype and not args.amp:
        raise SystemExit('--amp-dtype: needs --amp')
    if args.amp:
        try:
            cfg.optim_wrapper = amp_optim_wrapper(cfg.optim_wrapper, args.amp_dtype)
        except ValueError as err:
            raise SystemExit(f'error: {err}') from None
    if args.auto_scale_lr:
        if 'base_batch_size' not in cfg.get('auto_scale_lr', {}):
            raise SystemExit('--auto-scale-lr: the config has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_cfg(args)
    if args.no_test:
        for hook in cfg.get('custom_hooks', []):
            if hook.get('type') == 'TestBestCheckpointHook':
                hook['enabled'] = False
    with runner_cli.checkpoint_errors_exit():
        runner_cli.build_runner(cfg).train()


if __name__ == '__main__':
    main()
