"""Models: the dynamic norm layers, the paper's code bases' networks (DenseNAS ResNet, FNA
SSDLite parts) and model-level utilities (BN -> DN, building)."""
from .backbones import DenseNASResNet, FNAMobileNetV2
from .bn_to_dn import bn_checkpoint_to_dn, convert_bn_to_dn, dn_layers
from .build import build_model
from .heads import FNASSDLiteHead
from .layers import DNB, DNC, SEBN, DynamicNormBase, SCModule, sc_widths
from .weight_init import HeFoutInit, he_fout_std

__all__ = ['DNB', 'DNC', 'SEBN', 'DynamicNormBase', 'SCModule', 'sc_widths',
           'bn_checkpoint_to_dn', 'convert_bn_to_dn', 'dn_layers', 'build_model',
           'DenseNASResNet', 'FNAMobileNetV2', 'FNASSDLiteHead', 'HeFoutInit', 'he_fout_std']
