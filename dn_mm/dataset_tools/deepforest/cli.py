"""Command line of tools/dataset_converters/deepforest_to_coco.py: options in, summary out."""
import argparse
import json

from ..cli import run_converter
from .annotations import DEFAULT_LABELS
from .coco import SPLITS
from .convert import SPLIT_MODES, convert
from .errors import DeepForestError


def format_summary(s):
    lines = [f'deepforest {s["deepforest_version"]} (wheel license: '
             f'{s["wheel_license"]}) -> {s["out_dir"]}',
             f'split by {s["split_mode"]}; tile {s["tile"]}, overlap '
             f'{s["overlap"]}']
    for stem, i in sorted(s['sources'].items()):
        lines.append(f'  source {i["image"]} {i["width"]}x{i["height"]}: '
                     f'{i["boxes"]} boxes from {i["ann_file"]}, '
                     f'{i["tiles"]} tiles')
    for split in SPLITS:
        sp = s['splits'][split]
        lines.append(
            f'  {split}: {len(sp["source_images"])} source image(s) '
            f'{sp["source_images"]}, {sp["tiles"]} tiles, {sp["boxes"]} '
            f'boxes; box w p5/50/95 = '
            f'{"/".join(str(v) for v in sp["box_w_pct"].values())} px, '
            f'h = {"/".join(str(v) for v in sp["box_h_pct"].values())} px')
    for n in s['notes']:
        lines.append(f'  note: {n}')
    lines.append(f'  {s["images_written"]} image file(s) (re)written in '
                 f'{s["seconds"]} s')
    return '\n'.join(lines)


def _labels(text):
    labels = tuple(x.strip() for x in text.split(','))
    if not all(labels):
        raise argparse.ArgumentTypeError(f'expected comma-separated class names, got {text!r}')
    return labels


def build_parser():
    p = argparse.ArgumentParser(
        prog='deepforest_to_coco.py',
        description='Tile the annotated NEON tree-crown images of the '
                    'deepforest wheel into a COCO detection dataset.')
    p.add_argument('src', help='deepforest-*.whl or deepforest/data dir')
    p.add_argument('out_dir', help='output dataset root')
    p.add_argument('--tile', type=int, default=320,
                   help='tile size in pixels (default 320)')
    p.add_argument('--overlap', type=int, default=0,
                   help='overlap between tiles in pixels, < tile '
                        '(default 0)')
    p.add_argument('--val-ratio', type=float, default=0.25,
                   help='target fraction of val tiles, 0 < r < 1 '
                        '(default 0.25)')
    p.add_argument('--seed', type=int, default=0, help='split seed')
    p.add_argument('--split', choices=SPLIT_MODES, default='auto',
                   help='train/val split by source image or by tile; auto (default): '
                   'by source image when there are >= 3, else by tile. By tile, use '
                   '--overlap 0 so that no pixel is in both splits')
    p.add_argument('--min-visible', type=float, default=0.5,
                   help='min fraction of a box inside a tile to keep it '
                        '(default 0.5)')
    p.add_argument('--labels', type=_labels, default=DEFAULT_LABELS, metavar='A,B,...',
                   help='the annotation labels that are trees, each mapped to the one COCO '
                   'class Tree; any other label is rejected (default: '
                   f'{",".join(DEFAULT_LABELS)})')
    p.add_argument('--json', action='store_true',
                   help='print the summary as JSON')
    return p


def main(argv=None):
    def convert_args(a):
        return convert(a.src, a.out_dir, tile=a.tile, overlap=a.overlap, val_ratio=a.val_ratio,
                       seed=a.seed, min_visible=a.min_visible, split=a.split,
                       labels=a.labels)

    def describe(s, a):
        return json.dumps(s, indent=1, sort_keys=True) if a.json else format_summary(s)

    return run_converter(build_parser(), argv, convert_args, DeepForestError, describe)
