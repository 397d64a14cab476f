"""Deployment: the inference form of a model (norm layers folded) and its ONNX export."""
from .folded_layers import ChannelAffine, FoldedDynamicNorm
from .fuse import fold_affine_into_conv, fold_norm, fuse_for_inference

__all__ = ['ChannelAffine', 'FoldedDynamicNorm', 'fold_affine_into_conv', 'fold_norm',
           'fuse_for_inference']
