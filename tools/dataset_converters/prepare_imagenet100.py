#!/usr/bin/env python
"""Build ImageNet-100 (or any ImageNet class subset) annotation files.

Writes mmpretrain ``CustomDataset``/``ImageNet`` annotation files (one
``relative/path label`` per line, paths relative to IMAGENET_ROOT) for a
seeded per-class (stratified) train/val split of the ImageNet *train* images;
the original ImageNet *val* images of the chosen classes become the test set.
No image is copied.

Only the Python standard library is used (tqdm for progress bars if present),
so the tool runs before torch/mmcv are installed.  It can be imported by file
path; the entry points are :func:`prepare` and :func:`main`.
"""
import argparse
import csv
import io
import os
import re
import sys
import tempfile

from dn_mm.datasets.split import split_class
from dn_mm.utils import progress

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_CLASSES_FILE = os.path.join(HERE, 'imagenet100_classes.txt')
DEFAULT_GT_NAMES = ('val_gt.txt', 'LOC_val_solution.csv')
WNID_RE = re.compile(r'^n[0-9]{8}$')
IMAGE_EXTENSIONS = ('.jpeg', '.jpg', '.png', '.bmp', '.webp')

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
Same input + seed -> byte-identical files.  For each class the split depends
only on (seed, wnid, that class's file names), so adding or removing other
classes never changes it.  Everything is validated before anything is
written; files are replaced atomically.
"""


class PrepareError(ValueError):
    """Invalid input; the message names the offending path/parameter."""


# --------------------------------------------------------------------------
# progress
# --------------------------------------------------------------------------
# --------------------------------------------------------------------------
# reading inputs
# --------------------------------------------------------------------------
def read_classes_file(path, param='--classes'):
    """Return the wnids listed in ``path`` (order kept), validating them."""
    try:
        with open(path, encoding='utf-8') as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise PrepareError(f'{param}: cannot read classes file {path!r}: {e}')
    wnids, first_line = [], {}
    for lineno, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith('#'):
            continue
        if not WNID_RE.match(line):
            raise PrepareError(
                f'{param}: invalid entry {line!r} at {path}:{lineno}; every '
                "non-comment line must be one wnid ('n' followed by 8 "
                "digits, e.g. n01440764)")
        if line in first_line:
            raise PrepareError(
                f'{param}: duplicate class {line} at {path}:{lineno} '
                f'(first listed at line {first_line[line]})')
        first_line[line] = lineno
        wnids.append(line)
    if not wnids:
        raise PrepareError(
            f'{param}: classes file {path!r} lists no class; expected one '
            "wnid per line (lines starting with '#' are comments)")
    return wnids


def _is_image(name):
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith('.')


def _list_images(folder):
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if _is_image(e.name) and e.is_file()]
    except OSError as e:
        raise PrepareError(f'cannot list {folder!r}: {e}')
    for name in names:
        if '\n' in name or '\r' in name:
            raise PrepareError(
                f'file name with a line break in {folder!r}: {name!r}; such '
                'names cannot be written to an annotation file')
    return sorted(names)


def scan_class_folders(base, wnids, split_name):
    """Map each wnid to the sorted image names of ``base/<wnid>``."""
    missing = [w for w in wnids if not os.path.isdir(os.path.join(base, w))]
    if missing:
        shown = ', '.join(missing[:10]) + (' ...' if len(missing) > 10 else '')
        raise PrepareError(
            f'{len(missing)} listed class(es) have no folder in '
            f'{base!r}: {shown}; every class in the classes file must exist '
            f'as {split_name}/<wnid>/')
    result = {}
    for w in progress(wnids, total=len(wnids), desc=f'scan {split_name}'):
        folder = os.path.join(base, w)
        names = _list_images(folder)
        if not names:
            raise PrepareError(
                f'class {w} is empty: no image files ({"/".join(IMAGE_EXTENSIONS)}'
                f') in {folder!r}')
        result[w] = names
    return result


def detect_val_layout(val_dir):
    """Return 'folders' (val/<wnid>/...) or 'flat' (val/*.JPEG)."""
    try:
        with os.scandir(val_dir) as it:
            entries = list(it)
    except OSError as e:
        raise PrepareError(f'cannot list val folder {val_dir!r}: {e}')
    has_dirs = any(WNID_RE.match(e.name) and e.is_dir() for e in entries)
    has_files = any(_is_image(e.name) and e.is_file() for e in entries)
    if has_dirs and has_files:
        raise PrepareError(
            f'ambiguous val layout in {val_dir!r}: it holds both wnid folders '
            'and loose image files; use either val/<wnid>/*.JPEG or a flat '
            'val/*.JPEG with a ground-truth file (--val-gt)')
    if has_dirs:
        return 'folders'
    if has_files:
        return 'flat'
    raise PrepareError(
        f'val folder {val_dir!r} holds neither wnid folders nor image files')


def read_val_gt(path):
    """Parse a ground-truth file; return a list of (lineno, name, wnid).

    ``name`` is the file name (text format) or file stem (CSV format).
    """
    try:
        with open(path, 'rb') as f:
            data = f.read()
        text = data.decode('utf-8-sig')
    except (OSError, UnicodeDecodeError) as e:
        raise PrepareError(f'--val-gt: cannot read ground-truth file '
                           f'{path!r}: {e}')
    lines = text.splitlines()
    first = next((ln.strip() for ln in lines if ln.strip()), '')
    entries = []

    def bad(lineno, msg):
        return PrepareError(
            f'--val-gt: malformed ground-truth file {path}:{lineno}: {msg}; '
            "expected '<filename> <wnid>' lines or the LOC_val_solution.csv "
            "format (header 'ImageId,PredictionString')")

    if first.replace(' ', '').lower().startswith('imageid,predictionstring'):
        reader = csv.reader(io.StringIO(text))
        header_seen = False
        for row in reader:
            lineno = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if not header_seen:
                header_seen = True
                continue
            if len(row) != 2 or not row[0].strip():
                raise bad(lineno, f'expected 2 columns, got {row!r}')
            tokens = row[1].split()
            if not tokens or not WNID_RE.match(tokens[0]):
                raise bad(lineno, f'PredictionString {row[1]!r} does not '
                                  'start with a wnid')
            entries.append((lineno, row[0].strip(), tokens[0]))
    else:
        for lineno, raw in enumerate(lines, 1):
            line = raw.strip()
            if not line or line.startswith('#'):
                continue
            parts = line.split()
            if len(parts) != 2:
                raise bad(lineno, f'expected 2 fields, got {line!r}')
            if not WNID_RE.match(parts[1]):
                raise bad(lineno, f'label {parts[1]!r} is not a wnid')
            entries.append((lineno, parts[0], parts[1]))
    if not entries:
        raise PrepareError(f'--val-gt: ground-truth file {path!r} has no '
                           'entries')
    return entries


def scan_flat_val(val_dir, gt_path, wnids):
    """Map each wnid to its sorted image names in a flat val folder."""
    names = _list_images(val_dir)
    by_name = {n: n for n in names}
    by_stem = {}
    for n in names:
        by_stem.setdefault(os.path.splitext(n)[0], []).append(n)
    wanted = set(wnids)
    assigned = {}
    result = {w: [] for w in wnids}
    for lineno, key, wnid in read_val_gt(gt_path):
        name = by_name.get(key)
        if name is None:
            stems = by_stem.get(key, [])
            if len(stems) > 1:
                raise PrepareError(
                    f'--val-gt: {gt_path}:{lineno}: {key!r} matches several '
                    f'files in {val_dir!r}: {stems}')
            name = stems[0] if stems else None
        if name is None:
            if wnid in wanted:
                raise PrepareError(
                    f'--val-gt: {gt_path}:{lineno}: image {key!r} of class '
                    f'{wnid} not found in {val_dir!r}')
            continue
        if name in assigned:
            raise PrepareError(
                f'--val-gt: malformed ground-truth file {gt_path}:{lineno}: '
                f'{name!r} is listed twice (first at line {assigned[name]})')
        assigned[name] = lineno
        if wnid in wanted:
            result[wnid].append(name)
    unlabeled = [n for n in names if n not in assigned]
    if unlabeled:
        raise PrepareError(
            f'--val-gt: {len(unlabeled)} image(s) in {val_dir!r} have no entry '
            f'in ground-truth file {gt_path!r}, e.g. {unlabeled[0]!r}')
    for w in wnids:
        if not result[w]:
            raise PrepareError(
                f'class {w} is empty in the test set: ground-truth file '
                f'{gt_path!r} lists no image of it in {val_dir!r}')
        result[w].sort()
    return result


# --------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------
def _check_val_ratio(val_ratio):
    try:
        r = float(val_ratio)
    except (TypeError, ValueError):
        r = float('nan')
    if not (0.0 < r < 1.0):
        raise PrepareError(
            f'--val-ratio must be a number with 0 < r < 1, got {val_ratio!r}')
    return r


def _atomic_write_all(contents):
    """Write {path: bytes} via temp files + os.replace (all or nothing)."""
    temps = []
    try:
        for path, data in contents.items():
            d = os.path.dirname(path)
            fd, tmp = tempfile.mkstemp(dir=d, prefix='.' + os.path.basename(path),
                                       suffix='.tmp')
            temps.append(tmp)
            with os.fdopen(fd, 'wb') as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o644)
        for (path, _), tmp in zip(contents.items(), temps):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            if os.path.exists(tmp):
                os.unlink(tmp)


# --------------------------------------------------------------------------
# main entry
# --------------------------------------------------------------------------
def prepare(root, out_dir, classes_file=None, seed=0, val_ratio=0.2,
            val_gt=None):
    """Validate the inputs, compute the split and write OUT_DIR/meta/*.txt.

    Returns a summary dict with keys ``num_classes``, ``train``, ``val``,
    ``test`` (counts), ``val_layout`` ('folders' or 'flat'), ``val_gt``
    (path used or None), ``classes_file``, ``meta_dir`` and ``files``.
    Raises :class:`PrepareError` for invalid input (before writing anything).
    """
    val_ratio = _check_val_ratio(val_ratio)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise PrepareError(f'--seed must be an integer, got {seed!r}')
    root = os.fspath(root)
    out_dir = os.fspath(out_dir)
    if not os.path.isdir(root):
        raise PrepareError(f'IMAGENET_ROOT {root!r} is not a directory')
    train_dir = os.path.join(root, 'train')
    val_dir = os.path.join(root, 'val')
    for d, what in ((train_dir, 'train'), (val_dir, 'val')):
        if not os.path.isdir(d):
            raise PrepareError(
                f'missing {what} folder {d!r}: IMAGENET_ROOT must contain '
                f'train/<wnid>/*.JPEG and val/ (see --help)')
    classes_file = os.fspath(classes_file) if classes_file else DEFAULT_CLASSES_FILE
    wnids = read_classes_file(classes_file)

    layout = detect_val_layout(val_dir)
    gt_used = None
    if layout == 'folders':
        if val_gt is not None:
            raise PrepareError(
                f'--val-gt {os.fspath(val_gt)!r} given but {val_dir!r} uses '
                'per-class folders (val/<wnid>/), which need no ground truth')
    else:
        if val_gt is not None:
            gt_used = os.fspath(val_gt)
            if not os.path.isfile(gt_used):
                raise PrepareError(
                    f'--val-gt: ground-truth file {gt_used!r} does not exist')
        else:
            cands = [os.path.join(root, n) for n in DEFAULT_GT_NAMES]
            gt_used = next((c for c in cands if os.path.isfile(c)), None)
            if gt_used is None:
                raise PrepareError(
                    f'{val_dir!r} is flat (val/*.JPEG) but no ground-truth file '
                    f'was found at {" or ".join(map(repr, cands))}; pass '
                    '--val-gt FILE')

    train_names = scan_class_folders(train_dir, wnids, 'train')
    if layout == 'folders':
        test_names = scan_class_folders(val_dir, wnids, 'val')
        test_prefix = {w: f'val/{w}/' for w in wnids}
    else:
        test_names = scan_flat_val(val_dir, gt_used, wnids)
        test_prefix = {w: 'val/' for w in wnids}

    lines = {'train': [], 'val': [], 'test': []}
    for label, w in enumerate(wnids):
        tr, va = split_class(train_names[w], w, seed, val_ratio)
        lines['train'] += [f'train/{w}/{n} {label}\n' for n in tr]
        lines['val'] += [f'train/{w}/{n} {label}\n' for n in va]
        lines['test'] += [f'{test_prefix[w]}{n} {label}\n' for n in test_names[w]]

    meta_dir = os.path.join(out_dir, 'meta')
    try:
        os.makedirs(meta_dir, exist_ok=True)
    except OSError as e:
        raise PrepareError(f'OUT_DIR: cannot create {meta_dir!r}: {e}')
    files = {os.path.join(meta_dir, f'{k}.txt'): ''.join(v).encode('utf-8')
             for k, v in lines.items()}
    files[os.path.join(meta_dir, 'classes.txt')] = ''.join(
        f'{w}\n' for w in wnids).encode('utf-8')
    _atomic_write_all(files)
    return {
        'num_classes': len(wnids),
        'train': len(lines['train']),
        'val': len(lines['val']),
        'test': len(lines['test']),
        'val_layout': layout,
        'val_gt': gt_used,
        'classes_file': classes_file,
        'meta_dir': meta_dir,
        'files': sorted(files),
    }


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
                   'imagenet100_classes.txt next to this script)')
    p.add_argument('--seed', type=int, default=0,
                   help='split seed (default 0)')
    p.add_argument('--val-ratio', type=float, default=0.2,
                   help='fraction of each class\'s train images used for val, '
                   '0 < r < 1 (default 0.2)')
    p.add_argument('--val-gt', metavar='FILE', default=None,
                   help='ground truth for a flat val/ folder (default: '
                   'IMAGENET_ROOT/val_gt.txt or IMAGENET_ROOT/LOC_val_solution.csv)')
    return p


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        summary = prepare(args.imagenet_root, args.out_dir,
                          classes_file=args.classes, seed=args.seed,
                          val_ratio=args.val_ratio, val_gt=args.val_gt)
    except PrepareError as e:
        parser.error(str(e))
    print(f'{summary["num_classes"]} classes: train {summary["train"]}, '
          f'val {summary["val"]}, test {summary["test"]} images '
          f'(val layout: {summary["val_layout"]}) -> {summary["meta_dir"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
