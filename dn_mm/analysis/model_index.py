"""model-index.yml and one metafile.yml per config folder, as mmdet / mmpretrain ship them.

    python tools/misc/update_model_index.py [--check]

Every config under ``configs/<folder>/`` (``_base_`` aside) becomes a model
entry of ``configs/<folder>/metafile.yml`` with the #params and Mult-Adds of
the model it builds (counted by :mod:`dn_mm.analysis.complexity`, the paper's
convention, batch 1 at the config's test size); ``Results`` and ``Weights``
stay empty until runs exist. ``model-index.yml`` imports every metafile; mim
reads it for ``mim search dn_mm``. ``--check`` rewrites nothing and fails if
the files on disk differ from what the configs give.
"""
import argparse
import os.path as osp
from glob import glob
from typing import Dict, List

import yaml

from ..utils import atomic_write, project_root
from .complexity import count_config, load_config

PAPER = dict(Title='Dynamic Normalization', URL='../shared/paper/dynamic-normalization.txt')
DATA = {'in100': 'ImageNet-100', 'coco': 'COCO', 'fmnist': 'Fashion-MNIST (demo)',
        'deepforest': 'NEON tree crowns (demo)'}


def config_folders(root: str) -> Dict[str, List[str]]:
    """``{folder: [config paths relative to root]}`` of every config folder."""
    folders = {}
    for path in sorted(glob(osp.join(root, 'configs', '*', '*.py'))):
        folder = osp.basename(osp.dirname(path))
        if folder != '_base_':
            folders.setdefault(folder, []).append(osp.relpath(path, root))
    return folders


def model_entry(root: str, rel: str) -> dict:
    cfg = load_config(osp.join(root, rel))
    counts = count_config(cfg)
    name = osp.splitext(osp.basename(rel))[0]
    data = next((v for k, v in DATA.items() if name.endswith('_' + k)), 'unknown')
    loader = cfg.get('train_dataloader', {})
    meta = {'Training Data': data, 'Parameters': counts['params'], 'FLOPs': counts['mult_adds'],
            'Input Size': 'x'.join(map(str, counts['shape'][1:]))}
    if cfg.get('train_cfg', {}).get('max_epochs'):
        meta['Epochs'] = cfg.train_cfg.max_epochs
    if loader.get('batch_size'):
        meta['Batch Size'] = loader['batch_size']
    return {'Name': name, 'In Collection': '', 'Config': rel, 'Metadata': meta,
            'Results': None, 'Weights': None}


def metafiles(root: str) -> Dict[str, dict]:
    """``{metafile path relative to root: content}`` for every config folder."""
    out = {}
    for folder, rels in config_folders(root).items():
        collection = f'dn_mm {folder}'
        models = [dict(model_entry(root, rel), **{'In Collection': collection}) for rel in rels]
        out[f'configs/{folder}/metafile.yml'] = {
            'Collections': [{'Name': collection, 'Paper': PAPER,
                             'Metadata': {'Training Data': sorted({m['Metadata']['Training Data']
                                                                   for m in models})}}],
            'Models': models}
    return out


def model_index(files: Dict[str, dict]) -> dict:
    return {'Import': sorted(files)}


def dump(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--root', default=project_root(), help='the folder with configs/')
    parser.add_argument('--check', action='store_true', help='only compare, write nothing')
    args = parser.parse_args(argv)
    files = metafiles(args.root)
    files['model-index.yml'] = model_index({k: v for k, v in files.items()})
    stale = []
    for rel, data in files.items():
        path, text = osp.join(args.root, rel), dump(data)
        current = open(path).read() if osp.isfile(path) else None
        if current == text:
            continue
        stale.append(rel)
        if not args.check:
            with atomic_write(path) as f:
                f.write(text)
    verb = 'out of date' if args.check else 'written'
    print(f'{len(stale)} of {len(files)} files {verb}' + (': ' + ', '.join(stale) if stale else ''))
    return 1 if args.check and stale else 0
