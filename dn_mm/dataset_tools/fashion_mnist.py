"""Convert Fashion-MNIST idx files into an ImageNet-style JPEG tree.

    OUT_ROOT/train/<wnid>/fmnist_train_<index>.JPEG   from the Fashion-MNIST train split
    OUT_ROOT/val/<wnid>/fmnist_test_<index>.JPEG      from the Fashion-MNIST test split

<index> is the image's 0-based position in its idx file.  For each class the
first N images in file order are taken, so the output is deterministic.  The
10 classes get pseudo-wnids n90000000..n90000009 (label k -> n9000000k), listed
in tools/dataset_converters/fashion_mnist_classes.txt, so that

    prepare_imagenet100.py OUT_ROOT OUT_DIR \\
        --classes tools/dataset_converters/fashion_mnist_classes.txt

splits the tree exactly like real ImageNet.

Fashion-MNIST: Copyright (c) 2017 Zalando SE, MIT license
(https://github.com/zalandoresearch/fashion-mnist); fetch it offline from the
Debian package with tools/dataset_converters/fetch_fashion_mnist.sh.

Uses only the standard library, numpy and Pillow (tqdm if present). The command
line is ``tools/dataset_converters/fashion_mnist_to_imagenet.py`` (:func:`main`).
"""
import argparse
import gzip
import io
import os
import re
import zlib

import numpy as np
from PIL import Image

from dn_mm.utils import progress, write_if_changed

from .cli import run_converter

CLASSES = (
    ('n90000000', 'T-shirt/top'),
    ('n90000001', 'Trouser'),
    ('n90000002', 'Pullover'),
    ('n90000003', 'Dress'),
    ('n90000004', 'Coat'),
    ('n90000005', 'Sandal'),
    ('n90000006', 'Shirt'),
    ('n90000007', 'Sneaker'),
    ('n90000008', 'Bag'),
    ('n90000009', 'Ankle boot'),
)
# Fashion-MNIST split -> (images stem, labels stem, output folder, file prefix)
SPLITS = {
    'train': ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte', 'train',
              'fmnist_train'),
    'test': ('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte', 'val',
             'fmnist_test'),
}
OWN_FILE_RE = re.compile(r'^fmnist_(train|test)_[0-9]+\.JPEG$')
JPEG_QUALITY = 95


class ConvertError(ValueError):
    """Invalid input; the message names the offending path/parameter."""


# --------------------------------------------------------------------------
# idx format
# --------------------------------------------------------------------------
def find_idx_file(fmnist_dir, stem):
    """Return ``fmnist_dir/stem.gz`` or, failing that, ``fmnist_dir/stem``."""
    for name in (stem + '.gz', stem):
        path = os.path.join(fmnist_dir, name)
        if os.path.isfile(path):
            return path
    raise ConvertError(
        f'FMNIST_DIR: missing {stem}.gz (or uncompressed {stem}) in '
        f'{fmnist_dir!r}; expected the 4 Fashion-MNIST idx files '
        '(see fetch_fashion_mnist.sh)')


def parse_idx(data, path='<bytes>'):
    """Parse idx-format bytes (unsigned-byte data only) into a numpy array."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ConvertError(f'corrupt idx file {path!r}: bad magic number '
                           f'{data[:4]!r} (expected 00 00 08 <ndim>)')
    if data[2] != 0x08:
        raise ConvertError(f'unsupported idx file {path!r}: data type '
                           f'0x{data[2]:02x}, only unsigned byte (0x08) '
                           'is supported')
    ndim = data[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(data) < header:
        raise ConvertError(f'corrupt idx file {path!r}: truncated header '
                           f'(ndim={ndim})')
    dims = tuple(int(d) for d in np.frombuffer(data, '>u4', ndim, 4))
    expected = int(np.prod(dims, dtype=np.int64))
    got = len(data) - header
    if got != expected:
        raise ConvertError(
            f'corrupt idx file {path!r}: header says shape {dims} '
            f'({expected} bytes of data) but it holds {got} bytes')
    return np.frombuffer(data, np.uint8, expected, header).reshape(dims)


def read_idx(path):
    try:
        if path.endswith('.gz'):
            with gzip.open(path, 'rb') as f:
                data = f.read()
        else:
            with open(path, 'rb') as f:
                data = f.read()
    except (OSError, EOFError, zlib.error) as e:
        raise ConvertError(f'cannot read idx file {path!r} (corrupt or '
                           f'truncated?): {e}')
    return parse_idx(data, path)


def load_split(fmnist_dir, split):
    """Return (images[N, H, W] uint8, labels[N] uint8) of a Fashion-MNIST split."""
    img_stem, lbl_stem = SPLITS[split][:2]
    img_path = find_idx_file(fmnist_dir, img_stem)
    lbl_path = find_idx_file(fmnist_dir, lbl_stem)
    images = read_idx(img_path)
    labels = read_idx(lbl_path)
    if images.ndim != 3:
        raise ConvertError(f'corrupt idx file {img_path!r}: expected 3 '
                           f'dimensions (N, H, W), got shape {images.shape}')
    if labels.ndim != 1:
        raise ConvertError(f'corrupt idx file {lbl_path!r}: expected 1 '
                           f'dimension (N,), got shape {labels.shape}')
    if len(images) != len(labels):
        raise ConvertError(
            f'{img_path!r} holds {len(images)} images but {lbl_path!r} '
            f'holds {len(labels)} labels')
    if len(labels) == 0 or 0 in images.shape[1:]:
        raise ConvertError(f'empty idx file: {img_path!r} holds {images.shape[0]} images of '
                           f'{images.shape[1]}x{images.shape[2]} pixels')
    unknown = np.flatnonzero(labels >= len(CLASSES))
    if len(unknown):
        shown = ', '.join(f'index {i}: {labels[i]}' for i in unknown[:10])
        raise ConvertError(
            f'unknown class in label file {lbl_path!r} ({len(unknown)} label(s) outside '
            f'0..{len(CLASSES) - 1}): {shown}{" ..." if len(unknown) > 10 else ""}')
    return images, labels


# --------------------------------------------------------------------------
# conversion
# --------------------------------------------------------------------------
def select_first(labels, per_class, param, path_hint=''):
    """Indices of the first ``per_class`` images of every class (file order).

    ``per_class=None`` takes all images.  Returns a list of index arrays.
    """
    selected = []
    for k, (wnid, name) in enumerate(CLASSES):
        idx = np.flatnonzero(labels == k)
        if per_class is None:
            if len(idx) == 0:
                raise ConvertError(f'class {k} ({name}) has no image in '
                                   f'{path_hint}')
        elif len(idx) < per_class:
            raise ConvertError(
                f'{param} {per_class} is more than the {len(idx)} images of '
                f'class {k} ({name}) in {path_hint}; use at most {len(idx)}')
        else:
            idx = idx[:per_class]
        selected.append(idx)
    return selected


def encode_jpeg(gray, size=None):
    """Encode a 2-D uint8 array as an RGB JPEG (optionally resized to size²)."""
    img = Image.fromarray(np.ascontiguousarray(gray)).convert('RGB')
    if size and img.size != (size, size):
        img = img.resize((size, size), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format='JPEG', quality=JPEG_QUALITY)
    return buf.getvalue()


def _check_count(value, param):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConvertError(f"{param} must be a positive integer or 'all', "
                           f'got {value!r}')
    return value


def convert(fmnist_dir, out_root, per_class_train=60, per_class_val=20,
            size=32):
    """Write the ImageNet-style tree; return a summary dict of counts.

    ``per_class_train``/``per_class_val``: images per class taken from the
    Fashion-MNIST train/test split (None = all).  ``size``: output side length
    (None or 0 keeps the original 28x28).  Everything is read and validated
    before anything is written; files whose bytes would not change are left
    alone, and stale ``fmnist_*.JPEG`` files in the class folders are removed.
    """
    per_class = {'train': _check_count(per_class_train, '--per-class-train'),
                 'test': _check_count(per_class_val, '--per-class-val')}
    if size is not None and (isinstance(size, bool) or not isinstance(size, int)
                             or size < 0):
        raise ConvertError(f'--size must be a non-negative integer (0 keeps '
                           f'the original size), got {size!r}')
    fmnist_dir = os.fspath(fmnist_dir)
    out_root = os.fspath(out_root)
    if not os.path.isdir(fmnist_dir):
        raise ConvertError(f'FMNIST_DIR {fmnist_dir!r} is not a directory')
    if os.path.exists(out_root) and not os.path.isdir(out_root):
        raise ConvertError(f'OUT_ROOT {out_root!r} exists and is not a '
                           'directory')

    for split in SPLITS:  # report every missing file before reading any
        for stem in SPLITS[split][:2]:
            find_idx_file(fmnist_dir, stem)
    jobs = []  # (split, class k, index in the idx file)
    loaded = {}
    for split in ('train', 'test'):
        images, labels = load_split(fmnist_dir, split)
        loaded[split] = images
        param = ('--per-class-train' if split == 'train'
                 else '--per-class-val')
        hint = find_idx_file(fmnist_dir, SPLITS[split][1])
        for k, idx in enumerate(select_first(labels, per_class[split], param,
                                             hint)):
            jobs += [(split, k, int(i)) for i in idx]

    expected = {}  # class folder -> set of file names
    for split, k, i in jobs:
        folder = os.path.join(out_root, SPLITS[split][2], CLASSES[k][0])
        expected.setdefault(folder, set()).add(f'{SPLITS[split][3]}_{i:05d}.JPEG')

    written = unchanged = 0
    try:
        for folder in expected:
            os.makedirs(folder, exist_ok=True)
        for split, k, i in progress(jobs, total=len(jobs), desc='write JPEG'):
            folder = os.path.join(out_root, SPLITS[split][2], CLASSES[k][0])
            path = os.path.join(folder, f'{SPLITS[split][3]}_{i:05d}.JPEG')
            if write_if_changed(path, encode_jpeg(loaded[split][i], size)):
                written += 1
            else:
                unchanged += 1
    except OSError as e:
        raise ConvertError(f'OUT_ROOT: cannot write under {out_root!r}: {e}')

    removed = 0
    for folder, names in expected.items():
        for name in sorted(os.listdir(folder)):
            if OWN_FILE_RE.match(name) and name not in names:
                os.unlink(os.path.join(folder, name))
                removed += 1

    counts = {s: sum(1 for j in jobs if j[0] == s) for s in SPLITS}
    return {'train': counts['train'], 'val': counts['test'],
            'written': written, 'unchanged': unchanged, 'removed': removed,
            'num_classes': len(CLASSES), 'out_root': out_root}


def _count_arg(text):
    if text.strip().lower() == 'all':
        return None
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer or 'all', got {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a positive integer or 'all', got {text!r}")
    return value


def build_parser():
    p = argparse.ArgumentParser(
        prog='fashion_mnist_to_imagenet.py',
        description='Convert Fashion-MNIST idx files (train-images-idx3-ubyte.gz, '
        'train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, '
        't10k-labels-idx1-ubyte.gz; uncompressed files also accepted) into '
        'OUT_ROOT/train/<wnid>/*.JPEG (Fashion-MNIST train split) and '
        'OUT_ROOT/val/<wnid>/*.JPEG (its test split), wnids n90000000..'
        'n90000009 = labels 0..9. The first N images of each class in file '
        'order are taken. Fashion-MNIST: (c) 2017 Zalando SE, MIT license.',
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('fmnist_dir', metavar='FMNIST_DIR',
                   help='folder holding the 4 idx files')
    p.add_argument('out_root', metavar='OUT_ROOT',
                   help='output ImageNet-style root')
    p.add_argument('--per-class-train', type=_count_arg, default=60,
                   metavar='N', help="train images per class ('all' for all)")
    p.add_argument('--per-class-val', type=_count_arg, default=20,
                   metavar='N', help="val images per class, taken from the "
                   "Fashion-MNIST test split ('all' for all)")
    p.add_argument('--size', type=int, default=32, metavar='S',
                   help='output side length in pixels (bicubic); 0 keeps 28')
    return p


def main(argv=None):
    def convert_args(args):
        return convert(args.fmnist_dir, args.out_root, per_class_train=args.per_class_train,
                       per_class_val=args.per_class_val, size=args.size)

    def describe(s, args):
        return (f'{s["num_classes"]} classes: train {s["train"]}, val {s["val"]} images in '
                f'{s["out_root"]} (written {s["written"]}, unchanged {s["unchanged"]}, stale '
                f'removed {s["removed"]})')

    return run_converter(build_parser(), argv, convert_args, ConvertError, describe)
