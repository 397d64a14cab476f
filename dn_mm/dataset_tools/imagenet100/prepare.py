"""The ImageNet-100 split: validate everything, then write OUT_DIR/meta/*.txt in one go."""
import os

from dn_mm.dataset_tools.faults import Faults, check_images
from dn_mm.dataset_tools.split import split_class
from dn_mm.utils import write_files_atomic

from .errors import PrepareError
from .folders import DEFAULT_CLASSES_FILE, detect_val_layout, read_classes_file, scan_class_folders
from .val_ground_truth import scan_flat_val

DEFAULT_GT_NAMES = ('val_gt.txt', 'LOC_val_solution.csv')


def _check_val_ratio(val_ratio):
    try:
        r = float(val_ratio)
    except (TypeError, ValueError):
        r = float('nan')
    if not (0.0 < r < 1.0):
        raise PrepareError(
            f'--val-ratio must be a number with 0 < r < 1, got {val_ratio!r}')
    return r


def prepare(root, out_dir, classes_file=None, seed=0, val_ratio=0.2,
            val_gt=None, image_check=True):
    """Validate the inputs, compute the split and write OUT_DIR/meta/*.txt.

    ``image_check`` decodes every listed image first (JPEG at 1/8 scale, in
    threads): a missing, empty, truncated or non-image file is a fault, and
    every fault is named in one :class:`PrepareError`.

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

    entries = {'train': [], 'val': [], 'test': []}  # (path relative to root, label)
    for label, w in enumerate(wnids):
        tr, va = split_class(train_names[w], w, seed, val_ratio)
        entries['train'] += [(f'train/{w}/{n}', label) for n in tr]
        entries['val'] += [(f'train/{w}/{n}', label) for n in va]
        entries['test'] += [(f'{test_prefix[w]}{n}', label) for n in test_names[w]]

    if image_check:
        faults = Faults()
        check_images([os.path.join(root, path) for part in entries.values() for path, _ in part],
                     faults)
        faults.raise_if_any(PrepareError, f'the images of {root}')

    meta_dir = os.path.join(out_dir, 'meta')
    try:
        os.makedirs(meta_dir, exist_ok=True)
    except OSError as e:
        raise PrepareError(f'OUT_DIR: cannot create {meta_dir!r}: {e}')
    files = {os.path.join(meta_dir, f'{k}.txt'):
             ''.join(f'{path} {label}\n' for path, label in v).encode('utf-8')
             for k, v in entries.items()}
    files[os.path.join(meta_dir, 'classes.txt')] = ''.join(
        f'{w}\n' for w in wnids).encode('utf-8')
    write_files_atomic(files)  # all or nothing
    return {
        'num_classes': len(wnids),
        'train': len(entries['train']),
        'val': len(entries['val']),
        'test': len(entries['test']),
        'val_layout': layout,
        'val_gt': gt_used,
        'classes_file': classes_file,
        'meta_dir': meta_dir,
        'files': sorted(files),
    }
