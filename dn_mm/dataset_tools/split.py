"""The train / val split of ImageNet-100 (and of every dataset dn_mm splits the same way).

The paper holds out part of each class's training images as val and tests on
ImageNet's val images. ``tools/dataset_converters/prepare_imagenet100.py`` and
the norm study (:mod:`dn_mm.analysis.norm_study`) both split with this function.
"""
import math
import random


def split_class(names, wnid, seed, val_ratio):
    """Seeded split of one class's image names into (train, val), sorted.

    Depends only on (seed, wnid, names).  ``round(n * val_ratio)`` images go
    to val, at least 1 and at most n-1 when n >= 2 (0 when n == 1).
    """
    names = sorted(names)
    n = len(names)
    if n < 2:
        return names, []
    n_val = min(n - 1, max(1, int(math.floor(n * val_ratio + 0.5))))
    shuffled = list(names)
    random.Random(f'{seed}-{wnid}').shuffle(shuffled)
    return sorted(shuffled[n_val:]), sorted(shuffled[:n_val])
