"""The annotations shipped in the wheel (DeepForest CSV, Pascal-VOC XML): one set per image."""
import csv
import io
import os
import xml.etree.ElementTree as ET

from .errors import DeepForestError

IMAGE_EXTS = ('.tif', '.tiff', '.png', '.jpg', '.jpeg')
CSV_REQUIRED = ('image_path', 'xmin', 'ymin', 'xmax', 'ymax')


def _parse_csv(text):
    """Return {image_basename: [(xmin, ymin, xmax, ymax), ...]} or None if
    the CSV does not have the DeepForest annotation columns."""
    reader = csv.DictReader(io.StringIO(text))
    fields = [f.strip().lower() for f in (reader.fieldnames or [])]
    if not all(c in fields for c in CSV_REQUIRED):
        return None
    reader.fieldnames = fields
    out = {}
    for row in reader:
        path = (row.get('image_path') or '').strip()
        if not path:
            continue
        try:
            box = tuple(float(row[k]) for k in ('xmin', 'ymin', 'xmax',
                                                 'ymax'))
        except (TypeError, ValueError):
            continue  # empty-image rows / malformed rows
        out.setdefault(os.path.basename(path.replace('\\', '/')),
                       []).append(box)
    return out


def _parse_voc(data, xml_name):
    """Return {image_basename: boxes} for a Pascal-VOC XML, None if not VOC."""
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return None
    if root.tag != 'annotation':
        return None
    fname = (root.findtext('filename') or '').strip()
    fname = os.path.basename(fname.replace('\\', '/')) if fname else None
    boxes = []
    for obj in root.iter('object'):
        bb = obj.find('bndbox')
        if bb is None:
            continue
        try:
            boxes.append(tuple(
                float(bb.findtext(k)) for k in ('xmin', 'ymin', 'xmax',
                                                'ymax')))
        except (TypeError, ValueError):
            continue
    return {fname or xml_name: boxes}


def collect_annotations(source):
    """Pick one annotation set per source image.

    Returns (records, notes) where records is a sorted list of dicts
    ``{stem, image, ann_file, boxes}`` and notes lists skipped inputs.
    """
    names = set(source.names)
    images = {n for n in names if n.lower().endswith(IMAGE_EXTS)}
    candidates = {}  # stem -> [(n_boxes, ann_file, image, boxes)]
    notes = []
    found_ann_file = False
    for name in sorted(names):
        low = name.lower()
        if low.endswith('.csv'):
            parsed = _parse_csv(source.read(name).decode('utf-8-sig',
                                                         'replace'))
        elif low.endswith('.xml'):
            stem_img = os.path.splitext(name)[0]
            parsed = _parse_voc(source.read(name), stem_img)
        else:
            continue
        if parsed is None:
            continue
        found_ann_file = True
        for img, boxes in sorted(parsed.items()):
            if img not in images:
                # VOC without <filename>: match any image with the same stem
                alts = sorted(i for i in images
                              if os.path.splitext(i)[0] == img)
                if low.endswith('.xml') and alts:
                    img = alts[0]
                else:
                    notes.append(f'{name}: image {img!r} not in data folder, '
                                 f'{len(boxes)} boxes ignored')
                    continue
            stem = os.path.splitext(img)[0]
            candidates.setdefault(stem, []).append(
                (len(boxes), name, img, boxes))
    if not found_ann_file:
        raise DeepForestError(
            f'no annotation CSV (columns '
            f'{",".join(CSV_REQUIRED)}) or Pascal-VOC XML found in the '
            f'deepforest/data folder of {source.src!r}')
    records = []
    for stem in sorted(candidates):
        cands = sorted(candidates[stem], key=lambda c: (-c[0], c[1], c[2]))
        n, ann, img, boxes = cands[0]
        for other in cands[1:]:
            notes.append(f'{stem}: using {ann} ({n} boxes, {img}); '
                         f'ignoring {other[1]} ({other[0]} boxes, '
                         f'{other[2]})')
        records.append(dict(stem=stem, image=img, ann_file=ann,
                            boxes=sorted(boxes)))
    return records, notes
