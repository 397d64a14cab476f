"""Small helpers shared by the package and its tools."""
from .atomic import (
    atomic_write,
    save_checkpoint_atomic,
    save_figure_atomic,
    write_files_atomic,
    write_if_changed,
    write_json_atomic,
)
from .paths import project_root
from .progress import progress

__all__ = ['atomic_write', 'save_figure_atomic', 'save_checkpoint_atomic', 'write_files_atomic',
           'write_if_changed', 'write_json_atomic', 'progress', 'project_root']
