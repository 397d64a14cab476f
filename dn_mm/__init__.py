"""dn_mm: Dynamic Normalization (DN-B, DN-C) for OpenMMLab.

``import dn_mm`` (or ``custom_imports=dict(imports=['dn_mm'])`` in a config)
registers the layers in mmengine's root ``MODELS`` registry, where mmcv's
``build_norm_layer``, mmdet and mmpretrain all find them, and applies the
stack fixes in :mod:`dn_mm.compat`.
"""
from mmengine.registry import MODELS

from . import compat
from .bn_role import BNRoleNorm
from .build import build_model
from .convert import bn_checkpoint_to_dn, convert_bn_to_dn, dn_layers
from .dnb import DNB
from .dnc import DNC
from .epoch_metrics_hook import EpochMetricsHook
from .sc_module import SCModule, sc_widths
from .sebn import SEBN

__version__ = '0.1.0'

# force=True: importing twice (or reloading) re-registers the same classes
for _names, _cls in ((('DNB', 'DN-B'), DNB), (('DNC', 'DN-C'), DNC), (('SEBN',), SEBN)):
    MODELS.register_module(name=list(_names), module=_cls, force=True)

compat.apply()

__all__ = ['DNB', 'DNC', 'SEBN', 'SCModule', 'BNRoleNorm', 'sc_widths', 'convert_bn_to_dn', 'bn_checkpoint_to_dn', 'bn_checkpoint_to_dn',
           'dn_layers', 'EpochMetricsHook', 'build_model', '__version__']
