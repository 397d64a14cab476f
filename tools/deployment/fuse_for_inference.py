#!/usr/bin/env python
"""Fold the norm layers of a model for inference (BN, DN-B, DN-C, SE-BN) and save it.

    python tools/deployment/fuse_for_inference.py CONFIG [CHECKPOINT] --out FUSED.pth
        [--shape H W] [--cfg-options k=v ...]

Prints what was folded and the max abs difference of the folded model from
the eval model on a random input. ``pytorch2onnx.py`` takes the written
checkpoint as well as a training one.
"""
import sys

from dn_mm.deployment.cli import fuse_main

if __name__ == '__main__':
    sys.exit(fuse_main())
