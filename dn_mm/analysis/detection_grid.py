#!/usr/bin/env python
"""A grid of val images: ground-truth boxes beside each detector's boxes, in one PNG.

    python tools/analysis_tools/detection_grid.py BN.pkl DNB.pkl \\
        --ann-file data/deepforest_coco/annotations/instances_val.json \\
        --legend BN DN-B --out boxes.png [--tiles 4] [--score-thr 0.3] [--img-dir DIR]

Each PKL holds one detector's predictions on the same images, as
``tools/test.py CONFIG CKPT --out FILE.pkl`` dumps them (mmdet's
DumpDetResults: per image ``img_id``, ``img_path`` and ``pred_instances``
with ``bboxes`` in original-image pixels and ``scores``). Ground truth comes
from the COCO annotation file the test ran on (matched by ``img_id``). One
row per image (``--tiles`` of them, evenly spaced over the image ids), one
column for the ground truth and one per detector, boxes scoring at least
``--score-thr`` drawn (mmdet's visualization default, 0.3). The PNG is
written atomically, with a 256-colour palette (a third of the size of a
true-colour PNG of photographs, for a README).
"""
import argparse
import io
import json
import os.path as osp
import pickle
from typing import Dict, List, Optional, Sequence

import numpy as np

from ..utils import atomic_write

GT_COLOR, PRED_COLORS = '#ffffff', ('#ff3b30', '#0a84ff', '#ffd60a', '#bf5af2')


class GridError(Exception):
    """A missing or malformed predictions / annotation file, bad arguments."""


def _array(value, shape) -> np.ndarray:
    arr = np.asarray(value.numpy() if hasattr(value, 'numpy') else value, dtype=float)
    return arr.reshape(shape)


def load_predictions(path: str) -> Dict[int, dict]:
    """``{img_id: dict(img_path, bboxes (n, 4) xyxy, scores (n,))}`` of a test.py --out file."""
    if not osp.isfile(path):
        raise GridError(f'predictions: no such file: {path}')
    try:
        with open(path, 'rb') as f:
            results = pickle.load(f)
    except Exception as e:  # a truncated or foreign file
        raise GridError(f'{path}: not a pickle of predictions ({type(e).__name__}: {e})') from None
    if not isinstance(results, list) or not results:
        raise GridError(f'{path}: expected a non-empty list of per-image results')
    preds = {}
    for i, r in enumerate(results):
        if not isinstance(r, dict) or 'pred_instances' not in r or 'img_id' not in r:
            raise GridError(f'{path}: result {i} has no img_id / pred_instances: not the '
                            'predictions of a detector (tools/test.py DET_CONFIG CKPT --out)')
        inst = r['pred_instances']
        preds[int(r['img_id'])] = dict(img_path=r.get('img_path'),
                                       bboxes=_array(inst['bboxes'], (-1, 4)),
                                       scores=_array(inst['scores'], (-1, )))
    return preds


def load_ground_truth(ann_file: str) -> Dict[int, dict]:
    """``{img_id: dict(file_name, bboxes (n, 4) xyxy)}`` of a COCO annotation file."""
    if not osp.isfile(ann_file):
        raise GridError(f'--ann-file: no such file: {ann_file}')
    try:
        with open(ann_file) as f:
            coco = json.load(f)
        gt = {int(im['id']): dict(file_name=im['file_name'], bboxes=[])
              for im in coco['images']}
        for ann in coco['annotations']:
            x, y, w, h = ann['bbox']
            gt[int(ann['image_id'])]['bboxes'].append([x, y, x + w, y + h])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise GridError(f'--ann-file: {ann_file} is not a COCO annotation file ({e!r})') from None
    for entry in gt.values():
        entry['bboxes'] = np.asarray(entry['bboxes'], dtype=float).reshape(-1, 4)
    return gt


def pick_images(img_ids: Sequence[int], n: int) -> List[int]:
    """``n`` image ids evenly spaced over the sorted ids (all of them when fewer)."""
    ids = sorted(img_ids)
    if n >= len(ids):
        return ids
    return [ids[int(i)] for i in np.floor(np.arange(n) * len(ids) / n)]


def _image_path(pred: dict, gt: dict, img_dir: Optional[str]) -> str:
    if img_dir is not None:
        return osp.join(img_dir, osp.basename(pred['img_path'] or gt['file_name']))
    return pred['img_path'] or gt['file_name']


def collect(pred_files: Sequence[str], ann_file: str, legends: Optional[Sequence[str]] = None,
            tiles: int = 4, score_thr: float = 0.3, img_dir: Optional[str] = None) -> dict:
    """The images, boxes and counts the grid shows (see the module doc)."""
    if not pred_files:
        raise GridError('give at least one predictions file')
    if legends and len(legends) != len(pred_files):
        raise GridError(f'--legend: {len(legends)} names for {len(pred_files)} predictions files')
    if tiles < 1:
        raise GridError(f'--tiles must be a positive int, got {tiles}')
    if not 0 <= score_thr <= 1:
        raise GridError(f'--score-thr must be in [0, 1], got {score_thr}')
    names = list(legends) if legends else [osp.splitext(osp.basename(p))[0] for p in pred_files]
    gt = load_ground_truth(ann_file)
    preds = [load_predictions(p) for p in pred_files]
    common = set(preds[0]).intersection(*preds[1:])
    unknown = common - set(gt)
    if unknown:
        raise GridError(f'{ann_file}: no image with id {min(unknown)}: the predictions were made '
                        'on other images')
    if not common:
        raise GridError('the predictions files share no image')
    rows = []
    for img_id in pick_images(common, tiles):
        path = _image_path(preds[0][img_id], gt[img_id], img_dir)
        if not osp.isfile(path):
            raise GridError(f'image {img_id}: no such file: {path} '
                            '(--img-dir DIR to look elsewhere)')
        columns = []
        for name, pred in zip(names, preds):
            keep = pred[img_id]['scores'] >= score_thr
            columns.append(dict(name=name, bboxes=pred[img_id]['bboxes'][keep],
                                scores=pred[img_id]['scores'][keep]))
        rows.append(dict(img_id=img_id, path=path, gt=gt[img_id]['bboxes'], preds=columns))
    return dict(names=names, score_thr=score_thr, rows=rows)


def save_palette_png(fig, out: str, dpi: int) -> None:
    """``fig`` as a 256-colour PNG, written atomically."""
    from PIL import Image
    buf = io.BytesIO()
    fig.savefig(buf, format='png', dpi=dpi, bbox_inches='tight')
    buf.seek(0)
    with Image.open(buf) as im:
        small = im.convert('RGB').quantize(colors=256)
    with atomic_write(out, 'wb') as f:
        small.save(f, format='PNG', optimize=True)


def plot(grid: dict, out: str, title: Optional[str] = None, dpi: int = 100) -> str:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from PIL import Image
    rows, cols = len(grid['rows']), 1 + len(grid['names'])
    fig, axes = plt.subplots(rows, cols, figsize=(2.6 * cols, 2.6 * rows), squeeze=False)
    try:
        for r, row in enumerate(grid['rows']):
            with Image.open(row['path']) as im:
                image = np.asarray(im.convert('RGB'))
            panels = [('ground truth', row['gt'], GT_COLOR, None)]
            panels += [(p['name'], p['bboxes'], PRED_COLORS[i % len(PRED_COLORS)], p['scores'])
                       for i, p in enumerate(row['preds'])]
            for c, (name, boxes, color, scores) in enumerate(panels):
                ax = axes[r][c]
                ax.imshow(image)
                for (x1, y1, x2, y2) in boxes:
                    ax.add_patch(Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False,
                                           edgecolor=color, linewidth=1.2))
                n = f"{len(boxes)} box{'' if len(boxes) == 1 else 'es'}"
                if scores is not None:
                    n += f" >= {grid['score_thr']:g}"
                ax.set_title(f'{name}: {n}' if r == 0 else n, fontsize='small')
                ax.set_xticks([])
                ax.set_yticks([])
            axes[r][0].set_ylabel(osp.basename(row['path']), fontsize='x-small')
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        save_palette_png(fig, out, dpi)
    finally:
        plt.close(fig)
    return out


def detection_grid(pred_files: Sequence[str], ann_file: str, out: str,
                   legends: Optional[Sequence[str]] = None, tiles: int = 4,
                   score_thr: float = 0.3, img_dir: Optional[str] = None,
                   title: Optional[str] = None) -> dict:
    """Collect the boxes and draw the grid into ``out``; returns what was drawn."""
    grid = collect(pred_files, ann_file, legends, tiles, score_thr, img_dir)
    plot(grid, out, title)
    return grid


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('predictions', nargs='+', metavar='PKL',
                        help='predictions of each detector (tools/test.py ... --out FILE.pkl)')
    parser.add_argument('--ann-file', required=True, help='COCO annotations of those images')
    parser.add_argument('--out', required=True, help='PNG file to write')
    parser.add_argument('--legend', nargs='+', default=None, metavar='NAME',
                        help='one column name per predictions file (default: file names)')
    parser.add_argument('--tiles', type=int, default=4, help='images (rows) to show (default 4)')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='draw predicted boxes scoring at least this (default 0.3)')
    parser.add_argument('--img-dir', default=None,
                        help='look for the images here (default: the paths the test read)')
    parser.add_argument('--title', default=None)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    try:
        grid = detection_grid(args.predictions, args.ann_file, args.out, args.legend, args.tiles,
                              args.score_thr, args.img_dir, args.title)
    except GridError as e:
        raise SystemExit(f'error: {e}')
    for row in grid['rows']:
        counts = ', '.join(f"{p['name']} {len(p['bboxes'])}" for p in row['preds'])
        print(f"{osp.basename(row['path'])}: ground truth {len(row['gt'])}, {counts}")
    print(f'saved {args.out}')
    return grid


if __name__ == '__main__':
    main()
