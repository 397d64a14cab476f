#!/usr/bin/env python
"""Print #params and Mult-Adds of a config's model in the paper's convention.

    python tools/analysis_tools/get_flops.py CONFIG [--shape H [W]] [--cfg-options k=v ...]

Mult-Adds = multiply-adds of convolutions and fully connected layers, plus
the SC-Module FCs of DN layers and the SE FCs of SE-BN, for one 3xHxW image
(default 224x224 for classifiers, 320x320 for mmdet detectors); nothing else
(no BN, activation or pooling costs). #params are printed for the model as
built and in the paper's convention (DN layers without static gamma/beta).
The counting lives in ``complexity.py`` (``count(model, shape)``).
"""
import argparse
import json

from .complexity import count_config, format_report


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='config file')
    parser.add_argument('--shape', type=int, nargs='+', metavar='SIZE',
                        help='input H W (or one size for a square); default 224 224 for '
                        'classifiers, 320 320 for detectors')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value pairs')
    parser.add_argument('--json', action='store_true', help='print the counts as JSON')
    args = parser.parse_args(argv)
    if args.shape is not None and len(args.shape) not in (1, 2):
        parser.error('--shape takes H W or a single size')
    if args.shape is not None and min(args.shape) <= 0:
        parser.error('--shape must be positive')
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        result = count_config(args.config, args.shape, args.cfg_options)
    except FileNotFoundError as e:
        raise SystemExit(str(e))
    if args.json:
        print(json.dumps(result))
    else:
        print(format_report(result))
    return result


if __name__ == '__main__':
    main()
