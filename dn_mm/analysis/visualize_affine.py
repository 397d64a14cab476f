#!/usr/bin/env python
"""The generated affine parameters of a trained DN model (paper Figure 5, Table 9).

    python tools/analysis_tools/visualize_affine.py CONFIG CHECKPOINT \\
        --classes n11939491 n01770081 n03179701 n02088466 --out affine.png \\
        [--layers first last] [--max-channels 320] [--split test] [--batch-size 32]

Runs the model (eval mode) over the images of the chosen classes (WNIDs or
label indices) of the config's ``<split>_dataloader``. Forward hooks on the
chosen DN layers (default: the first, 'DN-start', and the last, 'DN-end')
call ``layer.scale_shift`` on the layer's input and record the generated
alpha (scale) and lambda (shift) of every image. The PNG has one row per
layer and two columns (alpha, lambda): for each class the per-channel mean
over its images with a +-1 std band; layers wider than ``--max-channels``
are sampled evenly (the paper shows 320 of DN-end's 1280 channels, every
4th). Prints each class's top-1 accuracy on those images (Table 9).
"""
import argparse
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
import torch

from ..models import dn_layers
from ..utils import save_figure_atomic
from .complexity import REPO_ROOT, build_model, load_config, scope_of

IMAGENET100_CLASSES = osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'imagenet100_classes.txt')


class AffineError(Exception):
    pass


def _read_names(path: str) -> Optional[List[str]]:
    if not osp.isfile(path):
        return None
    with open(path) as f:
        names = [ln.strip() for ln in f if ln.strip() and not ln.lstrip().startswith('#')]
    return names or None


def class_names(dataset, dataset_cfg) -> Optional[List[str]]:
    """Class names by label index: the dataset's metainfo, else a classes.txt
    beside the annotation file (prepare_imagenet100.py writes meta/classes.txt),
    else the repository's ImageNet-100 list when the dataset has 100 classes."""
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    if classes:
        return [str(c) for c in classes]
    ann_file = dataset_cfg.get('ann_file', '') if isinstance(dataset_cfg, dict) else ''
    if ann_file:
        root = dataset_cfg.get('data_root', '') or ''
        path = ann_file if osp.isabs(ann_file) else osp.join(root, ann_file)
        names = _read_names(osp.join(osp.dirname(path), 'classes.txt'))
        if names:
            return names
    return None


def resolve_classes(tokens: Sequence[str], names: Optional[List[str]], labels: np.ndarray):
    """WNIDs / class names or label indices -> ``[(label, display_name)]``."""
    if not tokens:
        raise AffineError('--classes: give at least one WNID or label index')
    present = set(int(v) for v in labels)
    if names is None and len(present) and max(present) < 100:
        names = _read_names(IMAGENET100_CLASSES)
    resolved = []
    for tok in tokens:
        tok = str(tok)
        if tok.lstrip('-').isdigit():
            label = int(tok)
            name = names[label] if names and 0 <= label < len(names) else str(label)
        elif names and tok in names:
            label, name = names.index(tok), tok
        else:
            raise AffineError(f'--classes: unknown class {tok!r} (not a label index, not in the '
                              'dataset classes' + (f': {names[:5]}...' if names else '') + ')')
        if label not in present:
            raise AffineError(f'--classes: class {tok!r} (label {label}) has no image in the split')
        if label in [r[0] for r in resolved]:
            continue
        resolved.append((label, name))
    return resolved


def pick_layers(model, specs: Sequence[str]):
    """``first`` / ``last`` / an index / a layer name -> ``[(name, layer)]`` of DN layers."""
    layers = [(n, m) for n, m in dn_layers(model) if hasattr(m, 'scale_shift')]
    if not layers:
        raise AffineError('the model has no DN layer (DNB / DNC) with generated affine parameters')
    by_name = dict(layers)
    chosen = []
    for spec in specs:
        spec = str(spec)
        if spec == 'first':
            item = layers[0]
        elif spec == 'last':
            item = layers[-1]
        elif spec.lstrip('-').isdigit():
            try:
                item = layers[int(spec)]
            except IndexError:
                raise AffineError(f'--layers: index {spec} out of range ({len(layers)} DN layers)')
        elif spec in by_name:
            item = (spec, by_name[spec])
        else:
            raise AffineError(f'--layers: no DN layer {spec!r}; DN layers: '
                              + ', '.join(n for n, _ in layers))
        chosen.append(item)
    return chosen


def sample_channels(num: int, max_channels: int) -> np.ndarray:
    """``max_channels`` evenly spaced channel indices (all when the layer is narrower)."""
    if max_channels <= 0 or num <= max_channels:
        return np.arange(num)
    return np.floor(np.arange(max_channels) * num / max_channels).astype(int)


def build_loader(cfg, split: str, batch_size: int, tokens):
    """The split's dataloader restricted to the images of the chosen classes."""
    from mmengine.registry import DATASETS
    from mmengine.runner import Runner
    key = f'{split}_dataloader'
    if cfg.get(key, None) is None:
        raise AffineError(f'config has no {key}')
    loader_cfg = cfg[key].copy()
    dataset_cfg = loader_cfg.pop('dataset')
    dataset = DATASETS.build(dataset_cfg)
    labels = np.asarray(dataset.get_gt_labels() if hasattr(dataset, 'get_gt_labels') else
                        [dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))])
    labels = labels.reshape(len(dataset), -1)[:, 0] if len(dataset) else labels
    names = class_names(dataset, dataset_cfg)
    classes = resolve_classes(tokens, names, labels)
    wanted = {c[0] for c in classes}
    indices = [int(i) for i in np.flatnonzero(np.isin(labels, list(wanted)))]
    subset = dataset.get_subset(indices) if hasattr(dataset, 'get_subset') else \
        torch.utils.data.Subset(dataset, indices)
    loader_cfg.update(dataset=subset, num_workers=0, persistent_workers=False,
                      batch_size=batch_size, sampler=dict(type='DefaultSampler', shuffle=False))
    loader_cfg.pop('prefetch_factor', None)
    return Runner.build_dataloader(loader_cfg), classes


def _label_of(sample) -> int:
    gt = sample.gt_label
    if isinstance(gt, torch.Tensor):
        return int(gt.reshape(-1)[0])
    return int(np.asarray(gt).reshape(-1)[0])


def _pred_of(sample) -> int:
    if 'pred_label' in sample:
        return int(sample.pred_label.reshape(-1)[0])
    return int(sample.pred_score.argmax())


def collect(config, checkpoint: str, classes: Sequence[str], layers=('first', 'last'),
            max_channels: int = 320, split: str = 'test', batch_size: int = 32,
            cfg_options: Optional[dict] = None) -> dict:
    """Run the model on the chosen classes and gather alpha / lambda and accuracy.

    Returns ``dict(classes=[names], accuracy={name: top-1 %}, counts={name: images},
    layers=[dict(name, num_channels, channels, alpha={name: (n, m)}, lambda={...})])``,
    alpha/lambda restricted to the sampled channels ``channels`` (m of them).
    """
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    cfg = load_config(config, cfg_options)
    if batch_size <= 0:
        raise AffineError('--batch-size must be positive')
    model = build_model(cfg)
    init_default_scope(scope_of(cfg))
    if not osp.isfile(checkpoint):
        raise AffineError(f'checkpoint not found: {checkpoint}')
    load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
    model.eval()
    chosen = pick_layers(model, layers)
    loader, resolved = build_loader(cfg, split, batch_size, classes)

    records = {name: {'alpha': [], 'lambda': []} for name, _ in chosen}

    def make_hook(name):
        def hook(module, inputs, output):
            _, _, alpha, lam = module.scale_shift(inputs[0])
            n = inputs[0].shape[0]
            if alpha.dim() == 1:  # DN-C: batch-shared
                alpha, lam = alpha.expand(n, -1), lam.expand(n, -1)
            records[name]['alpha'].append(alpha.detach().float().cpu())
            records[name]['lambda'].append(lam.detach().float().cpu())
        return hook

    handles = [layer.register_forward_hook(make_hook(name)) for name, layer in chosen]
    gts, preds = [], []
    try:
        with torch.no_grad():
            for data in loader:
                for sample in model.test_step(data):
                    gts.append(_label_of(sample))
                    preds.append(_pred_of(sample))
    finally:
        for h in handles:
            h.remove()
    gts, preds = np.asarray(gts), np.asarray(preds)
    names = [name for _, name in resolved]
    result = dict(classes=names, labels=[lab for lab, _ in resolved], accuracy={}, counts={},
                  correct={}, layers=[])
    for label, name in resolved:
        mask = gts == label
        result['counts'][name] = int(mask.sum())
        result['correct'][name] = int((preds[mask] == label).sum())
        result['accuracy'][name] = 100.0 * result['correct'][name] / max(int(mask.sum()), 1)
    for layer_name, layer in chosen:
        alpha = torch.cat(records[layer_name]['alpha']).numpy()
        lam = torch.cat(records[layer_name]['lambda']).numpy()
        if len(alpha) != len(gts):
            raise AffineError(f'{layer_name}: ran {len(alpha)} times for {len(gts)} images')
        channels = sample_channels(alpha.shape[1], max_channels)
        entry = dict(name=layer_name, num_channels=int(alpha.shape[1]), channels=channels,
                     alpha={}, **{'lambda': {}})
        for label, name in resolved:
            mask = gts == label
            entry['alpha'][name] = alpha[mask][:, channels]
            entry['lambda'][name] = lam[mask][:, channels]
        result['layers'].append(entry)
    return result


def plot(result: dict, out: str, title: Optional[str] = None) -> str:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    rows = len(result['layers'])
    fig, axes = plt.subplots(rows, 2, figsize=(13, 3.2 * rows), squeeze=False)
    try:
        for r, entry in enumerate(result['layers']):
            x = entry['channels']
            shown = (f"{len(x)} of {entry['num_channels']} channels"
                     if len(x) < entry['num_channels'] else f"{entry['num_channels']} channels")
            for c, (param, symbol) in enumerate((('alpha', 'alpha (scale)'),
                                                 ('lambda', 'lambda (shift)'))):
                ax = axes[r][c]
                for name in result['classes']:
                    values = entry[param][name]
                    mean, std = values.mean(0), values.std(0)
                    line, = ax.plot(x, mean, lw=0.9,
                                    label=f"{name} ({result['accuracy'][name]:.1f}%)")
                    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2,
                                    lw=0)
                ax.set_title(f"{entry['name']}: {symbol}, {shown}", fontsize='small')
                ax.set_xlabel('channel')
                ax.grid(True, alpha=0.3)
        axes[0][0].legend(fontsize='x-small', title='class (top-1)', title_fontsize='x-small')
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        save_figure_atomic(fig, out)
    finally:
        plt.close(fig)
    return out


def accuracy_table(result: dict) -> str:
    lines = ['| class | images | correct | test top-1 (%) |', '|---|---|---|---|']
    for name in result['classes']:
        lines.append(f"| {name} | {result['counts'][name]} | {result['correct'][name]} | "
                     f"{result['accuracy'][name]:.2f} |")
    return '\n'.join(lines)


def visualize_affine(config, checkpoint, classes, out: str, layers=('first', 'last'),
                     max_channels: int = 320, split: str = 'test', batch_size: int = 32,
                     cfg_options: Optional[dict] = None, title: Optional[str] = None) -> dict:
    result = collect(config, checkpoint, classes, layers, max_channels, split, batch_size,
                     cfg_options)
    plot(result, out, title)
    result['out'] = out
    return result


def parse_args(argv=None):
    from mmengine.config import DictAction
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--classes', nargs='+', required=True, metavar='WNID_OR_INDEX')
    parser.add_argument('--layers', nargs='+', default=['first', 'last'],
                        help="DN layers: 'first', 'last', an index among the DN layers or a "
                        'module name (default: first last)')
    parser.add_argument('--max-channels', type=int, default=320,
                        help='plot at most this many evenly spaced channels per layer')
    parser.add_argument('--split', default='test', help='<split>_dataloader of the config')
    parser.add_argument('--batch-size', type=int, default=32)
    parser.add_argument('--out', required=True, help='PNG file to write')
    parser.add_argument('--title', default=None)
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        result = visualize_affine(args.config, args.checkpoint, args.classes, args.out,
                                  args.layers, args.max_channels, args.split, args.batch_size,
                                  args.cfg_options, args.title)
    except (AffineError, FileNotFoundError) as e:
        raise SystemExit(f'error: {e}')
    for entry in result['layers']:
        print(f"{entry['name']}: {entry['num_channels']} channels, "
              f"{len(entry['channels'])} plotted")
    print(accuracy_table(result))
    print(f'saved {args.out}')
    return result


if __name__ == '__main__':
    main()
