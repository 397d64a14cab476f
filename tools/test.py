#!/usr/bin/env python
"""Test a checkpoint of an mmpretrain or mmdet config (the config's scope decides).

Same arguments as mmdet's and mmpretrain's ``tools/test.py``, plus
``--batch-size`` for the test batch size (the paper's Table 4 tests DN-B with
test batch 1, 2 and 32).
"""
import argparse
import os.path as osp

from mmengine.config import Config, ConfigDict

import dn_mm  # noqa: F401  (layers, hooks and stack fixes, whatever the config imports)
from dn_mm.engine.runner_cli import (add_common_args, build_runner, checkpoint_errors_exit,
                                     load_config, parse_common)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a classifier or a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', type=str,
                        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument('--show-dir', help='directory where painted images are saved '
                        '(relative to the work dir / timestamp folder)')
    parser.add_argument('--batch-size', type=int, help='test batch size (default: the config\'s)')
    parser.add_argument('--tta', action='store_true', help='test time augmentation '
                        '(the config must define tta_model and tta_pipeline)')
    add_common_args(parser)
    return parse_common(parser, argv)


def build_cfg(args) -> Config:
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint: no such file: {args.checkpoint}')
    if args.batch_size is not None and args.batch_size < 1:
        raise SystemExit(f'--batch-size must be a positive int, got {args.batch_size}')
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.batch_size is not None:
        cfg.test_dataloader.batch_size = args.batch_size
    if args.show_dir:
        hooks = cfg.default_hooks
        if 'visualization' not in hooks:
            raise SystemExit('--show-dir: the config has no visualization hook')
        hooks.visualization.enable = True
        if cfg.get('default_scope') == 'mmdet':
            hooks.visualization.draw = True
            hooks.visualization.test_out_dir = args.show_dir
        else:
            hooks.visualization.out_dir = args.show_dir
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise SystemExit('--tta: the config defines no tta_model / tta_pipeline')
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_cfg(args)
    runner = build_runner(cfg)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise SystemExit(f'--out must be a .pkl or .pickle file, got {args.out}')
        if cfg.get('default_scope') == 'mmdet':
            from mmdet.evaluation import DumpDetResults as Dump
        else:
            from mmengine.evaluator import DumpResults as Dump
        runner.test_evaluator.metrics.append(Dump(out_file_path=args.out))
    with checkpoint_errors_exit():
        return runner.test()


if __name__ == '__main__':
    main()
