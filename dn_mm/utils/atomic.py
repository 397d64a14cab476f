"""Write files so that a crash or a kill never leaves a half-written one.

Everything dn_mm writes (JSON reports, checkpoints, converted datasets,
pictures) goes through :func:`atomic_write`: the data lands in a temporary
file in the destination's folder and replaces the destination with one
``os.replace``, which is atomic on POSIX and Windows. A reader sees the old
file or the new one, never a mix.
"""
import json
import os
import tempfile
from contextlib import contextmanager
from typing import Dict, Iterator


def _temp_beside(path: str):
    """``(fd, tmp)``: a temp file in ``path``'s folder (created if missing), with open()'s mode."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path) + '.',
                               suffix='.tmp')
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private (0o600); give open()'s mode
    return fd, tmp


@contextmanager
def atomic_write(path: str, mode: str = 'w', **open_kwargs) -> Iterator:
    """``open(path, mode)`` through a temp file that is renamed onto ``path`` on success.

    On an exception the temp file is removed and ``path`` is left as it was.
    The destination's folder is created when missing.
    """
    if mode not in ('w', 'wb'):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    fd, tmp = _temp_beside(path)
    try:
        with os.fdopen(fd, mode, **open_kwargs) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_files_atomic(contents: Dict[str, bytes]) -> None:
    """Write ``{path: bytes}`` all or nothing: every file is staged before any is replaced."""
    staged = []
    try:
        for path, data in contents.items():
            fd, tmp = _temp_beside(path)
            staged.append((tmp, path))
            with os.fdopen(fd, 'wb') as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.remove(tmp)


def write_json_atomic(path: str, data, indent: int = 1) -> None:
    """Write ``data`` as JSON (sorted keys) to ``path`` atomically."""
    with atomic_write(path) as f:
        json.dump(data, f, indent=indent, sort_keys=True)
        f.write('\n')


def write_if_changed(path: str, data: bytes) -> bool:
    """Write ``data`` to ``path`` atomically unless the file already holds these bytes.

    Returns True when the file was (re)written, with ``open()``'s permissions
    (0o666 less the umask, e.g. 0o644). Re-running a converter on the same input
    therefore rewrites nothing and keeps the files' times.
    """
    try:
        with open(path, 'rb') as f:
            if f.read() == data:
                return False
    except OSError:
        pass
    with atomic_write(path, 'wb') as f:
        f.write(data)
    return True


def save_checkpoint_atomic(obj, path: str) -> None:
    """``torch.save(obj, path)`` atomically."""
    import torch
    with atomic_write(path, 'wb') as f:
        torch.save(obj, f)


def save_figure_atomic(fig, path: str, dpi: int = 120) -> None:
    """``fig.savefig(path)`` as PNG, atomically; the figure is closed afterwards, saved or not."""
    import matplotlib.pyplot as plt
    try:
        with atomic_write(path, 'wb') as f:
            fig.savefig(f, format='png', dpi=dpi, bbox_inches='tight')
    finally:
        plt.close(fig)
