#!/usr/bin/env python
"""Build ImageNet-100 (or any ImageNet class subset) annotation files.

    python tools/dataset_converters/prepare_imagenet100.py IMAGENET_ROOT OUT_DIR \\
        [--classes FILE] [--seed 0] [--val-ratio 0.2] [--val-gt FILE]

The tool is :mod:`dn_mm.dataset_tools.imagenet100`; ``--help`` describes the layouts.
"""
import sys

from dn_mm.dataset_tools.imagenet100 import main

if __name__ == '__main__':
    sys.exit(main())
