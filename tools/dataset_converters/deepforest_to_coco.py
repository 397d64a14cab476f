#!/usr/bin/env python
"""Convert the annotated NEON tree-crown demo images shipped inside the
``deepforest`` wheel (PyPI, ``deepforest==2.1.0``) into a tiled COCO dataset.

Usage::

    python tools/dataset_converters/deepforest_to_coco.py \
        DEEPFOREST_WHEEL_OR_DIR OUT_DIR [--tile 320] [--overlap 0] \
        [--val-ratio 0.25] [--seed 0] [--min-visible 0.5]

``DEEPFOREST_WHEEL_OR_DIR`` is either the downloaded ``deepforest-*.whl``
(read with :mod:`zipfile`, nothing is installed or imported) or a directory:
an extracted ``deepforest/data`` folder or a folder containing
``deepforest/data`` (e.g. an unzipped wheel).

Only the standard library and Pillow are needed (numpy is used lazily, only
for 16-bit/float rasters). mmcv/mmdet/torch are never imported.

Annotations
    * CSV files with the DeepForest columns ``image_path,xmin,ymin,xmax,ymax``
      (``label`` optional), e.g. ``OSBS_029.csv``, ``example.csv``;
    * Pascal-VOC XML files (``<annotation><filename>..<object><bndbox>``),
      e.g. ``2019_YELL_2_528000_4978000_image_crop2.xml``.
    Rows/files whose image is not present in the data folder are ignored.
    Every label (``Tree``, ``Dead``, ``Alive``, ...) becomes the single COCO
    category ``Tree`` (id 1).

Source images / de-duplication
    The wheel ships the same scene under several names and annotation files
    (``OSBS_029.tif`` == ``OSBS_029.png`` pixel for pixel; ``example.csv`` is
    an older 79-box subset of ``2019_YELL_2_541000_4977000_image_crop.xml``
    with 279 boxes).  Images are therefore grouped by file *stem* and, for
    each stem, the single annotation file with the most boxes is used (ties:
    annotation file name in sorted order); its referenced image is the
    raster that is tiled.  Annotation sets are never merged.

Tiling
    Tiles are ``tile`` x ``tile`` pixels with stride ``tile - overlap``; the
    last row/column of tiles is aligned to the right/bottom image border (so
    it may overlap its neighbour by more than ``overlap``).  An image
    dimension smaller than ``tile`` gets a single tile that is zero-padded
    (black) at the right/bottom, so every tile is exactly ``tile`` x ``tile``
    and the object scale is never changed.  Boxes are first clipped to the
    image, then to the tile; a box is kept when at least ``min_visible`` of
    its (image-clipped) area lies inside the tile and the clipped box is at
    least 1 px wide and high.  Tiles without boxes are dropped.  Tile files
    are named ``{stem}_{x}_{y}.jpg`` (x, y = pixel offset of the tile).

Split
    With >= 3 annotated source images the split is BY SOURCE IMAGE (no pixel
    of a val image is in train): the images are shuffled with
    ``random.Random(seed)`` and greedily moved to val while that brings the
    val share of tiles closer to ``val_ratio`` (train always keeps at least
    one image; val always gets at least one).  With fewer source images the
    split is BY TILE (seeded shuffle, ``round(val_ratio * n)`` val tiles, at
    least one per split); note that overlapping tiles may then share pixels.

Output (deterministic, idempotent, atomic)::

    OUT_DIR/train/*.jpg, OUT_DIR/val/*.jpg          (JPEG quality 95)
    OUT_DIR/annotations/instances_val.json
    OUT_DIR/annotations/instances_train.json        (written last)

Existing annotation files are deleted before any image is written, every
file is written to a temporary name and ``os.replace``-d, unchanged files are
not rewritten, and stale ``*.jpg`` files of a previous run in ``train/`` and
``val/`` are removed.  ``instances_train.json`` is the completion marker.
"""
import argparse
import csv
import io
import json
import os
import random
import re
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile

from PIL import Image

IMAGE_EXTS = ('.tif', '.tiff', '.png', '.jpg', '.jpeg')
CSV_REQUIRED = ('image_path', 'xmin', 'ymin', 'xmax', 'ymax')
CATEGORY = {'id': 1, 'name': 'Tree', 'supercategory': 'plant'}
MIN_BOX_SIZE = 1.0  # px; clipped boxes narrower/lower than this are dropped
JPEG_QUALITY = 95
SPLITS = ('train', 'val')
LICENSE_NAME = ('MIT (deepforest wheel); imagery: NEON AOP, CC0 1.0 per NEON '
                'data policy')
DATA_LICENSE_NOTE = (
    'The deepforest wheel declares only the MIT License (METADATA '
    '"License: MIT", dist-info/licenses/LICENSE "Copyright (c) 2019, Ben '
    'Weinstein") and carries no separate license for deepforest/data. '
    'The images are NEON Airborne Observation Platform RGB orthophotos '
    '(sites OSBS, SOAP, YELL); NEON releases its data under CC0 1.0 '
    '(NEON data policy; not stated in the wheel).')


# --------------------------------------------------------------------------
# input access
# --------------------------------------------------------------------------
class DataSource:
    """Flat view of a ``deepforest/data`` folder (wheel member or dir)."""

    def __init__(self, src):
        self.src = str(src)
        self.version = 'unknown'
        self.meta_license = None
        self._zip = None
        self._prefix = None
        self._dir = None
        if os.path.isfile(self.src):
            self._open_wheel()
        elif os.path.isdir(self.src):
            self._open_dir()
        else:
            raise SystemExit(
                f'deepforest_to_coco: input {self.src!r} does not exist; '
                'expected a deepforest-*.whl file or a deepforest/data '
                'directory (see tools/dataset_converters/fetch_deepforest.sh)')

    # -- wheel ------------------------------------------------------------
    def _open_wheel(self):
        if not zipfile.is_zipfile(self.src):
            raise SystemExit(
                f'deepforest_to_coco: {self.src!r} is not a valid wheel/zip '
                'file; expected a deepforest-*.whl downloaded with '
                '`pip download --no-deps deepforest==2.1.0`')
        zf = zipfile.ZipFile(self.src)
        prefixes = sorted({
            n[:n.index('deepforest/data/') + len('deepforest/data/')]
            for n in zf.namelist() if 'deepforest/data/' in n
        }, key=lambda p: (len(p), p))
        if not prefixes:
            zf.close()
            raise SystemExit(
                f'deepforest_to_coco: {self.src!r} contains no '
                'deepforest/data/ folder; expected a deepforest wheel')
        self._zip = zf
        self._prefix = prefixes[0]
        self._names = sorted(
            n[len(self._prefix):] for n in zf.namelist()
            if n.startswith(self._prefix) and not n.endswith('/')
            and '/' not in n[len(self._prefix):])
        for n in sorted(zf.namelist()):
            if n.endswith('.dist-info/METADATA'):
                self._parse_metadata(zf.read(n).decode('utf-8', 'replace'))
                break

    # -- directory --------------------------------------------------------
    def _open_dir(self):
        d = self.src
        nested = os.path.join(d, 'deepforest', 'data')
        if os.path.isdir(nested):
            root = d
            d = nested
        else:
            root = os.path.dirname(os.path.dirname(os.path.abspath(d)))
        self._dir = d
        self._names = sorted(
            n for n in os.listdir(d)
            if os.path.isfile(os.path.join(d, n)))
        try:
            for n in sorted(os.listdir(root)):
                meta = os.path.join(root, n, 'METADATA')
                if n.endswith('.dist-info') and os.path.isfile(meta):
                    with open(meta, encoding='utf-8', errors='replace') as f:
                        self._parse_metadata(f.read())
                    break
        except OSError:
            pass

    def _parse_metadata(self, text):
        for line in text.splitlines():
            if not line.strip():
                break  # end of the header block
            if line.startswith('Version:'):
                self.version = line.split(':', 1)[1].strip()
            elif line.startswith('License:'):
                self.meta_license = line.split(':', 1)[1].strip()

    @property
    def names(self):
        return list(self._names)

    def read(self, name):
        if self._zip is not None:
            return self._zip.read(self._prefix + name)
        with open(os.path.join(self._dir, name), 'rb') as f:
            return f.read()

    def close(self):
        if self._zip is not None:
            self._zip.close()
            self._zip = None


# --------------------------------------------------------------------------
# annotation parsing
# --------------------------------------------------------------------------
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
        raise SystemExit(
            f'deepforest_to_coco: no annotation CSV (columns '
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


# --------------------------------------------------------------------------
# image / tiling helpers
# --------------------------------------------------------------------------
def load_rgb(data):
    """Decode raster bytes to an 8-bit RGB PIL image (raises on failure)."""
    im = Image.open(io.BytesIO(data))
    im.load()
    if im.mode in ('I;16', 'I;16B', 'I;16L', 'I;16N', 'I', 'F'):
        import numpy as np  # lazily: only needed for high bit-depth rasters
        arr = np.asarray(im, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        arr = np.clip((arr - lo) * scale + 0.5, 0, 255).astype(np.uint8)
        im = Image.fromarray(arr, mode='L')
    if im.mode != 'RGB':
        im = im.convert('RGB')
    return im


def tile_starts(length, tile, overlap=0):
    """Start offsets of tiles along one axis (last tile border-aligned)."""
    if tile <= 0 or overlap < 0 or overlap >= tile:
        raise ValueError(f'need tile > 0 and 0 <= overlap < tile, got '
                         f'tile={tile}, overlap={overlap}')
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] != length - tile:
        starts.append(length - tile)
    return starts


def clip_box(box, x0, y0, x1, y1):
    """Intersection of box (xmin, ymin, xmax, ymax) with a window, or None."""
    bx0, by0 = max(box[0], x0), max(box[1], y0)
    bx1, by1 = min(box[2], x1), min(box[3], y1)
    if bx1 <= bx0 or by1 <= by0:
        return None
    return (bx0, by0, bx1, by1)


def _area(b):
    return (b[2] - b[0]) * (b[3] - b[1])


def tile_boxes(boxes, img_w, img_h, tx, ty, tile, min_visible=0.5,
               min_size=MIN_BOX_SIZE):
    """Boxes of one tile in tile coordinates (sorted).

    Each box is clipped to the image; it is kept when the part inside the
    tile covers >= ``min_visible`` of the image-clipped box and is at least
    ``min_size`` px wide and high.
    """
    out = []
    for box in boxes:
        full = clip_box(box, 0, 0, img_w, img_h)
        if full is None or _area(full) <= 0:
            continue
        part = clip_box(full, tx, ty, tx + tile, ty + tile)
        if part is None:
            continue
        if _area(part) < min_visible * _area(full) - 1e-9:
            continue
        if part[2] - part[0] < min_size or part[3] - part[1] < min_size:
            continue
        out.append((part[0] - tx, part[1] - ty, part[2] - tx, part[3] - ty))
    return sorted(out)


def crop_tile(im, tx, ty, tile):
    """tile x tile crop at (tx, ty), zero-padded beyond the image border."""
    w, h = im.size
    if tx + tile <= w and ty + tile <= h:
        return im.crop((tx, ty, tx + tile, ty + tile))
    canvas = Image.new('RGB', (tile, tile), (0, 0, 0))
    canvas.paste(im.crop((tx, ty, min(w, tx + tile), min(h, ty + tile))),
                 (0, 0))
    return canvas


def _num(v):
    v = round(float(v), 2)
    return int(v) if v == int(v) else v


def percentile(values, q):
    """Linear-interpolated percentile (numpy's default method)."""
    if not values:
        return None
    s = sorted(values)
    pos = (len(s) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return round(s[lo] + (s[hi] - s[lo]) * (pos - lo), 2)


def _safe_stem(stem):
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', stem).strip('_') or 'image'


# --------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------
def split_sources(tile_counts, val_ratio, seed):
    """Greedy seeded split of source images {stem: n_tiles} -> val stems."""
    order = sorted(tile_counts)
    random.Random(seed).shuffle(order)
    total = sum(tile_counts.values())
    target = val_ratio * total
    val, cur = [], 0
    for stem in order:
        if len(val) + 1 >= len(order):
            break  # keep at least one train image
        t = tile_counts[stem]
        if abs(cur + t - target) < abs(cur - target):
            val.append(stem)
            cur += t
    if not val:
        val = [min(order, key=lambda s: (tile_counts[s], s))]
    return set(val)


def split_tiles(tile_names, val_ratio, seed):
    """Seeded split of tile names -> set of val tile names."""
    names = sorted(tile_names)
    random.Random(seed).shuffle(names)
    n_val = min(max(1, int(round(val_ratio * len(names)))), len(names) - 1)
    return set(names[:n_val])


# --------------------------------------------------------------------------
# output helpers
# --------------------------------------------------------------------------
def _atomic_write(path, data):
    """Write bytes atomically; skip if the file already has these bytes."""
    try:
        with open(path, 'rb') as f:
            if f.read() == data:
                return False
    except OSError:
        pass
    d = os.path.dirname(path) or '.'
    fd, tmp = tempfile.mkstemp(prefix='.tmp_', dir=d)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def _jpeg_bytes(im):
    buf = io.BytesIO()
    im.save(buf, format='JPEG', quality=JPEG_QUALITY)
    return buf.getvalue()


def _check_args(tile, overlap, val_ratio, min_visible):
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 32:
        raise SystemExit(f'deepforest_to_coco: --tile must be an integer >= '
                         f'32 (pixels), got {tile!r}')
    if isinstance(overlap, bool) or not isinstance(overlap, int) or \
            not 0 <= overlap < tile:
        raise SystemExit(f'deepforest_to_coco: --overlap must be an integer '
                         f'with 0 <= overlap < tile ({tile}), got '
                         f'{overlap!r}')
    try:
        vr = float(val_ratio)
    except (TypeError, ValueError):
        vr = float('nan')
    if not 0.0 < vr < 1.0:
        raise SystemExit(f'deepforest_to_coco: --val-ratio must satisfy '
                         f'0 < r < 1, got {val_ratio!r}')
    try:
        mv = float(min_visible)
    except (TypeError, ValueError):
        mv = float('nan')
    if not 0.0 <= mv <= 1.0:
        raise SystemExit(f'deepforest_to_coco: --min-visible must be in '
                         f'[0, 1], got {min_visible!r}')


# --------------------------------------------------------------------------
# main conversion
# --------------------------------------------------------------------------
SPLIT_MODES = ('auto', 'image', 'tile')


def convert(src, out_dir, tile=320, overlap=0, val_ratio=0.25, seed=0,
            min_visible=0.5, verbose=False, split='auto'):
    """Convert a deepforest wheel / data dir to a tiled COCO dataset.

    Returns a summary dict (see :func:`main` for a printed version).
    """
    _check_args(tile, overlap, val_ratio, min_visible)
    if split not in SPLIT_MODES:
        raise SystemExit(f'deepforest_to_coco: --split must be one of {SPLIT_MODES}, '
                         f'got {split!r}')
    t0 = time.time()
    log = print if verbose else (lambda *a, **k: None)
    source = DataSource(src)
    try:
        records, notes = collect_annotations(source)
        warnings = []
        tiles = []  # dicts: stem, file_name, boxes
        src_info = {}
        for rec in records:
            try:
                im = load_rgb(source.read(rec['image']))
            except Exception as e:  # unreadable raster (e.g. exotic TIFF)
                msg = (f'{rec["image"]}: cannot be read by Pillow '
                       f'({type(e).__name__}: {e}); skipped')
                warnings.append(msg)
                print(f'WARNING: {msg}', file=sys.stderr)
                continue
            w, h = im.size
            safe = _safe_stem(rec['stem'])
            n_before = len(tiles)
            for ty in tile_starts(h, tile, overlap):
                for tx in tile_starts(w, tile, overlap):
                    bxs = tile_boxes(rec['boxes'], w, h, tx, ty, tile,
                                     min_visible)
                    if not bxs:
                        continue
                    tiles.append(dict(stem=rec['stem'],
                                      file_name=f'{safe}_{tx}_{ty}.jpg',
                                      boxes=bxs, image=im, xy=(tx, ty)))
            src_info[rec['stem']] = dict(
                image=rec['image'], ann_file=rec['ann_file'], width=w,
                height=h, boxes=len(rec['boxes']),
                tiles=len(tiles) - n_before)
            log(f'{rec["image"]}: {w}x{h}, {len(rec["boxes"])} boxes '
                f'({rec["ann_file"]}), {len(tiles) - n_before} tiles')
        stems = sorted(s for s, i in src_info.items() if i['tiles'] > 0)
        if len(tiles) < 2:
            raise SystemExit(
                f'deepforest_to_coco: only {len(tiles)} non-empty tile(s) '
                f'from {src!r} with tile={tile}; need at least 2 for a '
                'train/val split (try a smaller --tile)')
        names = [t['file_name'] for t in tiles]
        if len(set(names)) != len(names):
            raise SystemExit('deepforest_to_coco: tile file name collision '
                             '(two source images with the same sanitized '
                             'stem)')
        if split == 'image' and len(stems) < 2:
            raise SystemExit('deepforest_to_coco: --split image needs at least 2 '
                             f'annotated source images, found {len(stems)}')
        if split == 'image' or (split == 'auto' and len(stems) >= 3):
            split_mode = 'source_image'
            val_stems = split_sources(
                {s: src_info[s]['tiles'] for s in stems}, val_ratio, seed)
            for t in tiles:
                t['split'] = 'val' if t['stem'] in val_stems else 'train'
        else:
            split_mode = 'tile'
            val_names = split_tiles(names, val_ratio, seed)
            for t in tiles:
                t['split'] = 'val' if t['file_name'] in val_names else \
                    'train'

        # ---- write ------------------------------------------------------
        ann_dir = os.path.join(out_dir, 'annotations')
        for d in (ann_dir, ) + tuple(os.path.join(out_dir, s)
                                     for s in SPLITS):
            os.makedirs(d, exist_ok=True)
        # invalidate a previous run first: no half run looks finished
        for s in ('train', 'val'):
            p = os.path.join(ann_dir, f'instances_{s}.json')
            if os.path.exists(p):
                os.remove(p)
        info = {
            'description': 'NEON tree crowns from the deepforest wheel, '
                           f'tiled {tile}x{tile} (overlap {overlap})',
            'source': f'deepforest=={source.version} (PyPI) '
                      'deepforest/data: ' + ', '.join(
                          f'{src_info[s]["image"]} ({src_info[s]["ann_file"]})'
                          for s in stems),
            'url': 'https://github.com/weecology/DeepForest',
            'version': str(source.version),
            'license': DATA_LICENSE_NOTE,
            'wheel_license': source.meta_license or 'unknown',
            'converter': 'tools/dataset_converters/deepforest_to_coco.py '
                         f'tile={tile} overlap={overlap} '
                         f'val_ratio={float(val_ratio)} seed={seed} '
                         f'min_visible={float(min_visible)} '
                         f'split={split_mode}',
        }
        summary = dict(src=str(src), out_dir=str(out_dir),
                       deepforest_version=source.version,
                       wheel_license=source.meta_license,
                       split_mode=split_mode, tile=tile, overlap=overlap,
                       sources=src_info, notes=notes, warnings=warnings,
                       splits={})
        written = 0
        for split in SPLITS:
            stiles = sorted((t for t in tiles if t['split'] == split),
                            key=lambda t: t['file_name'])
            split_dir = os.path.join(out_dir, split)
            keep = set()
            images, anns = [], []
            ws, hs = [], []
            for img_id, t in enumerate(stiles, 1):
                tx, ty = t['xy']
                data = _jpeg_bytes(crop_tile(t['image'], tx, ty, tile))
                written += _atomic_write(
                    os.path.join(split_dir, t['file_name']), data)
                keep.add(t['file_name'])
                images.append(dict(id=img_id, file_name=t['file_name'],
                                   width=tile, height=tile))
                for b in t['boxes']:
                    bw, bh = b[2] - b[0], b[3] - b[1]
                    ws.append(bw)
                    hs.append(bh)
                    anns.append(dict(id=len(anns) + 1, image_id=img_id,
                                     category_id=CATEGORY['id'],
                                     bbox=[_num(b[0]), _num(b[1]),
                                           _num(bw), _num(bh)],
                                     area=_num(bw * bh), iscrowd=0))
            for n in sorted(os.listdir(split_dir)):  # stale tiles
                if n.lower().endswith('.jpg') and n not in keep:
                    os.remove(os.path.join(split_dir, n))
            coco = dict(info=info,
                        licenses=[dict(id=1, name=LICENSE_NAME,
                                       url='https://github.com/weecology/'
                                       'DeepForest/blob/main/LICENSE')],
                        images=images, annotations=anns,
                        categories=[dict(CATEGORY)])
            for im in images:
                im['license'] = 1
            summary['splits'][split] = dict(
                source_images=sorted({t['stem'] for t in stiles}),
                tiles=len(images), boxes=len(anns),
                box_w_pct={q: percentile(ws, q) for q in (5, 50, 95)},
                box_h_pct={q: percentile(hs, q) for q in (5, 50, 95)},
                _coco=coco)
        # annotation files last; train last of all (completion marker)
        for split in ('val', 'train'):
            coco = summary['splits'][split].pop('_coco')
            data = (json.dumps(coco, indent=1, sort_keys=True) +
                    '\n').encode('utf-8')
            _atomic_write(os.path.join(ann_dir, f'instances_{split}.json'),
                          data)
        summary['images_written'] = written
        summary['seconds'] = round(time.time() - t0, 2)
        return summary
    finally:
        source.close()


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
    for w in s['warnings']:
        lines.append(f'  warning: {w}')
    lines.append(f'  {s["images_written"]} image file(s) (re)written in '
                 f'{s["seconds"]} s')
    return '\n'.join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(
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
    p.add_argument('--json', action='store_true',
                   help='print the summary as JSON')
    a = p.parse_args(argv)
    s = convert(a.src, a.out_dir, tile=a.tile, overlap=a.overlap,
                val_ratio=a.val_ratio, seed=a.seed,
                min_visible=a.min_visible, split=a.split)
    print(json.dumps(s, indent=1, sort_keys=True) if a.json
          else format_summary(s))
    return 0


if __name__ == '__main__':
    sys.exit(main())
