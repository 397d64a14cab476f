"""Our layers' names in mmengine's ``MODELS`` registry, and the names configs look up there.

Configs name layers by string (``norm_cfg=dict(type='DNB')``, ``act_cfg=dict(type='ReLU')``),
so a name taken twice or a typo is a config fault that should read as one:

* :func:`register_dn_layer` registers a layer under its names, but refuses (with both
  classes named) a name that another project's class already holds, where mmengine's
  ``force=True`` would silently replace that class and its configs would build ours.
* :func:`build_activation` builds an ``act_cfg`` and turns mmcv's KeyError / TypeError
  into a ValueError that lists the registered activations.
* :func:`norm_layer_names` lists the norm layers a registry offers, for errors about an
  unknown ``norm_cfg`` type (see :func:`dn_mm.models.build.check_norm_types`).
"""
from typing import Callable, Dict, List, Optional, Sequence, Union

from mmengine.registry import MODELS, Registry
from torch import nn

#: Modules whose registered classes are activations (torch's and mmcv's).
ACTIVATION_MODULES = ('torch.nn.modules.activation', 'mmcv.cnn.bricks.activation',
                      'mmcv.cnn.bricks.hsigmoid', 'mmcv.cnn.bricks.hswish',
                      'mmcv.cnn.bricks.swish')


def _same_class(a, b) -> bool:
    """The same class, or the same class re-created by ``importlib.reload``."""
    return a is b or (isinstance(a, type) and isinstance(b, type)
                      and (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__))


def register_dn_layer(names: Union[str, Sequence[str]]) -> Callable[[type], type]:
    """Class decorator: register a dn_mm layer in ``MODELS`` under ``names``.

    Re-registering the same class (a reload of dn_mm) replaces it; a name held by another
    class raises a ValueError naming both, instead of silently taking the name over.
    """
    names = [names] if isinstance(names, str) else list(names)

    def register(cls: type) -> type:
        for name in names:
            held = MODELS.module_dict.get(name)
            if held is not None and not _same_class(held, cls):
                raise ValueError(
                    f"cannot register dn_mm's {cls.__module__}.{cls.__qualname__} as {name!r} in "
                    f"mmengine's MODELS registry: {held.__module__}.{held.__qualname__} already "
                    f"holds that name, and configs with type={name!r} would build the wrong "
                    f'layer. Rename or unregister the other class (its names are free for '
                    f'dn_mm only), or import dn_mm first and register it under another name')
        MODELS.register_module(name=names, force=True, module=cls)
        return cls

    return register


def registered_names(predicate: Callable[[type], bool], registry: Registry = MODELS) -> List[str]:
    """Names of ``registry`` (and its parents) whose class satisfies ``predicate``."""
    names, seen = [], set()
    while registry is not None:
        for name, cls in registry.module_dict.items():
            if name not in seen and isinstance(cls, type) and predicate(cls):
                names.append(name)
            seen.add(name)
        registry = registry.parent
    return names


def activation_names() -> List[str]:
    return registered_names(lambda cls: cls.__module__ in ACTIVATION_MODULES)


def norm_layer_names(registry: Registry = MODELS) -> Dict[str, List[str]]:
    """``{'dn_mm': [...], 'other': [...]}``: the norm layers ``registry`` can build."""
    from torch.nn.modules.batchnorm import _NormBase

    from .dynamic_norm import DynamicNormBase
    dn = registered_names(lambda cls: issubclass(cls, DynamicNormBase), registry)
    other = registered_names(lambda cls: issubclass(cls, (_NormBase, nn.GroupNorm, nn.LayerNorm))
                             and not issubclass(cls, DynamicNormBase), registry)
    return {'dn_mm': dn, 'other': other}


def build_activation(act_cfg: Optional[dict], owner: str = 'act_cfg') -> nn.Module:
    """``build_activation_layer(act_cfg)``; a bad config is a ValueError naming ``owner``."""
    from mmcv.cnn import build_activation_layer  # mmcv imports torch ops lazily; keep import cheap
    if not isinstance(act_cfg, dict) or not isinstance(act_cfg.get('type'), str):
        raise ValueError(f"{owner} must be a dict with a 'type' key naming an activation, e.g. "
                         f"dict(type='ReLU'), got {act_cfg!r}")
    with MODELS.switch_scope_and_registry(None) as registry:  # as build_activation_layer
        found = registry.get(act_cfg['type'])
    if found is None:
        raise ValueError(f"{owner} type {act_cfg['type']!r} is not a registered activation; "
                         f'valid types: {activation_names()}')
    try:
        return build_activation_layer(act_cfg)
    except TypeError as err:  # unknown keyword for that activation
        raise ValueError(f'{owner} {act_cfg!r} does not build: {err}') from None
