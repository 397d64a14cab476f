#!/usr/bin/env python
"""Test a checkpoint of an mmpretrain or mmdet config (the config's scope decides).

Same arguments as mmdet's and mmpretrain's ``tools/test.py``, plus
``--batch-size`` for the test batch size (the paper's Table 4 tests DN-B with
test batch 1, 2 and 32).

``--show-dir DIR`` saves painted images (boxes or predicted class), where each
library puts them: mmdet under ``<work_dir>/<timestamp>/DIR``, mmpretrain in
``DIR`` itself; the folder is printed at the end. ``--show`` displays them
(needs a display). ``--out FILE.pkl`` dumps the predictions;
``--out FILE.json --out-item metrics`` saves the test metrics instead.
"""
import argparse
import os.path as osp

from mmengine.config import Config, ConfigDict

import dn_mm  # noqa: F401  (layers, hooks and stack fixes, whatever the config imports)
from dn_mm.engine import runner_cli
from dn_mm.engine.visualization import VisualizationError, enable_test_visualization, painted_dir
from dn_mm.utils import write_json_atomic


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a classifier or a detector')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', type=str,
                        help='dump predictions to a .pkl file for offline evaluation (or, '
                        'with --out-item metrics, the test metrics to a .json file)')
    parser.add_argument('--out-item', choices=['pred', 'metrics'], default='pred',
                        help='what --out saves (default: pred)')
    parser.add_argument('--show-dir', help='save painted images here (mmdet configs: under '
                        '<work_dir>/<timestamp>/; mmpretrain configs: this folder)')
    parser.add_argument('--show', action='store_true',
                        help='display the painted images in a window (needs a display)')
    parser.add_argument('--wait-time', type=float, default=2,
                        help='seconds each shown image stays up (default 2)')
    parser.add_argument('--interval', type=int, default=1,
                        help='paint every N-th sample (mmpretrain configs; mmdet paints all)')
    parser.add_argument('--batch-size', type=int, help='test batch size (default: the config\'s)')
    parser.add_argument('--tta', action='store_true', help='test time augmentation '
                        '(the config must define tta_model and tta_pipeline)')
    runner_cli.add_common_args(parser)
    return runner_cli.parse_common(parser, argv)


def check_out(args) -> None:
    if args.out is None:
        return
    wanted = ('.pkl', '.pickle') if args.out_item == 'pred' else ('.json', )
    if not args.out.endswith(wanted):
        raise SystemExit(f'--out: --out-item {args.out_item} is written to a '
                         f"{' or '.join(wanted)} file, got {args.out}")


def build_cfg(args) -> Config:
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint: no such file: {args.checkpoint}')
    if args.batch_size is not None and args.batch_size < 1:
        raise SystemExit(f'--batch-size must be a positive int, got {args.batch_size}')
    check_out(args)
    cfg = runner_cli.load_config(args)
    cfg.load_from = args.checkpoint
    if args.batch_size is not None:
        cfg.test_dataloader.batch_size = args.batch_size
    if args.show or args.show_dir:
        try:
            enable_test_visualization(cfg, args.show, args.show_dir, args.wait_time,
                                      args.interval)
        except VisualizationError as e:
            raise SystemExit(f'--show / --show-dir: {e}')
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise SystemExit('--tta: the config defines no tta_model / tta_pipeline')
        cfg.model = ConfigDict(**cfg.tta_model, module=cfg.model)
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_cfg(args)
    runner = runner_cli.build_runner(cfg)
    if args.out is not None and args.out_item == 'pred':
        if cfg.get('default_scope') == 'mmdet':
            from mmdet.evaluation import DumpDetResults as Dump
        else:
            from mmengine.evaluator import DumpResults as Dump
        runner.test_evaluator.metrics.append(Dump(out_file_path=args.out))
    with runner_cli.checkpoint_errors_exit():
        metrics = runner.test()
    if args.out is not None and args.out_item == 'metrics':
        from mmengine.dist import is_main_process
        if is_main_process():
            write_json_atomic(args.out, {k: v for k, v in metrics.items()
                                         if isinstance(v, (int, float, str))})
            runner.logger.info(f'test metrics saved to {args.out}')
    if args.show_dir:
        where = painted_dir(cfg.default_hooks.visualization, runner.work_dir, runner.timestamp)
        runner.logger.info(f'painted images: {where}')
    return metrics


if __name__ == '__main__':
    main()
