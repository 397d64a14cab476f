"""Fixes for the pinned stack's known breakages, applied by ``import dn_mm``.

Nothing in site-packages is edited, and safe loading stays on. Each fix first
checks that the installed upstream still has the problem (a feature check, not
a version number), applies only then, and logs what it changed at debug level
(``DN_MM_VERBOSE=1``: one line listing them); :func:`applied` lists them. The
docs/getting_started.md, "What importing dn_mm changes", describes each. Importing dn_mm
is otherwise quiet: the ``pkg_resources is deprecated`` warning, which mmengine
raises each time it resolves a ``mmdet::`` / ``mmpretrain::`` config (it
reloads ``pkg_resources``), is filtered (:data:`QUIETED_WARNINGS`).

1. torch >= 2.6 loads checkpoints with ``weights_only=True``; mmengine 0.10.7
   saves its message hub in them (``HistoryBuffer`` objects holding numpy
   arrays and scalars), so ``load_checkpoint`` / ``--resume`` fail with an
   ``UnpicklingError``. We add exactly those classes and numpy's array/scalar
   reconstructors to torch's allowlist of safe globals: data classes only,
   nothing that runs code, so a checkpoint whose pickle would call e.g.
   ``os.system`` is still refused before anything runs.
2. mmdet 3.3.0's ``SSDHead`` never builds ``self.loss_cls`` (its loss is
   hand-written), but ``BaseDenseHead._predict_by_feat_single`` reads it, so
   predict/val crash (open-mmlab/mmdetection#11780). SSDHead gets a read-only
   ``loss_cls`` that returns the registered module or None, which makes the
   shared code take its softmax branch, as SSD intends. Every SSD config
   (ours, mmdet's own) is fixed once dn_mm is imported.
3. mmengine's ``Pretrained`` initializer cannot fail on a checkpoint that does
   not fit; it gains an opt-in ``strict=True`` (see register_strict_pretrained).
4. mmengine loads local checkpoint files with a bare ``torch.load``: a
   truncated, empty or foreign file ends in a zipfile / pickle traceback. Its
   local loader is replaced by one that raises a ``CheckpointFileError``
   naming the file and the fault (see dn_mm.utils.checkpoint_file); loading
   stays safe (weights_only).
"""
import inspect
import io
import logging
import os
import pickle
import sys
import warnings
from typing import List, Optional

import torch

_APPLIED: List[str] = []


def history_buffer_method(owner, name):
    """Stands in for ``getattr`` while unpickling, for HistoryBuffer methods only.

    mmengine pickles ``HistoryBuffer``'s statistics methods (min, max, current,
    mean) as ``getattr(HistoryBuffer, 'min')``. Allowlisting the builtin
    ``getattr`` would let a pickle reach any attribute of any allowed object;
    this resolves exactly those methods and refuses everything else.
    """
    from mmengine.logging import HistoryBuffer
    if owner is HistoryBuffer and name in ('min', 'max', 'current', 'mean'):
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(
        f'refusing getattr({owner!r}, {name!r}) in a checkpoint: only the statistics '
        'methods of mmengine HistoryBuffer are allowed')


def checkpoint_safe_globals() -> list:
    """The globals an mmengine checkpoint needs beyond torch's defaults."""
    import numpy as np
    from mmengine.logging import HistoryBuffer

    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    safe = [HistoryBuffer, np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar,
            # pickle protocol 2 names builtins '__builtin__', later protocols 'builtins'
            (history_buffer_method, '__builtin__.getattr'),
            (history_buffer_method, 'builtins.getattr')]
    # numpy 1.x pickles these under numpy.core, numpy 2.x under numpy._core
    for mod in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        safe += [(multiarray._reconstruct, f'{mod}._reconstruct'),
                 (multiarray.scalar, f'{mod}.scalar')]
    # dtype classes (numpy >= 1.25 pickles dtypes through numpy.dtypes.*DType)
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        safe += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return safe


def mmengine_checkpoints_refused() -> bool:
    """Does safe ``torch.load`` refuse what mmengine puts in a checkpoint (a HistoryBuffer)?"""
    from mmengine.logging import HistoryBuffer
    history = HistoryBuffer()
    history.update(1.0)
    buf = io.BytesIO()
    torch.save({'message_hub': history}, buf)
    buf.seek(0)
    try:
        torch.load(buf, weights_only=True)
    except pickle.UnpicklingError:
        return True
    return False


def allow_mmengine_checkpoints() -> None:
    torch.serialization.add_safe_globals(checkpoint_safe_globals())


def _registered_loss_cls(self):
    return self._modules.get('loss_cls')


def _ssd_head():
    try:
        from mmdet.models.dense_heads import SSDHead
    except ImportError:  # mmdet is optional for classification-only use
        return None
    return SSDHead


def ssd_head_lacks_loss_cls() -> bool:
    """mmdet#11780: SSDHead never sets ``self.loss_cls``, which its predict path reads."""
    head = _ssd_head()
    return (head is not None and not hasattr(head, 'loss_cls')
            and 'self.loss_cls' not in inspect.getsource(head.__init__))


def fix_ssd_head() -> None:
    _ssd_head().loss_cls = property(_registered_loss_cls)


def pretrained_lacks_strict() -> bool:
    from mmengine.registry import WEIGHT_INITIALIZERS
    init = WEIGHT_INITIALIZERS.get('Pretrained')
    return 'strict' not in inspect.signature(init.__init__).parameters


def register_strict_pretrained() -> None:
    """``init_cfg=dict(type='Pretrained', ..., strict=True)``: fail when weights do not load.

    mmengine's ``Pretrained`` initializer always loads non-strictly: a backbone
    whose key names differ from the checkpoint's (mmdet's MobileNetV2 shares 12
    of 312 keys with mmpretrain's) silently keeps its random weights. We
    re-register it with an optional ``strict`` argument (default False, so every
    existing config behaves as before); with ``strict=True`` missing and
    unexpected keys are logged and raise. ``num_batches_tracked`` is ignored,
    as mmengine does.
    """
    from mmengine.logging import print_log
    from mmengine.model.weight_init import PretrainedInit, update_init_info
    from mmengine.registry import WEIGHT_INITIALIZERS
    from mmengine.runner.checkpoint import (
        _load_checkpoint_with_prefix,
        load_checkpoint,
        load_state_dict,
    )

    class StrictPretrainedInit(PretrainedInit):
        """mmengine's ``Pretrained`` plus ``strict`` (default False: mmengine's behaviour)."""

        def __init__(self, checkpoint: str, prefix: Optional[str] = None,
                     map_location: str = 'cpu', strict: bool = False):
            super().__init__(checkpoint, prefix=prefix, map_location=map_location)
            self.strict = strict

        def __call__(self, module):
            if self.prefix is None:
                print_log(f'load model from: {self.checkpoint}', logger='current')
                load_checkpoint(module, self.checkpoint, map_location=self.map_location,
                                strict=self.strict, logger='current')
            else:
                print_log(f'load {self.prefix} in model from: {self.checkpoint}', logger='current')
                state_dict = _load_checkpoint_with_prefix(self.prefix, self.checkpoint,
                                                          map_location=self.map_location)
                load_state_dict(module, state_dict, strict=self.strict, logger='current')
            if hasattr(module, '_params_init_info'):
                update_init_info(module, init_info=self._get_init_info())

    WEIGHT_INITIALIZERS.register_module(name='Pretrained', module=StrictPretrainedInit,
                                        force=True)


def load_from_local(filename, map_location):
    """mmengine's local checkpoint loader, with faults reported per file."""
    from .utils.checkpoint_file import load_checkpoint_file
    return load_checkpoint_file(filename, map_location=map_location)


def local_loader_is_bare() -> bool:
    """Is mmengine's own local-file loader (a bare ``torch.load``) still the one registered?"""
    from mmengine.runner.checkpoint import CheckpointLoader
    return (getattr(CheckpointLoader._schemes.get(''), '__module__', '')
            == 'mmengine.runner.checkpoint')


def check_local_checkpoints() -> None:
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)


#: (name, does upstream still need it, the fix, what it changes)
FIXES = (
    ('safe-checkpoint-globals', mmengine_checkpoints_refused, allow_mmengine_checkpoints,
     "torch.load(weights_only=True) accepts mmengine's HistoryBuffer and numpy arrays"),
    ('ssd-head-loss-cls', ssd_head_lacks_loss_cls, fix_ssd_head,
     'mmdet SSDHead gets a read-only loss_cls (mmdet#11780)'),
    ('pretrained-strict', pretrained_lacks_strict, register_strict_pretrained,
     "init_cfg type='Pretrained' accepts strict=True (default False, as mmengine)"),
    ('checkpoint-file-errors', local_loader_is_bare, check_local_checkpoints,
     'local checkpoint files load through dn_mm.utils.checkpoint_file (one clear error per '
     'bad file; still weights_only)'),
)


#: (message prefix, category) of the upstream warnings dn_mm's imports and config loading raise
QUIETED_WARNINGS = (('pkg_resources is deprecated as an API', UserWarning),)
#: set to 1 for one line naming the stack fixes applied in each process
VERBOSE_ENV = 'DN_MM_VERBOSE'


def _logger() -> logging.Logger:
    """``dn_mm`` logger, to stderr (tools whose stdout is parsed stay clean); WARNING by
    default, INFO with ``DN_MM_VERBOSE=1``."""
    logger = logging.getLogger('dn_mm')
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter('%(name)s: %(message)s'))
        logger.addHandler(handler)
        verbose = os.environ.get(VERBOSE_ENV, '') not in ('', '0')
        logger.setLevel(logging.INFO if verbose else logging.WARNING)
        logger.propagate = False
    return logger


def apply() -> List[str]:
    """Apply every fix the installed stack still needs, once per process; return their names."""
    for message, category in QUIETED_WARNINGS:
        warnings.filterwarnings('ignore', message=message, category=category)
    new = []
    for name, needed, fix, what in FIXES:
        if name in _APPLIED or not needed():
            continue
        fix()
        _APPLIED.append(name)
        new.append(name)
        _logger().debug(f'stack fix {name}: {what}')
    if new:
        _logger().info(f'stack fixes applied: {", ".join(new)}')
    return list(_APPLIED)


def applied() -> List[str]:
    """Names of the fixes applied in this process (see :data:`FIXES`)."""
    return list(_APPLIED)
