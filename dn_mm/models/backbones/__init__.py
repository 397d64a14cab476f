"""Backbones of the paper's code bases (DenseNAS's ResNet, FNA's MobileNetV2 taps)."""
from .densenas_resnet import DenseNASResNet
from .fna_mobilenet_v2 import FNAMobileNetV2

__all__ = ['DenseNASResNet', 'FNAMobileNetV2']
