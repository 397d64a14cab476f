#!/usr/bin/env python
"""Check every image and annotation of a config's train / val / test data.

    python tools/misc/verify_dataset.py CONFIG [--cfg-options KEY=VALUE ...]

Lists every bad entry (missing or unreadable image, empty or malformed
annotation file, box outside its image or of zero size, unknown class,
duplicate image id) and exits 1 if there is any. See dn_mm.dataset_tools.verify.
"""
import argparse
import sys

from mmengine.config import Config, DictAction

from dn_mm.dataset_tools.verify import verify_config


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = parser.parse_args(argv)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    problems = verify_config(cfg)
    for problem in problems:
        print(problem)
    print(f'{len(problems)} problem(s) found' if problems else 'no problems found')
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
