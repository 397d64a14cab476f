"""Fixes for the pinned stack's known breakages, applied by ``import dn_mm``.

Nothing in site-packages is edited, and safe loading stays on.

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
   naming the file and the fault (see dn_mm.engine.checkpoint_file); loading
   stays safe (weights_only).
"""
import pickle

import torch


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


def allow_mmengine_checkpoints() -> None:
    torch.serialization.add_safe_globals(checkpoint_safe_globals())


def _registered_loss_cls(self):
    return self._modules.get('loss_cls')


def fix_ssd_head() -> None:
    try:
        from mmdet.models.dense_heads import SSDHead
    except ImportError:  # mmdet is optional for classification-only use
        return
    if not isinstance(getattr(SSDHead, 'loss_cls', None), property):
        SSDHead.loss_cls = property(_registered_loss_cls)


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
    from mmengine.runner.checkpoint import (_load_checkpoint_with_prefix, load_checkpoint,
                                            load_state_dict)

    if getattr(WEIGHT_INITIALIZERS.get('Pretrained'), 'supports_strict', False):
        return

    class StrictablePretrainedInit(PretrainedInit):
        supports_strict = True

        def __init__(self, checkpoint, prefix=None, map_location='cpu', strict=False):
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

    StrictablePretrainedInit.__name__ = 'PretrainedInit'
    WEIGHT_INITIALIZERS.register_module(name='Pretrained', module=StrictablePretrainedInit,
                                        force=True)


def load_from_local(filename, map_location):
    """mmengine's local checkpoint loader, with faults reported per file."""
    from .engine.checkpoint_file import load_checkpoint_file
    return load_checkpoint_file(filename, map_location=map_location)


def check_local_checkpoints() -> None:
    from mmengine.runner.checkpoint import CheckpointLoader
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local, force=True)


def apply() -> None:
    allow_mmengine_checkpoints()
    check_local_checkpoints()
    fix_ssd_head()
    register_strict_pretrained()
