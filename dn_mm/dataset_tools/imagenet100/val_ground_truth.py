"""The flat ImageNet val layout: val/*.JPEG plus a ground-truth file (text or Kaggle CSV)."""
import csv
import io
import os

from .errors import PrepareError
from .folders import WNID_RE, list_images


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
    names = list_images(val_dir)
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
