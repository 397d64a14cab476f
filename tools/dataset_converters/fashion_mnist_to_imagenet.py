#!/usr/bin/env python
"""Convert Fashion-MNIST idx files into an ImageNet-style JPEG tree.

    python tools/dataset_converters/fashion_mnist_to_imagenet.py FMNIST_DIR OUT_ROOT \\
        [--per-class-train N] [--per-class-val N] [--size S]

The converter is :mod:`dn_mm.dataset_tools.fashion_mnist`; ``--help`` says more.
"""
import sys

from dn_mm.dataset_tools.fashion_mnist import main

if __name__ == '__main__':
    sys.exit(main())
