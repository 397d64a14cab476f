"""The dynamic norm layers, one concept per file (timm ``layers/`` style).

* :mod:`.dynamic_norm` - :class:`DynamicNormBase`, the BN part they share;
* :mod:`.per_sample_affine` - the fast per-sample affine passes they run on;
* :mod:`.sc_module` - the SC-Module that generates DN's scale and shift;
* :mod:`.dnb`, :mod:`.dnc`, :mod:`.sebn` - DN-B, DN-C and the SE-BN baseline.
"""
from .dnb import DNB
from .dnc import DNC
from .dynamic_norm import DynamicNormBase
from .sc_module import SCModule, sc_widths
from .sebn import SEBN

__all__ = ['DNB', 'DNC', 'SEBN', 'DynamicNormBase', 'SCModule', 'sc_widths']
