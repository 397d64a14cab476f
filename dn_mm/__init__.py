"""dn_mm: Dynamic Normalization (DN-B, DN-C) for OpenMMLab.

``import dn_mm`` (or ``custom_imports=dict(imports=['dn_mm'])`` in a config)
registers the layers (``'DNB'``/``'DN-B'``, ``'DNC'``/``'DN-C'``, ``'SEBN'``)
in mmengine's root ``MODELS`` registry, where mmcv's ``build_norm_layer``,
mmdet and mmpretrain all find them, registers the hooks, and applies the
stack fixes in :mod:`dn_mm.compat`.

Layout: :mod:`dn_mm.models` (layers and model utilities), :mod:`dn_mm.engine`
(hooks, run report, CPU-distributed runs), :mod:`dn_mm.analysis` (what the
analysis tools compute), :mod:`dn_mm.utils` (atomic writes, progress bar).
"""
from . import compat
from .engine import EpochMetricsHook
from .models import (
    DNB,
    DNC,
    SEBN,
    DynamicNormBase,
    SCModule,
    bn_checkpoint_to_dn,
    build_model,
    convert_bn_to_dn,
    dn_layers,
    sc_widths,
)
from .version import __version__

compat.apply()

__all__ = ['DNB', 'DNC', 'SEBN', 'SCModule', 'DynamicNormBase', 'sc_widths',
           'convert_bn_to_dn', 'bn_checkpoint_to_dn', 'dn_layers', 'EpochMetricsHook',
           'build_model', '__version__']
