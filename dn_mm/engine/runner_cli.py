"""What tools/train.py and tools/test.py share: common arguments and config loading.

As in mmdet / mmpretrain: ``--work-dir``, ``--cfg-options``, ``--launcher``,
``--local-rank``; the work dir defaults to ``work_dirs/<config name>``.
"""
import os
import os.path as osp

from mmengine.config import Config, DictAction


def add_common_args(parser) -> None:
    parser.add_argument('--work-dir', help='the dir to save logs, models and metrics')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value pairs')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_common(parser, argv=None):
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def load_config(args) -> Config:
    """The config of ``args.config`` with the command line's overrides applied."""
    if not osp.isfile(args.config):
        raise SystemExit(f'config: no such file: {args.config}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    return cfg


def build_runner(cfg):
    """The Runner of ``cfg`` (after :func:`load_config`), distributed on CPUs too."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from .cpu_distributed import prepare_cpu_distributed
    prepare_cpu_distributed(cfg, cfg.launcher)
    return Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
