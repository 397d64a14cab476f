"""deepforest wheel -> tiled COCO dataset: check the options, read, tile, split, write."""
import time

from .annotations import collect_annotations
from .coco import coco_info, write_coco
from .errors import DeepForestError
from .source import DataSource
from .split import assign_splits
from .tiling import cut_tiles

SPLIT_MODES = ('auto', 'image', 'tile')


def _check_args(tile, overlap, val_ratio, min_visible, split):
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


def _check_tiles(tiles, stems, split, src, tile):
    if len(tiles) < 2:
        raise DeepForestError(
            f'only {len(tiles)} non-empty tile(s) from {src!r} with tile={tile}; need at '
            'least 2 for a train/val split (try a smaller --tile)')
    names = [t['file_name'] for t in tiles]
    if len(set(names)) != len(names):
        raise DeepForestError('tile file name collision (two source images with the same '
                              'sanitized stem)')
    if split == 'image' and len(stems) < 2:
        raise DeepForestError('--split image needs at least 2 annotated source images, '
                              f'found {len(stems)}')


def convert(src, out_dir, tile=320, overlap=0, val_ratio=0.25, seed=0,
            min_visible=0.5, verbose=False, split='auto'):
    """Convert a deepforest wheel / data dir to a tiled COCO dataset.

    Returns a summary dict (:func:`~dn_mm.datasets.deepforest.cli.format_summary`
    prints it). Raises :class:`DeepForestError` on bad input, before writing.
    """
    _check_args(tile, overlap, val_ratio, min_visible, split)
    t0 = time.time()
    log = print if verbose else (lambda *a, **k: None)
    source = DataSource(src)
    try:
        records, notes = collect_annotations(source)
        tiles, src_info, warnings = cut_tiles(source, records, tile, overlap, min_visible, log)
        stems = sorted(s for s, i in src_info.items() if i['tiles'] > 0)
        _check_tiles(tiles, stems, split, src, tile)
        split_mode = assign_splits(tiles, {s: src_info[s]['tiles'] for s in stems}, split,
                                   val_ratio, seed)
        info = coco_info(source, src_info, stems, tile, overlap, val_ratio, seed, min_visible,
                         split_mode)
        splits, written = write_coco(out_dir, tiles, info, tile)
        return dict(src=str(src), out_dir=str(out_dir), deepforest_version=source.version,
                    wheel_license=source.meta_license, split_mode=split_mode, tile=tile,
                    overlap=overlap, sources=src_info, notes=notes, warnings=warnings,
                    splits=splits, images_written=written,
                    seconds=round(time.time() - t0, 2))
    finally:
        source.close()
