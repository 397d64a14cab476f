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
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import dn_mm  # noqa: E402,F401  (safe loading of mmengine checkpoints)


def export_backbone(src: str, dst: str, prefix: str = 'backbone.') -> int:
    ckpt = torch.load(src, map_location='cpu')
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise ValueError(f'{src} holds no state dict')
    backbone = {k: v for k, v in state.items() if k.startswith(prefix)}
    if not backbone:
        raise ValueError(f'{src} has no weights under the prefix {prefix!r}; '
                         f'its keys start with: {sorted({k.split(".")[0] for k in state})}')
    meta = dict(ckpt.get('meta', {}) or {}) if 'state_dict' in ckpt else {}
    meta = {k: meta[k] for k in ('epoch', 'iter', 'mmengine_version', 'dataset_meta') if k in meta}
    meta['exported_from'] = os.path.abspath(src)
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(dst)), suffix='.tmp')
    os.close(fd)
    try:
        torch.save({'state_dict': backbone, 'meta': meta}, tmp)
        os.replace(tmp, dst)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return len(backbone)


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
