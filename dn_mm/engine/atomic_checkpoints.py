"""Checkpoints that a kill cannot leave half-written, and a ``last_checkpoint`` that always loads.

mmengine writes a checkpoint with ``LocalBackend.put`` (``open(path, 'wb')``
then ``write``) and ``<work_dir>/last_checkpoint`` with a plain ``open``: a job
killed during either write leaves a truncated file under the final name, and
``--resume`` then fails on it. Two narrow fixes, no site-packages edits:

* :class:`AtomicLocalBackend`, mmengine's local file backend whose ``put`` goes
  through :func:`dn_mm.utils.atomic_write` (temp file, then ``os.replace``).
  :func:`make_checkpoint_hook_atomic` points a ``CheckpointHook`` at it.
* :func:`recover_last_checkpoint`: before an auto-resume, a ``last_checkpoint``
  that is empty or names a missing or unreadable file is pointed at the newest
  checkpoint in the work dir that loads, and stale temp files are removed.
"""
import glob
import os
import os.path as osp
from typing import Optional

from mmengine.fileio import LocalBackend, register_backend

from ..utils import atomic_write
from ..utils.checkpoint_file import CheckpointFileError, load_checkpoint_file

BACKEND = 'dn_mm_atomic_local'
LAST = 'last_checkpoint'


class AtomicLocalBackend(LocalBackend):
    """``LocalBackend`` whose writes land under their name whole or not at all."""

    def put(self, obj: bytes, filepath) -> None:
        with atomic_write(str(filepath), 'wb') as f:
            f.write(obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        with atomic_write(str(filepath), 'w', encoding=encoding) as f:
            f.write(obj)


register_backend(BACKEND, AtomicLocalBackend, force=True)


def make_checkpoint_hook_atomic(hook) -> bool:
    """Make a local ``CheckpointHook`` write atomically; False if it uses another backend."""
    if hook.file_client_args is not None or (hook.backend_args or {}).get('backend') not in (
            None, 'local', BACKEND):
        return False
    if hook.out_dir is not None and '://' in str(hook.out_dir):
        return False
    hook.backend_args = dict(hook.backend_args or {}, backend=BACKEND)
    return True


def write_last_checkpoint(work_dir: str, ckpt_path: str) -> None:
    with atomic_write(osp.join(work_dir, LAST)) as f:
        f.write(ckpt_path)


def recover_last_checkpoint(work_dir: str, logger=None) -> Optional[str]:
    """Make ``<work_dir>/last_checkpoint`` name a checkpoint that loads; returns it.

    Returns None (and leaves things as they are) when the work dir holds no
    loadable checkpoint; mmengine then starts from scratch as usual.
    """
    for tmp in glob.glob(osp.join(work_dir, '.*.tmp')):  # temp files of killed writes
        os.remove(tmp)
    last_file = osp.join(work_dir, LAST)
    named = None
    if osp.isfile(last_file):
        with open(last_file) as f:
            named = f.read().strip() or None
    if named is not None:
        try:
            load_checkpoint_file(named, map_location='cpu')
            return named
        except CheckpointFileError as err:
            problem = str(err)
    else:
        problem = f'{last_file} is missing or empty'
    candidates = sorted(glob.glob(osp.join(work_dir, '*.pth')), key=osp.getmtime, reverse=True)
    for path in candidates:
        try:
            load_checkpoint_file(path, map_location='cpu')
        except CheckpointFileError:
            continue
        write_last_checkpoint(work_dir, path)
        if logger is not None:
            logger.warning(f'resume: {problem}; resuming from {path} instead')
        return path
    return None
