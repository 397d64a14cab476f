"""Cutting source images into fixed-size tiles and their boxes into tile coordinates."""
import io
import re

from PIL import Image

from ..faults import unreadable

MIN_BOX_SIZE = 1.0  # px; clipped boxes narrower/lower than this are dropped


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


def _safe_stem(stem):
    return re.sub(r'[^A-Za-z0-9_.-]+', '_', stem).strip('_') or 'image'


def read_images(source, names, faults):
    """Decode every annotated image once: {name: RGB image}; an unreadable one is a fault."""
    images = {}
    for name in sorted(names):
        try:
            images[name] = load_rgb(source.read(name))
        except Exception as err:  # Pillow raises many types for bad rasters
            faults.add(name, unreadable(err))
    return images


def cut_tiles(images, records, tile, overlap, min_visible, log):
    """Tile every annotated source image; keep the tiles that hold a box.

    ``images`` maps image names to decoded images (:func:`read_images`).
    Returns (tiles, src_info): tiles are dicts ``stem, file_name, boxes, image,
    xy``; src_info maps each stem to its size, box and tile counts.
    """
    tiles, src_info = [], {}
    for rec in records:
        im = images[rec['image']]
        w, h = im.size
        safe = _safe_stem(rec['stem'])
        n_before = len(tiles)
        for ty in tile_starts(h, tile, overlap):
            for tx in tile_starts(w, tile, overlap):
                bxs = tile_boxes(rec['boxes'], w, h, tx, ty, tile, min_visible)
                if not bxs:
                    continue
                tiles.append(dict(stem=rec['stem'], file_name=f'{safe}_{tx}_{ty}.jpg',
                                  boxes=bxs, image=im, xy=(tx, ty)))
        src_info[rec['stem']] = dict(
            image=rec['image'], ann_file=rec['ann_file'], width=w, height=h,
            boxes=len(rec['boxes']), tiles=len(tiles) - n_before)
        log(f'{rec["image"]}: {w}x{h}, {len(rec["boxes"])} boxes '
            f'({rec["ann_file"]}), {len(tiles) - n_before} tiles')
    return tiles, src_info
