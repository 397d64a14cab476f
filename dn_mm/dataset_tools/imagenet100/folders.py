"""Reading the inputs of the ImageNet-100 preparation: the class list and the class folders."""
import os
import re

from dn_mm.utils import progress, project_root

from .errors import PrepareError

DEFAULT_CLASSES_FILE = os.path.join(project_root(), 'tools', 'dataset_converters',
                                    'imagenet100_classes.txt')
WNID_RE = re.compile(r'^n[0-9]{8}$')
IMAGE_EXTENSIONS = ('.jpeg', '.jpg', '.png', '.bmp', '.webp')


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


def is_image(name):
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith('.')


def list_images(folder):
    try:
        with os.scandir(folder) as it:
            names = [e.name for e in it if is_image(e.name) and e.is_file()]
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
        names = list_images(folder)
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
    has_files = any(is_image(e.name) and e.is_file() for e in entries)
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
