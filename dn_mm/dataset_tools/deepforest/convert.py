"""deepforest wheel -> tiled COCO dataset: check the options, read, tile, split, write."""
import time

from ..faults import Faults
from .annotations import DEFAULT_LABELS, check_boxes, pick_sets, read_annotation_sets
from .coco import coco_info, write_coco
from .errors import DeepForestError
from .source import DataSource
from .split import assign_splits
from .tiling import cut_tiles, read_images

SPLIT_MODES = ('auto', 'image', 'tile')


def _check_args(tile, overlap, val_ratio, min_visible, split, labels):
    if isinstance(tile, bool) or not isinstance(tile, int) or tile < 32:
        raise DeepForestError(f'--tile must be an integer >= '
                              f'32 (pixels), got {tile!r}')
    if isinstance(overlap, bool) or not isinstance(overlap, int) or \
            not 0 <= overlap < tile:
        raise DeepForestError(f'--overlap must be an integer '
                              f'with 0 <= overlap < tile ({tile}), got '
                              f'{overlap!r}')
    try:
        vr = float(val_ratio)
    except (TypeError, ValueError):
        vr = float('nan')
    if not 0.0 < vr < 1.0:
        raise DeepForestError(f'--val-ratio must satisfy '
                              f'0 < r < 1, got {val_ratio!r}')
    try:
        mv = float(min_visible)
    except (TypeError, ValueError):
        mv = float('nan')
    if not 0.0 <= mv <= 1.0:
        raise DeepForestError(f'--min-visible must be in '
                              f'[0, 1], got {min_visible!r}')
    if split not in SPLIT_MODES:
        raise DeepForestError(f'--split must be one of {SPLIT_MODES}, got {split!r}')
    if isinstance(labels, str) or not labels or \
            not all(isinstance(x, str) and x.strip() == x and x for x in labels):
        raise DeepForestError(
            '--labels must be a non-empty list of class names without surrounding spaces, '
            f'e.g. {",".join(DEFAULT_LABELS)}; got {labels!r}')


def _check_tiles(tiles, stems, split, src, tile):
    if len(tiles) < 2:
        raise DeepForestError(
            f'only {len(tiles)} non-empty tile(s) from {src!r} with tile={tile}; need at '
            'least 2 for a train/val split (try a smaller --tile)')
    first = {}
    for t in tiles:
        other = first.setdefault(t['file_name'], t['stem'])
        if other != t['stem']:
            raise DeepForestError(
                f'duplicate image id: source images {other!r} and {t["stem"]!r} both give the '
                f'tile {t["file_name"]!r} (their names differ only in characters outside '
                'A-Za-z0-9_.-); rename one')
    if split == 'image' and len(stems) < 2:
        raise DeepForestError('--split image needs at least 2 annotated source images, '
                              f'found {len(stems)}')


def _read_checked(source, labels):
    """(records, notes, images) of a data folder whose annotations and images hold no fault.

    Every fault of every annotation file and annotated image is collected
    first and raised as one :class:`DeepForestError` naming each file and entry.
    """
    faults = Faults()
    candidates = read_annotation_sets(source, labels, faults)
    images = read_images(source, {c[2] for sets in candidates.values() for c in sets}, faults)
    check_boxes(candidates, {name: im.size for name, im in images.items()}, faults)
    faults.raise_if_any(DeepForestError, f'the deepforest data of {source.src}')
    records, notes = pick_sets(candidates)
    return records, notes, images


def convert(src, out_dir, tile=320, overlap=0, val_ratio=0.25, seed=0,
            min_visible=0.5, verbose=False, split='auto', labels=DEFAULT_LABELS):
    """Convert a deepforest wheel / data dir to a tiled COCO dataset.

    ``labels`` are the annotation labels that are trees (each becomes the one
    COCO class ``Tree``); any other label is a fault. Returns a summary dict
    (:func:`~dn_mm.dataset_tools.deepforest.cli.format_summary` prints it). Raises
    :class:`DeepForestError` on bad input (every faulty file and entry named),
    before anything is written.
    """
    labels = tuple(labels) if isinstance(labels, (list, tuple)) else labels
    _check_args(tile, overlap, val_ratio, min_visible, split, labels)
    t0 = time.time()
    log = print if verbose else (lambda *a, **k: None)
    source = DataSource(src)
    try:
        records, notes, images = _read_checked(source, labels)
        tiles, src_info = cut_tiles(images, records, tile, overlap, min_visible, log)
        stems = sorted(s for s, i in src_info.items() if i['tiles'] > 0)
        _check_tiles(tiles, stems, split, src, tile)
        split_mode = assign_splits(tiles, {s: src_info[s]['tiles'] for s in stems}, split,
                                   val_ratio, seed)
        info = coco_info(source, src_info, stems, tile, overlap, val_ratio, seed, min_visible,
                         split_mode, labels)
        splits, written = write_coco(out_dir, tiles, info, tile)
        return dict(src=str(src), out_dir=str(out_dir), deepforest_version=source.version,
                    wheel_license=source.meta_license, split_mode=split_mode, tile=tile,
                    overlap=overlap, sources=src_info, notes=notes, labels=list(labels),
                    splits=splits, images_written=written,
                    seconds=round(time.time() - t0, 2))
    finally:
        source.close()
