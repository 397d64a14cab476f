"""Build a model config of mmpretrain / mmdet outside a Runner, whatever scope is current.

mmengine resolves ``type`` names in the *current default scope*; a script or
test that builds an mmpretrain classifier after something set the scope to
mmdet (or the other way round) gets a KeyError. This builds in the scope
asked for, after importing that package's models so they are registered.

Before building, :func:`check_norm_types` reads every ``norm_cfg`` of the
config: mmcv's ``build_norm_layer`` answers an unknown type with
``KeyError: Cannot find None in registry`` (it prints the lookup's result, not
the name), deep inside the model's constructor.
"""
import difflib
import importlib

from mmengine.registry import DefaultScope
from torch import nn


def _scope_registry(scope: str):
    if scope == 'mmengine':
        from mmengine.registry import MODELS
        return MODELS
    importlib.import_module(f'{scope}.models')
    return importlib.import_module(f'{scope}.registry').MODELS


def _norm_cfgs(node, path: str):
    """``(path, norm_cfg)`` of every ``norm_cfg`` dict inside a config tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            where = f'{path}.{key}' if path else str(key)
            if key == 'norm_cfg' and isinstance(value, dict):
                yield where, value
            else:
                yield from _norm_cfgs(value, where)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _norm_cfgs(value, f'{path}[{i}]')


def check_norm_types(model_cfg: dict, scope: str = 'mmpretrain', path: str = 'model') -> None:
    """Raise a ValueError naming every ``norm_cfg`` whose type ``scope``'s registry lacks.

    The message lists the dn_mm layers and the other norm layers that registry builds,
    and the closest registered name. A dn_mm name that ``scope`` resolves to another
    class (a downstream registry registered its own 'DNB', which shadows ours there) is
    an error too: the model would silently get that layer.
    """
    from mmengine.registry import MODELS

    from .layers.dynamic_norm import DynamicNormBase
    from .layers.registry import norm_layer_names
    registry = _scope_registry(scope)
    for where, norm_cfg in _norm_cfgs(model_cfg, path):
        norm_type = norm_cfg.get('type')
        if not isinstance(norm_type, str):
            continue  # a class
        found, ours = registry.get(norm_type), MODELS.module_dict.get(norm_type)
        if isinstance(ours, type) and issubclass(ours, DynamicNormBase) and found is not ours:
            raise ValueError(
                f'{where}: norm layer type {norm_type!r} is dn_mm\'s {ours.__name__} in '
                f"mmengine's registry, but the {scope!r} scope resolves it to "
                f'{found.__module__}.{found.__qualname__}: the names collide. Write '
                f"type='mmengine.{norm_type}' for dn_mm's layer, or rename the other one")
        if found is not None:
            continue
        names = norm_layer_names(registry)
        close = difflib.get_close_matches(norm_type, names['dn_mm'] + names['other'], n=1)
        hint = f' (did you mean {close[0]!r}?)' if close else ''
        raise ValueError(
            f'{where}: unknown norm layer type {norm_type!r}{hint}. dn_mm registers '
            f"{names['dn_mm']} (import dn_mm or add it to custom_imports); other norm "
            f"layers in the {scope!r} scope: {names['other']}")


def build_model(model_cfg: dict, scope: str = 'mmpretrain') -> nn.Module:
    """``MODELS.build(model_cfg)`` in ``scope`` ('mmpretrain', 'mmdet', or 'mmengine')."""
    registry = _scope_registry(scope)
    check_norm_types(model_cfg, scope)
    with DefaultScope.overwrite_default_scope(scope):
        return registry.build(model_cfg)
