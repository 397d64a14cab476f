"""The train / val split: by source image (no shared pixels) or, with few images, by tile."""
import random


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


def assign_splits(tiles, tile_counts, split, val_ratio, seed):
    """Set ``tile['split']`` of every tile; return the split mode used.

    ``split`` 'image' (or 'auto' with >= 3 source images, counted in
    ``tile_counts`` {stem: n_tiles}) splits by source image, else by tile.
    """
    if split == 'image' or (split == 'auto' and len(tile_counts) >= 3):
        val_stems = split_sources(tile_counts, val_ratio, seed)
        for t in tiles:
            t['split'] = 'val' if t['stem'] in val_stems else 'train'
        return 'source_image'
    val_names = split_tiles([t['file_name'] for t in tiles], val_ratio, seed)
    for t in tiles:
        t['split'] = 'val' if t['file_name'] in val_names else 'train'
    return 'tile'
