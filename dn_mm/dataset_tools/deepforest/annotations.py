"""The annotations in the wheel (DeepForest CSV, Pascal-VOC XML): checked, one set per image.

Every fault is recorded in a :class:`~dn_mm.dataset_tools.faults.Faults` with its
file and entry (``ann.csv:7``, ``d.xml: object 2``): an empty or malformed
annotation file, a malformed row or object, an unknown class, a box of zero
size, the same box twice, an image not in the data folder; the boxes are
checked against their image (:func:`check_boxes`) once the images are read.

Two things are not faults, because DeepForest defines them: a CSV row with
``0,0,0,0`` marks an image without trees (DeepForest's convention for empty
images), and the same scene annotated by several files (the wheel ships
``OSBS_029`` three times) is resolved by :func:`pick_sets`, one set per image.
"""
import csv
import io
import math
import os
import xml.etree.ElementTree as ET

from .errors import DeepForestError

IMAGE_EXTS = ('.tif', '.tiff', '.png', '.jpg', '.jpeg')
COORDS = ('xmin', 'ymin', 'xmax', 'ymax')
CSV_REQUIRED = ('image_path',) + COORDS
# the labels of the wheel's annotation files (classes.csv lists Dead and Alive); each is a tree
DEFAULT_LABELS = ('Tree', 'Alive', 'Dead')
EMPTY_IMAGE_ROW = (0.0, 0.0, 0.0, 0.0)


def _box(values):
    """(xmin, ymin, xmax, ymax) as finite floats, or None."""
    try:
        box = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        return None
    return box if all(math.isfinite(v) for v in box) else None


def _check_label(label, labels, where, faults):
    if label not in labels:
        faults.add(where, f'unknown class {label!r} (known: {", ".join(labels)}; '
                          'set them with --labels)')


def _parse_csv(name, text, labels, faults):
    """{image basename: [(box, where), ...]}, or None for a CSV without an image_path column."""
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if 'image_path' not in fields:
        return None  # not an annotation file (e.g. classes.csv)
    missing = [c for c in CSV_REQUIRED if c not in fields]
    if missing:
        faults.add(name, f'malformed annotation file: no column {", ".join(missing)} '
                         f'(DeepForest columns: {",".join(CSV_REQUIRED)}[,label])')
        return {}
    reader.fieldnames = fields
    out, rows = {}, 0
    for row in reader:
        rows += 1
        where = f'{name}:{reader.line_num}'
        path = (row.get('image_path') or '').strip()
        box = _box(row.get(k) for k in COORDS)
        if None in row or None in row.values() or not path or box is None:
            faults.add(where, 'malformed row (expected image_path and 4 numeric '
                              f'coordinates{", label" if "label" in fields else ""}): '
                              f'{",".join(str(v) for v in row.values())}')
            continue
        if 'label' in fields:
            _check_label((row['label'] or '').strip(), labels, where, faults)
        out.setdefault(os.path.basename(path.replace('\\', '/')), []).append((box, where))
    if not rows:
        faults.add(name, 'empty annotation file (a header and no row; an image without trees '
                         'is a row 0,0,0,0)')
    return out


def _parse_voc(name, data, labels, faults):
    """{image basename: [(box, where), ...]} of a Pascal-VOC XML, or None if it is other XML."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        faults.add(name, f'malformed annotation file (XML: {err})')
        return {}
    if root.tag != 'annotation':
        return None
    fname = (root.findtext('filename') or '').strip()
    image = os.path.basename(fname.replace('\\', '/')) if fname else os.path.splitext(name)[0]
    boxes = []
    for i, obj in enumerate(root.iter('object'), 1):
        where = f'{name}: object {i}'
        _check_label((obj.findtext('name') or '').strip(), labels, where, faults)
        bndbox = obj.find('bndbox')
        box = None if bndbox is None else _box(bndbox.findtext(k) for k in COORDS)
        if box is None:
            faults.add(where, 'malformed object (expected <bndbox> with numeric '
                              '<xmin> <ymin> <xmax> <ymax>)')
            continue
        boxes.append((box, where))
    return {image: boxes}


def _check_entries(items, faults):
    """Zero-size and repeated boxes of one image in one file; the trees left."""
    seen, trees = {}, []
    for box, where in items:
        if box == EMPTY_IMAGE_ROW:
            continue
        if box[2] <= box[0] or box[3] <= box[1]:
            faults.add(where, f'box of zero size {list(box)} (xmin < xmax and ymin < ymax '
                              'needed; 0,0,0,0 marks an image without trees)')
        elif box in seen:
            faults.add(where, f'duplicate box {list(box)} (also {seen[box]})')
        else:
            seen[box] = where
            trees.append((box, where))
    return trees


def read_annotation_sets(source, labels, faults):
    """Every annotation set of the data folder, checked: {stem: [(n, file, image, items)]}.

    ``items`` are ``(box, where)`` pairs. Raises :class:`DeepForestError` when the
    folder holds no annotation file at all.
    """
    images = {n for n in source.names if n.lower().endswith(IMAGE_EXTS)}
    candidates, found = {}, False
    for name in sorted(source.names):
        low = name.lower()
        if not low.endswith(('.csv', '.xml')):
            continue
        data = source.read(name)
        if not data.strip():
            faults.add(name, 'empty annotation file')
            found = True
            continue
        if low.endswith('.csv'):
            parsed = _parse_csv(name, data.decode('utf-8-sig', 'replace'), labels, faults)
        else:
            parsed = _parse_voc(name, data, labels, faults)
        if parsed is None:
            continue
        found = True
        for img, items in sorted(parsed.items()):
            if img not in images:
                same_stem = sorted(i for i in images if os.path.splitext(i)[0] == img)
                if not (low.endswith('.xml') and same_stem):  # VOC without <filename>
                    where = items[0][1] if items else name
                    faults.add(where, f'missing image {img!r}: not in the data folder of '
                                      f'{source.src}')
                    continue
                img = same_stem[0]
            trees = _check_entries(items, faults)
            candidates.setdefault(os.path.splitext(img)[0], []).append(
                (len(trees), name, img, trees))
    if not found:
        raise DeepForestError(
            f'no annotation CSV (columns {",".join(CSV_REQUIRED)}) or Pascal-VOC XML found in '
            f'the deepforest/data folder of {source.src!r}')
    return candidates


def check_boxes(candidates, sizes, faults):
    """Record every box that leaves its image; ``sizes`` maps image name -> (w, h)."""
    for sets in candidates.values():
        for _, _, img, items in sets:
            if img not in sizes:
                continue  # unreadable: already a fault
            w, h = sizes[img]
            for box, where in items:
                if box[0] < 0 or box[1] < 0 or box[2] > w or box[3] > h:
                    faults.add(where, f'box {list(box)} outside its image {img!r} ({w}x{h})')


def pick_sets(candidates):
    """One annotation set per source image: the one with the most boxes.

    Ties go to the annotation file first in sorted order. Returns (records,
    notes): records are dicts ``{stem, image, ann_file, boxes}`` sorted by
    stem, notes say which sets were left out.
    """
    records, notes = [], []
    for stem in sorted(candidates):
        ranked = sorted(candidates[stem], key=lambda c: (-c[0], c[1], c[2]))
        n, ann, img, items = ranked[0]
        for other in ranked[1:]:
            notes.append(f'{stem}: using {ann} ({n} boxes, {img}); ignoring {other[1]} '
                         f'({other[0]} boxes, {other[2]})')
        records.append(dict(stem=stem, image=img, ann_file=ann,
                            boxes=sorted(box for box, _ in items)))
    return records, notes
