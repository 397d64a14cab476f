#!/usr/bin/env python
"""Tile the annotated NEON tree-crown images of the deepforest wheel into a COCO dataset.

    python tools/dataset_converters/deepforest_to_coco.py \\
        DEEPFOREST_WHEEL_OR_DIR OUT_DIR [--tile 320] [--overlap 0] \\
        [--val-ratio 0.25] [--seed 0] [--min-visible 0.5] [--split auto]

The converter is :mod:`dn_mm.dataset_tools.deepforest` (tiling, split and output
are described there); ``--help`` lists the options.
"""
import sys

from dn_mm.dataset_tools.deepforest import main

if __name__ == '__main__':
    sys.exit(main())
