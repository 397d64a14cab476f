"""What tools/train.py and tools/test.py share: arguments, config loading, the Runner.

As in mmdet / mmpretrain: ``--work-dir``, ``--cfg-options``, ``--launcher``,
``--local-rank``; the work dir defaults to ``work_dirs/<config name>``. The
Runner checks every checkpoint it loads (``tools/test.py``'s, ``load_from``,
``--resume``) for its kind, and a bad checkpoint file ends the tool with one
line naming the file and the fault (:func:`checkpoint_errors_exit`), and so
do an image the data pipeline cannot read and a ``norm_cfg`` of an unknown type.
"""
import os
import os.path as osp
import re
import traceback
import types
from contextlib import contextmanager

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

    from ..models.build import check_norm_types
    from .cpu_distributed import prepare_cpu_distributed
    try:  # an unknown norm_cfg type: one line naming it, not mmcv's 'Cannot find None'
        check_norm_types(cfg.model, cfg.get('default_scope') or 'mmengine')
    except ValueError as err:
        raise SystemExit(f'error: config {err}') from None
    prepare_cpu_distributed(cfg, cfg.launcher)
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.load_checkpoint = types.MethodType(load_checked_checkpoint, runner)
    compile_eval_steps(runner, cfg.get('compile'))
    return runner


def compile_eval_steps(runner, compile_cfg) -> None:
    """The config's ``compile`` (True or torch.compile's arguments) for validation and test too.

    mmengine's Runner compiles ``train_step`` only, so ``tools/test.py`` of a config
    with ``compile=True`` would have run eagerly.
    """
    if not compile_cfg:
        return
    import torch
    options = {} if compile_cfg is True else dict(compile_cfg)
    for step in ('val_step', 'test_step'):
        setattr(runner.model, step, torch.compile(getattr(runner.model, step), **options))
    runner.logger.info('val_step and test_step compiled (torch.compile)')


def load_checked_checkpoint(runner, filename, map_location='cpu', strict=False,
                            revise_keys=[(r'^module.', '')]):
    """``Runner.load_checkpoint``, refusing a checkpoint of another kind of model.

    The steps of mmengine 0.10.7's ``Runner.load_checkpoint`` (the pinned version; a test
    compares them with the installed source), plus :func:`check_checkpoint_kind` (and, when
    resuming, :func:`check_resumable`) before the weights are loaded. A copy rather than a
    wrapper because mmengine offers no public point between reading the file and loading
    the weights that knows the file name (``after_load_checkpoint`` hooks get the dict only).
    """
    from mmengine.model import is_model_wrapper
    from mmengine.runner.checkpoint import _load_checkpoint, _load_checkpoint_to_model

    from ..utils.checkpoint_file import check_checkpoint_kind, check_resumable
    from .hooks.exact_resume_hook import is_resuming
    checkpoint = _load_checkpoint(filename, map_location=map_location)
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    check_checkpoint_kind(model, checkpoint, filename)
    if is_resuming(runner):
        check_resumable(checkpoint, filename)
    runner.call_hook('after_load_checkpoint', checkpoint=checkpoint)
    checkpoint = _load_checkpoint_to_model(model, checkpoint, strict, revise_keys=revise_keys)
    runner._has_loaded = True
    runner.logger.info(f'Load checkpoint from {filename}')
    return checkpoint


@contextmanager
def checkpoint_errors_exit():
    """Turn a :class:`CheckpointFileError`, or an image the data pipeline cannot read, into a
    one-line exit (no traceback)."""
    from ..utils.checkpoint_file import CheckpointFileError
    try:
        yield
    except CheckpointFileError as err:
        raise SystemExit(f'error: {err}') from None
    except Exception as err:  # anything but an image fault is re-raised as it was
        fault = unreadable_image(err)
        if fault is None:
            raise
        raise SystemExit(f'error: image {fault}; the run stopped. List every bad entry of the '
                         'config with: python tools/misc/verify_dataset.py CONFIG') from None


#: mmcv's LoadImageFromFile: a file that does not decode, or one that is not there. Inside a
#: DataLoader worker the error reaches the main process with the worker's traceback as text.
_IMAGE_FAULTS = ((re.compile(r'failed to load image: (\S+)'), 'cannot be decoded'),
                 (re.compile(r"No such file or directory: '([^']+)'"), 'is missing'))


def unreadable_image(err: BaseException):
    """``'PATH cannot be decoded'`` / ``'PATH is missing'`` if ``err`` is the data pipeline
    failing to load an image, else None (only errors raised in mmcv's image loading count)."""
    text = str(err)
    frames = traceback.extract_tb(err.__traceback__)
    in_loader = ('transforms/loading.py' in text
                 or any(f.filename.endswith('transforms/loading.py') for f in frames))
    if not in_loader:
        return None
    for pattern, what in _IMAGE_FAULTS:
        found = pattern.findall(text)  # the last: a worker's text quotes mmcv's source line first
        if found:
            return f'{found[-1]} {what}'
    return None
