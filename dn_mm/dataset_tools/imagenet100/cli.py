"""Command line of tools/dataset_converters/prepare_imagenet100.py (ImageNet-100)."""
import argparse

from ..cli import run_converter
from .errors import PrepareError
from .prepare import prepare

EPILOG = """\
input layout (IMAGENET_ROOT):
  train/<wnid>/*.JPEG          required; one folder per class
  val/<wnid>/*.JPEG            val layout 1: one folder per class, or
  val/*.JPEG + ground truth    val layout 2: flat folder plus a ground-truth file
  Image files are those ending in .JPEG/.jpg/.jpeg/.png/.bmp/.webp (any case).
  The val layout is detected automatically (a val/ holding both wnid folders
  and loose images is rejected as ambiguous).

ground-truth file for the flat val layout (--val-gt, default: the first of
IMAGENET_ROOT/val_gt.txt, IMAGENET_ROOT/LOC_val_solution.csv that exists):
  * text: one '<filename> <wnid>' per line, whitespace separated, e.g.
      ILSVRC2012_val_00000001.JPEG n01751748
    blank lines and lines starting with '#' are ignored; the filename may be
    given with or without its extension.
  * Kaggle CSV (LOC_val_solution.csv): header 'ImageId,PredictionString',
    rows like 'ILSVRC2012_val_00008726,n02119789 255 142 454 329 ...'; the
    first token of PredictionString is the wnid, ImageId is the file stem.
  Integer labels (e.g. the devkit's ILSVRC2012_validation_ground_truth.txt)
  are NOT accepted: every label must be a wnid ('n' + 8 digits).  Every image
  in val/ must appear exactly once in the ground truth, and every ground-truth
  entry of a selected class must exist in val/.

classes file (--classes, default tools/dataset_converters/imagenet100_classes.txt):
  one wnid per line; blank lines and lines starting with '#' are ignored;
  no duplicates; the label of a class is its position in this list.

output (OUT_DIR/meta/): train.txt, val.txt, test.txt ('<relative path> <label>'
per line, sorted by label then path) and classes.txt (one wnid per line).
Every listed image is decoded first (JPEG at 1/8 scale): a missing, truncated
or unreadable one stops the preparation with every such file named
(--no-image-check skips this).
Same input + seed -> byte-identical files.  For each class the split depends
only on (seed, wnid, that class's file names), so adding or removing other
classes never changes it.  Everything is validated before anything is
written; files are replaced atomically.
"""


def build_parser():
    p = argparse.ArgumentParser(
        prog='prepare_imagenet100.py',
        description='Write mmpretrain annotation files (meta/train.txt, '
        'meta/val.txt, meta/test.txt, meta/classes.txt) for an ImageNet class '
        'subset: a seeded per-class split of the ImageNet train images into '
        'train/val; the ImageNet val images become the test set.',
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('imagenet_root', metavar='IMAGENET_ROOT',
                   help='ImageNet-1k root holding train/ and val/')
    p.add_argument('out_dir', metavar='OUT_DIR',
                   help='output folder; files go to OUT_DIR/meta/')
    p.add_argument('--classes', metavar='FILE', default=None,
                   help='class list, one wnid per line (default: '
                   'tools/dataset_converters/imagenet100_classes.txt)')
    p.add_argument('--seed', type=int, default=0,
                   help='split seed (default 0)')
    p.add_argument('--val-ratio', type=float, default=0.2,
                   help='fraction of each class\'s train images used for val, '
                   '0 < r < 1 (default 0.2)')
    p.add_argument('--val-gt', metavar='FILE', default=None,
                   help='ground truth for a flat val/ folder (default: '
                   'IMAGENET_ROOT/val_gt.txt or IMAGENET_ROOT/LOC_val_solution.csv)')
    p.add_argument('--no-image-check', dest='image_check', action='store_false',
                   help='do not decode every listed image first (by default a missing, '
                   'truncated or unreadable image stops the preparation, all of them named)')
    return p


def main(argv=None):
    def prepare_args(args):
        return prepare(args.imagenet_root, args.out_dir, classes_file=args.classes,
                       seed=args.seed, val_ratio=args.val_ratio, val_gt=args.val_gt,
                       image_check=args.image_check)

    def describe(s, args):
        return (f'{s["num_classes"]} classes: train {s["train"]}, val {s["val"]}, test '
                f'{s["test"]} images (val layout: {s["val_layout"]}) -> {s["meta_dir"]}')

    return run_converter(build_parser(), argv, prepare_args, PrepareError, describe)
