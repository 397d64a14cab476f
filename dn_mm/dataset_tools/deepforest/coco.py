"""Writing the tiles and the COCO annotation files (atomically, idempotently, train last)."""
import io
import json
import os

from dn_mm.utils import write_if_changed

from .tiling import crop_tile

CATEGORY = {'id': 1, 'name': 'Tree', 'supercategory': 'plant'}
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


def encode_jpeg(im):
    """JPEG bytes of a tile (quality 95)."""
    buf = io.BytesIO()
    im.save(buf, format='JPEG', quality=JPEG_QUALITY)
    return buf.getvalue()


def coco_info(source, src_info, stems, tile, overlap, val_ratio, seed, min_visible, split_mode,
              labels):
    """The ``info`` block of both annotation files: where the data came from and how."""
    return {
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
                     f'split={split_mode} labels={",".join(labels)}',
    }


def _split_to_coco(tiles, split_dir, tile, info):
    """Write one split's tile images; return (COCO dict, its stats, images (re)written)."""
    keep = set()
    images, anns = [], []
    ws, hs = [], []
    written = 0
    for img_id, t in enumerate(tiles, 1):
        tx, ty = t['xy']
        data = encode_jpeg(crop_tile(t['image'], tx, ty, tile))
        written += write_if_changed(os.path.join(split_dir, t['file_name']), data)
        keep.add(t['file_name'])
        images.append(dict(id=img_id, file_name=t['file_name'], width=tile, height=tile))
        for b in t['boxes']:
            bw, bh = b[2] - b[0], b[3] - b[1]
            ws.append(bw)
            hs.append(bh)
            anns.append(dict(id=len(anns) + 1, image_id=img_id, category_id=CATEGORY['id'],
                             bbox=[_num(b[0]), _num(b[1]), _num(bw), _num(bh)],
                             area=_num(bw * bh), iscrowd=0))
    for n in sorted(os.listdir(split_dir)):  # stale tiles
        if n.lower().endswith('.jpg') and n not in keep:
            os.remove(os.path.join(split_dir, n))
    coco = dict(info=info,
                licenses=[dict(id=1, name=LICENSE_NAME,
                               url='https://github.com/weecology/DeepForest/blob/main/LICENSE')],
                images=images, annotations=anns, categories=[dict(CATEGORY)])
    for im in images:
        im['license'] = 1
    stats = dict(source_images=sorted({t['stem'] for t in tiles}), tiles=len(images),
                 boxes=len(anns), box_w_pct={q: percentile(ws, q) for q in (5, 50, 95)},
                 box_h_pct={q: percentile(hs, q) for q in (5, 50, 95)})
    return coco, stats, written


def write_coco(out_dir, tiles, info, tile):
    """Write OUT_DIR/{train,val}/*.jpg and OUT_DIR/annotations/instances_{val,train}.json.

    Existing annotation files go first (no half run looks finished), the
    annotation files are written last, ``instances_train.json`` last of all
    (the completion marker). Returns ({split: stats}, images (re)written).
    """
    ann_dir = os.path.join(out_dir, 'annotations')
    for d in (ann_dir, ) + tuple(os.path.join(out_dir, s) for s in SPLITS):
        os.makedirs(d, exist_ok=True)
    for s in SPLITS:
        p = os.path.join(ann_dir, f'instances_{s}.json')
        if os.path.exists(p):
            os.remove(p)
    splits, cocos, written = {}, {}, 0
    for split in SPLITS:
        split_tiles = sorted((t for t in tiles if t['split'] == split),
                             key=lambda t: t['file_name'])
        cocos[split], splits[split], n = _split_to_coco(
            split_tiles, os.path.join(out_dir, split), tile, info)
        written += n
    for split in ('val', 'train'):
        data = (json.dumps(cocos[split], indent=1, sort_keys=True) + '\n').encode('utf-8')
        write_if_changed(os.path.join(ann_dir, f'instances_{split}.json'), data)
    return splits, written
