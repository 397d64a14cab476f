"""Read a checkpoint file, or fail with one error that names the file and what is wrong with it.

``torch.load`` reports a truncated, corrupt, empty or foreign file as a
zipfile / pickle / ``PytorchStreamReader`` traceback that names neither the
file nor the fault. :func:`load_checkpoint_file` loads with safe loading
(``weights_only``, see :mod:`dn_mm.compat`) and turns every such failure into a
:class:`CheckpointFileError`. A pickle that needs anything outside the
allowlist (e.g. one that would call ``os.system``) is refused before any of it
runs. ``dn_mm.compat`` installs this as mmengine's loader of local files, so
``tools/test.py``, ``--resume``, ``load_from`` and the ``Pretrained`` init all
report bad files this way.
"""
import os
import pickle
import zipfile

import torch

ZIP_MAGIC = b'PK\x03\x04'


class CheckpointFileError(ValueError):
    """A checkpoint file that cannot be used; the message names the file and the fault."""

    def __init__(self, path: str, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f'checkpoint {self.path}: {problem}')


def _diagnose(path: str, err: Exception) -> str:
    """What is wrong with ``path``, given the error torch.load raised on it."""
    with open(path, 'rb') as f:
        head = f.read(4)
    text = str(err)
    if 'Unsupported global' in text or 'GLOBAL' in text:
        needed = [line.strip() for line in text.splitlines() if 'GLOBAL' in line]
        detail = (needed[0].split('. Please')[0] if needed else text.splitlines()[0]).rstrip('.')
        return (f'refused by safe loading (weights_only): {detail}. The file wants to '
                'run or build objects outside the allowlist; it is not a checkpoint '
                'dn_mm wrote, and may be malicious. Nothing in it was run.')
    if head == ZIP_MAGIC:
        return f'is corrupt (its zip archive does not read back: {text.splitlines()[0]})'
    return ('is not a PyTorch checkpoint (neither a torch.save zip archive nor a '
            f'legacy torch pickle; it starts with {head!r})')


def _check_archive(path: str) -> None:
    """Truncated or corrupt zip archives, found before unpickling (CRC of every member)."""
    with open(path, 'rb') as f:
        if f.read(4) != ZIP_MAGIC:
            return  # a legacy torch pickle, or not a checkpoint: torch.load tells
    if not zipfile.is_zipfile(path):
        raise CheckpointFileError(path, 'is truncated: its zip archive has no central directory '
                                  '(the write was cut short, e.g. a job killed while saving)')
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise CheckpointFileError(path, f'is corrupt (its zip archive does not read: {err})') \
            from None
    if bad is not None:
        raise CheckpointFileError(path, f'is corrupt: the CRC of its member {bad!r} does not '
                                  'match (damaged on disk or in transfer)')


def load_checkpoint_file(path, map_location=None):
    """``torch.load(path, map_location)`` (safe loading) with faults as CheckpointFileError."""
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise CheckpointFileError(path, 'no such file')
    if os.path.getsize(path) == 0:
        raise CheckpointFileError(path, 'is empty (0 bytes)')
    _check_archive(path)
    try:
        return torch.load(path, map_location=map_location)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError,
            ValueError, KeyError, UnicodeDecodeError, AttributeError, IndexError) as err:
        raise CheckpointFileError(path, _diagnose(path, err)) from None


def state_dict_of(checkpoint, path) -> dict:
    """The weights of a loaded checkpoint (mmengine's ``state_dict`` entry, or a bare state
    dict)."""
    if not isinstance(checkpoint, dict):
        raise CheckpointFileError(path, f'holds a {type(checkpoint).__name__}, not a checkpoint '
                                  "(a dict with 'state_dict', or a state dict)")
    state = checkpoint.get('state_dict', checkpoint)
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise CheckpointFileError(path, "has no state dict (its 'state_dict' entry is a "
                                  f'{type(state).__name__})')
    return state


def _groups(keys) -> set:
    """Top-level parts (``backbone``, ``head``...) of state-dict keys, DDP's ``module.`` dropped."""
    return {(k[len('module.'):] if k.startswith('module.') else k).split('.')[0] for k in keys}


def check_checkpoint_kind(model, checkpoint, path) -> None:
    """Fail when ``checkpoint`` was saved from another kind of model than ``model``.

    Another kind: the checkpoint has top-level parts the model lacks (a
    detector's ``neck``/``bbox_head`` for a classifier) *and* lacks top-level
    parts the model has (the classifier's ``head``). A BN checkpoint for a DN model is the
    same kind (the DN layers take BN's weights; only the SC-Modules are missing), and so is a
    backbone-only checkpoint.
    """
    state = state_dict_of(checkpoint, path)
    model_keys = set(model.state_dict())
    model_groups, ckpt_groups = _groups(model_keys), _groups(state)
    extra, missing = ckpt_groups - model_groups, model_groups - ckpt_groups
    if extra and missing:
        raise CheckpointFileError(path, (
            f'is for another kind of model: it has {sorted(extra)}, which '
            f'{type(model).__name__} lacks, and lacks {sorted(missing)}, which it has'))


RESUME_KEYS = ('meta', 'state_dict', 'message_hub')


def check_resumable(checkpoint, path) -> None:
    """Fail unless ``checkpoint`` carries what ``Runner.resume`` reads."""
    lacking = [k for k in RESUME_KEYS if not isinstance(checkpoint, dict) or k not in checkpoint]
    if not lacking:
        meta = checkpoint['meta']
        lacking = [f'meta.{k}' for k in ('epoch', 'iter') if not isinstance(meta, dict)
                   or k not in meta]
    if lacking:
        raise CheckpointFileError(path, (
            f'cannot be resumed from: it has no {", ".join(lacking)} (a weights-only '
            'checkpoint, e.g. an exported backbone or a converted one: pass it as '
            'load_from, not --resume)'))
