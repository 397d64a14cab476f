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

    def __init__(self, path, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f'checkpoint {self.path}: {problem}')


def _diagnose(path: str, err: Exception) -> str:
    """What is wrong with ``path``, given the error torch.load raised on it."""
    with open(path, 'rb') as f:
        head = f.read(4)
    text = str(err)
    if isinstance(err, pickle.UnpicklingError) and 'Weights only load failed' in text:
        needed = [line.strip() for line in text.splitlines() if 'GLOBAL' in line or
                  'Unsupported' in line]
        detail = needed[0] if needed else text.splitlines()[0]
        return (f'refused by safe loading (weights_only): {detail}. The file wants to '
                'run or build objects outside the allowlist; it is not a checkpoint '
                'dn_mm wrote, and may be malicious. Nothing in it was run.')
    if head == ZIP_MAGIC:
        if not zipfile.is_zipfile(path):
            return ('is truncated: its zip archive has no central directory '
                    '(the write was cut short, e.g. a job killed while saving)')
        return f'is corrupt (its zip archive does not read back: {text.splitlines()[0]})'
    return ('is not a PyTorch checkpoint (neither a torch.save zip archive nor a '
            f'legacy torch pickle; it starts with {head!r})')


def load_checkpoint_file(path, map_location=None):
    """``torch.load(path, map_location)`` (safe loading) with faults as CheckpointFileError."""
    path = os.path.expanduser(str(path))
    if not os.path.isfile(path):
        raise CheckpointFileError(path, 'no such file')
    if os.path.getsize(path) == 0:
        raise CheckpointFileError(path, 'is empty (0 bytes)')
    try:
        return torch.load(path, map_location=map_location)
    except (RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, EOFError, OSError,
            ValueError, KeyError, UnicodeDecodeError, AttributeError, IndexError) as err:
        raise CheckpointFileError(path, _diagnose(path, err)) from None
