"""Models: the dynamic norm layers and model-level utilities (BN -> DN, building)."""
from .bn_to_dn import bn_checkpoint_to_dn, convert_bn_to_dn, dn_layers
from .build import build_model
from .layers import DNB, DNC, SEBN, DynamicNormBase, SCModule, sc_widths

__all__ = ['DNB', 'DNC', 'SEBN', 'DynamicNormBase', 'SCModule', 'sc_widths',
           'bn_checkpoint_to_dn', 'convert_bn_to_dn', 'dn_layers', 'build_model']
