#!/usr/bin/env python
"""Convert a BN model's checkpoint into its DN-B twin (identical outputs).

    python tools/model_converters/bn_to_dn.py SRC.pth DST.pth [--r 16] [--g oup]

Every BN layer moves under ``<layer>.norm`` and gets a zero-started
SC-Module, so a DN-B model built with ``norm_cfg=dict(type='DNB', r=R, g=G)``
(affine=True, the default) loads DST strictly and computes exactly what the
BN model computed; fine-tuning then learns the dynamic part. Works for
mmpretrain / mmdet checkpoints (``state_dict`` inside) and bare state dicts.
Note a DN model also loads a BN checkpoint directly (``load_from=...``), with
the SC-Module keys reported missing.
"""
import argparse
import os

import dn_mm  # noqa: F401  (also allowlists mmengine checkpoint contents for safe loading)
from dn_mm.models import bn_checkpoint_to_dn
from dn_mm.utils import save_checkpoint_atomic
from dn_mm.utils.checkpoint_file import CheckpointFileError, load_checkpoint_file, state_dict_of


def parse_g(value):
    return value if value == 'oup' else int(value)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('src', help='BN checkpoint (.pth)')
    parser.add_argument('dst', help='output DN-B checkpoint (.pth)')
    parser.add_argument('--r', type=int, default=16, help='SC-Module reduction ratio (default 16)')
    parser.add_argument('--g', type=parse_g, default='oup',
                        help="FC2 input channels per group, an int or 'oup' (default)")
    parser.add_argument('--seed', type=int, default=0, help='seed of the FC1 initialisation')
    args = parser.parse_args(argv)
    if not os.path.isfile(args.src):
        parser.error(f'src: no such checkpoint file: {args.src}')
    try:  # safe (weights_only) loading; a bad file is named with its fault
        ckpt = load_checkpoint_file(args.src, map_location='cpu')
        state = state_dict_of(ckpt, args.src)
    except CheckpointFileError as err:
        parser.error(f'src: {err}')
    try:
        converted = bn_checkpoint_to_dn(state, r=args.r, g=args.g, seed=args.seed)
    except ValueError as err:
        parser.error(f'src: {err}')
    n_layers = sum(k.endswith('.sc.fc2') for k in converted)
    out = dict(ckpt, state_dict=converted) if 'state_dict' in ckpt else converted
    if isinstance(out, dict) and 'meta' in out and isinstance(out['meta'], dict):
        out['meta'] = dict(out['meta'], dn_mm_converted=dict(r=args.r, g=args.g, source=args.src))
    save_checkpoint_atomic(out, args.dst)
    print(f'converted {n_layers} BN layers to DN-B (r={args.r}, g={args.g}): {args.dst}')


if __name__ == '__main__':
    main()
