"""``tools/test.py --show / --show-dir`` for mmdet and mmpretrain configs alike.

The two libraries' visualization hooks are switched on differently: mmdet's
``DetVisualizationHook`` takes ``draw`` and ``test_out_dir`` (a folder under
``<work_dir>/<timestamp>/``), mmpretrain's ``VisualizationHook`` takes
``enable``, ``out_dir`` (the folder as given) and ``interval``. Setting one
library's keys on the other's hook fails when the hook is built
(``unexpected keyword argument 'enable'``), so the hook's own signature
decides which keys are set, as each library's ``tools/test.py`` does.
"""
import inspect
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config


class VisualizationError(Exception):
    """A config without a usable visualization hook, or no display for ``--show``."""


def hook_class(cfg: Config, hook_cfg: dict):
    """The class the config's visualization hook builds (in the config's scope)."""
    from mmengine.registry import HOOKS
    hook_type = hook_cfg.get('type')
    if not isinstance(hook_type, str):
        return hook_type  # a class given directly
    scope = cfg.get('default_scope', None)
    with HOOKS.switch_scope_and_registry(scope) as registry:
        cls = registry.get(hook_type)
    if cls is None:
        raise VisualizationError(f'default_hooks.visualization: unknown hook type {hook_type!r} '
                                 f'in scope {scope!r}')
    return cls


def display_backend() -> Optional[str]:
    """The interactive matplotlib backend ``--show`` would open windows with, or None.

    mmengine's Visualizer shows images through matplotlib. Without a display
    matplotlib falls back to a non-interactive backend (Agg), where showing
    an image only waits ``wait_time`` seconds and draws nothing.
    """
    import matplotlib
    from matplotlib.backends import BackendFilter, backend_registry
    backend = matplotlib.get_backend().lower()
    if backend.startswith('module://'):
        return backend  # a third-party backend: trust it
    interactive = {b.lower() for b in backend_registry.list_builtin(BackendFilter.INTERACTIVE)}
    return backend if backend in interactive else None


def enable_test_visualization(cfg: Config, show: bool = False, show_dir: Optional[str] = None,
                              wait_time: float = 2.0, interval: int = 1) -> str:
    """Switch the config's visualization hook on for testing; returns ``'mmdet'`` or
    ``'mmpretrain'``.

    Args:
        show: display every painted image in a window (needs a display).
        show_dir: save the painted images; mmdet: under ``<work_dir>/<timestamp>/``,
            mmpretrain: this folder itself (each library's own semantics).
        wait_time: seconds each shown image stays up.
        interval: mmpretrain paints every ``interval``-th sample (mmdet's test
            paints every image).
    """
    hooks = cfg.get('default_hooks', None) or {}
    if not hooks.get('visualization'):
        raise VisualizationError('the config has no default_hooks.visualization (mmdet: '
                                 "dict(type='DetVisualizationHook'), mmpretrain: "
                                 "dict(type='VisualizationHook'))")
    if interval < 1:
        raise VisualizationError(f'--interval must be a positive int, got {interval}')
    if show:
        backend = display_backend()
        if backend is None:
            import matplotlib
            raise VisualizationError(
                '--show needs a display, but matplotlib found none (backend '
                f'{matplotlib.get_backend()!r}, DISPLAY={os.environ.get("DISPLAY")!r});'
                ' save the painted images with --show-dir DIR instead')
    hook = hooks['visualization']
    params = inspect.signature(hook_class(cfg, hook).__init__).parameters
    if 'draw' in params and 'test_out_dir' in params:  # mmdet's DetVisualizationHook
        hook.draw = True
        hook.show = show
        hook.wait_time = wait_time
        if show_dir:
            hook.test_out_dir = show_dir
        return 'mmdet'
    if 'enable' in params:  # mmpretrain's VisualizationHook
        hook.enable = True
        hook.show = show
        hook.wait_time = wait_time
        hook.interval = interval
        hook.out_dir = show_dir
        return 'mmpretrain'
    raise VisualizationError(
        f"default_hooks.visualization: {hook.get('type')!r} takes neither draw/test_out_dir "
        '(mmdet) nor enable/out_dir (mmpretrain); switch it on in the config instead')


def painted_dir(hook_cfg: dict, work_dir: str, timestamp: str) -> Optional[str]:
    """Where the hook switched on by :func:`enable_test_visualization` saves painted images."""
    if hook_cfg.get('test_out_dir'):  # mmdet: under the run's timestamp folder
        return osp.join(work_dir, timestamp, hook_cfg['test_out_dir'])
    return hook_cfg.get('out_dir')
