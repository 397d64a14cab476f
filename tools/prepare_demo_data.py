#!/usr/bin/env python
"""Prepare the demo data (`make data`): real, small, reachable offline.

* classification: Fashion-MNIST (Zalando, MIT) from Debian's
  ``dataset-fashion-mnist`` -> an ImageNet-style tree -> the same
  ``prepare_imagenet100.py`` as real ImageNet (10 classes)
  -> ``DATA/fashion_mnist_imagenet`` with ``in100/meta/{train,val,test}.txt``;
* detection: the NEON aerial tree-crown images annotated in the ``deepforest``
  wheel on PyPI (MIT; NEON data CC0) -> COCO tiles 320x320 (62 train /
  20 val) -> ``DATA/deepforest_coco``.

Each step is skipped when its output is complete; the converters themselves
are deterministic and write atomically.
"""
import argparse
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / 'tools' / 'dataset_converters'


def run(*cmd, env=None):
    print('[data] ' + ' '.join(map(str, cmd)), flush=True)
    return subprocess.run([str(c) for c in cmd], check=True, env=env, stdout=subprocess.PIPE,
                          text=True).stdout.strip()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', default='data',
                        help='where the demo data goes (default data/)')
    args = parser.parse_args(argv)
    data = Path(args.data_root)
    env = dict(os.environ, PYTHON=sys.executable)

    fmnist = data / 'fashion_mnist_imagenet'
    if not (fmnist / 'in100' / 'meta' / 'test.txt').is_file():
        raw = run('bash', TOOLS / 'fetch_fashion_mnist.sh', data / 'fashion_mnist_raw', env=env)
        run(sys.executable, TOOLS / 'fashion_mnist_to_imagenet.py', raw.splitlines()[-1], fmnist,
            '--per-class-train', 100, '--per-class-val', 30)
        run(sys.executable, TOOLS / 'prepare_imagenet100.py', fmnist, fmnist / 'in100',
            '--classes', TOOLS / 'fashion_mnist_classes.txt')
    print(f'[data] classification demo data: {fmnist}')

    coco = data / 'deepforest_coco'
    if not (coco / 'annotations' / 'instances_train.json').is_file():
        wheel = run('bash', TOOLS / 'fetch_deepforest.sh', data / 'cache', env=env).splitlines()[-1]
        # 82 non-overlapping tiles split by tile: the 4 annotated scenes differ in site and
        # size, so a split by scene would test on sites never seen in training
        run(sys.executable, TOOLS / 'deepforest_to_coco.py', wheel, coco, '--tile', 320,
            '--overlap', 0, '--split', 'tile', '--val-ratio', 0.25)
    print(f'[data] detection demo data: {coco}')


if __name__ == '__main__':
    main()
