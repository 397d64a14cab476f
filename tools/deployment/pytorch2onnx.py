#!/usr/bin/env python
"""Export a classifier or SSDLite (folded for inference) to ONNX and check it in ONNX Runtime.

    python tools/deployment/pytorch2onnx.py CONFIG [CHECKPOINT] --out FILE.onnx
        [--shape H W] [--dynamic-batch] [--opset N] [--atol 1e-4] [--no-check]
        [--cfg-options k=v ...]

The graph runs from the preprocessed image tensor to the class scores, or to
SSDLite's raw head outputs (class scores and box deltas per level; decoding
and NMS outside it). Exit status 1 when the graph holds a non-standard
operator or ONNX Runtime differs from the PyTorch eval model by more than --atol.
"""
import sys

from dn_mm.deployment.cli import pytorch2onnx_main

if __name__ == '__main__':
    sys.exit(pytorch2onnx_main())
