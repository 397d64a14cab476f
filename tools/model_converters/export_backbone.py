#!/usr/bin/env python
"""Export the backbone of a trained classifier for the detection configs.

    python tools/model_converters/export_backbone.py CLS_CKPT OUT.pth [--prefix backbone.]

Keeps the ``backbone.*`` weights (names unchanged, so the detection configs'
``init_cfg=dict(type='Pretrained', prefix='backbone.', strict=True, ...)``
loads them into mmpretrain's MobileNetV2 inside SSDLite) and drops the
classification head, optimizer state and message hub. Written atomically.
"""
import argparse
import os

import dn_mm  # noqa: F401  (safe loading of mmengine checkpoints)
from dn_mm.models.backbone_export import export_backbone


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='classifier checkpoint, e.g. best_accuracy_top1_epoch_N.pth')
    parser.add_argument('dst', help='output backbone checkpoint')
    parser.add_argument('--prefix', default='backbone.', help="keys to keep (default 'backbone.')")
    args = parser.parse_args(argv)
    if not os.path.isfile(args.src):
        parser.error(f'src: no such checkpoint file: {args.src}')
    try:
        n = export_backbone(args.src, args.dst, args.prefix)
    except ValueError as err:
        parser.error(f'src: {err}')
    print(f'exported {n} backbone tensors to {args.dst}')


if __name__ == '__main__':
    main()
