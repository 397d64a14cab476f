"""Check every image and annotation of a config's data splits, listing every bad entry.

``tools/misc/verify_dataset.py CONFIG`` runs this before a long run, so a bad
file costs a minute, not a crashed or silently skewed run. Two layouts, as the
configs use them:

* mmpretrain ``CustomDataset`` with an annotation list (``path label`` per
  line): malformed lines, labels outside ``[0, num_classes)``, duplicate
  entries, missing or unreadable images;
* mmdet COCO-style datasets (``CocoDataset``): a missing, empty or malformed
  annotation file, duplicate image ids, annotations of unknown images or
  classes, malformed boxes, boxes of zero size or outside their image,
  missing or unreadable images.

Images are fully decoded (PIL ``load``), so truncated files are found too.
"""
import json
import os.path as osp
from typing import List, Optional

from ..utils import progress
from .faults import image_problem


def _join(root: str, path: str) -> str:
    return path if osp.isabs(path) or not root else osp.join(root, path)


def verify_image_list(ann_file: str, img_root: str, num_classes: int) -> List[str]:
    """Problems of an mmpretrain annotation list (``relative/path label`` per line)."""
    if not osp.isfile(ann_file):
        return [f'{ann_file}: annotation file missing']
    with open(ann_file) as f:
        lines = f.read().splitlines()
    if not any(line.strip() for line in lines):
        return [f'{ann_file}: annotation file is empty']
    problems, seen = [], {}
    for no, line in enumerate(progress(lines, total=len(lines), desc=osp.basename(ann_file)), 1):
        if not line.strip():
            continue
        parts = line.rsplit(maxsplit=1)
        where = f'{ann_file}:{no}'
        if len(parts) != 2 or not parts[1].lstrip('-').isdigit():
            problems.append(f'{where}: malformed line {line!r} (expected "path label")')
            continue
        path, label = parts[0], int(parts[1])
        if not 0 <= label < num_classes:
            problems.append(f'{where}: unknown class {label} (valid: 0..{num_classes - 1})')
        if path in seen:
            problems.append(f'{where}: duplicate image {path!r} (also line {seen[path]})')
        seen.setdefault(path, no)
        bad = image_problem(_join(img_root, path))
        if bad:
            problems.append(f'{where}: {bad}: {_join(img_root, path)}')
    return problems


def verify_coco(ann_file: str, img_root: str, classes) -> List[str]:
    """Problems of a COCO annotation file and its images."""
    if not osp.isfile(ann_file):
        return [f'{ann_file}: annotation file missing']
    if osp.getsize(ann_file) == 0:
        return [f'{ann_file}: annotation file is empty']
    try:
        with open(ann_file) as f:
            coco = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        return [f'{ann_file}: malformed annotation file (not JSON: {err})']
    lacking = [k for k in ('images', 'annotations', 'categories')
               if not isinstance(coco, dict) or not isinstance(coco.get(k), list)]
    if lacking:
        return [f'{ann_file}: malformed annotation file (no list {", ".join(lacking)})']
    problems, images = [], {}
    known = {c.get('id'): c.get('name') for c in coco['categories'] if isinstance(c, dict)}
    for cid, name in known.items():
        if classes is not None and name not in classes:
            problems.append(f'{ann_file}: category {cid} {name!r}: unknown class '
                            f'(the config\'s classes: {list(classes)})')
    for img in progress(coco['images'], total=len(coco['images']), desc=osp.basename(ann_file)):
        iid = img.get('id') if isinstance(img, dict) else None
        where = f'{ann_file}: image id {iid}'
        if not isinstance(img, dict) or 'file_name' not in img:
            problems.append(f'{where}: malformed image entry {img!r}')
            continue
        if iid in images:
            problems.append(f'{where}: duplicate image id ({img["file_name"]!r} and '
                            f'{images[iid]["file_name"]!r})')
            continue
        images[iid] = img
        bad = image_problem(_join(img_root, img['file_name']))
        if bad:
            problems.append(f'{where}: {bad}: {_join(img_root, img["file_name"])}')
    for ann in coco['annotations']:
        aid = ann.get('id') if isinstance(ann, dict) else None
        where = f'{ann_file}: annotation id {aid}'
        bbox = ann.get('bbox') if isinstance(ann, dict) else None
        if not (isinstance(bbox, list) and len(bbox) == 4
                and all(isinstance(v, (int, float)) for v in bbox)):
            problems.append(f'{where}: malformed box {bbox!r} (expected [x, y, w, h])')
            continue
        img = images.get(ann.get('image_id'))
        if img is None:
            problems.append(f'{where}: unknown image id {ann.get("image_id")}')
            continue
        if ann.get('category_id') not in known:
            problems.append(f'{where}: unknown class (category id {ann.get("category_id")})')
        x, y, w, h = bbox
        if w <= 0 or h <= 0:
            problems.append(f'{where}: box of zero size {bbox} in {img["file_name"]!r}')
        elif x < 0 or y < 0 or x + w > img.get('width', float('inf')) or \
                y + h > img.get('height', float('inf')):
            problems.append(f'{where}: box {bbox} outside its image {img["file_name"]!r} '
                            f'({img.get("width")}x{img.get("height")})')
    return problems


def _dataset_problems(dataset: dict, scope: str, num_classes: Optional[int]) -> List[str]:
    from mmengine.registry import DATASETS, DefaultScope
    root = dataset.get('data_root', '') or ''
    ann_file = _join(root, dataset.get('ann_file', ''))
    prefix = dataset.get('data_prefix', '')
    prefix = prefix.get('img', prefix.get('img_path', '')) if isinstance(prefix, dict) else prefix
    img_root = _join(root, prefix or '')
    with DefaultScope.overwrite_default_scope(scope):
        cls = DATASETS.get(dataset['type'])
    classes = (dataset.get('metainfo') or {}).get('classes') or \
        getattr(cls, 'METAINFO', {}).get('classes')
    if scope == 'mmdet' or ann_file.endswith('.json'):
        return verify_coco(ann_file, img_root, classes)
    if classes:
        num_classes = len(classes)
    return verify_image_list(ann_file, img_root, num_classes or 10**9)


def verify_config(cfg) -> List[str]:
    """Every problem in the train / val / test data of a loaded config (each dataset once)."""
    import importlib

    import dn_mm  # noqa: F401  (registers what the config imports)
    for name in (cfg.get('custom_imports') or {}).get('imports', []):
        importlib.import_module(name)
    scope = cfg.get('default_scope', 'mmpretrain')
    head = (cfg.get('model') or {}).get('head') or {}
    num_classes = head.get('num_classes') if isinstance(head, dict) else None
    problems, done = [], set()
    for split in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(split)
        if not loader:
            continue
        dataset = loader['dataset']
        key = (dataset.get('data_root'), dataset.get('ann_file'))
        if key in done:
            continue
        done.add(key)
        problems += [f'[{split[:-len("_dataloader")]}] {p}' for p in
                     _dataset_problems(dataset, scope, num_classes)]
    return problems
