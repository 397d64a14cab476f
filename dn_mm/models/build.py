"""Build a model config of mmpretrain / mmdet outside a Runner, whatever scope is current.

mmengine resolves ``type`` names in the *current default scope*; a script or
test that builds an mmpretrain classifier after something set the scope to
mmdet (or the other way round) gets a KeyError. This builds in the scope
asked for, after importing that package's models so they are registered.
"""
import importlib

from mmengine.registry import DefaultScope


def build_model(model_cfg, scope: str = 'mmpretrain'):
    """``MODELS.build(model_cfg)`` in ``scope`` ('mmpretrain', 'mmdet', or 'mmengine')."""
    if scope == 'mmengine':
        from mmengine.registry import MODELS
    else:
        importlib.import_module(f'{scope}.models')
        MODELS = importlib.import_module(f'{scope}.registry').MODELS
    with DefaultScope.overwrite_default_scope(scope):
        return MODELS.build(model_cfg)
