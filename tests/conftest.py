"""Test-suite settings.

Property tests draw their examples from a fixed seed (``derandomize``), so a CI
run is reproducible and a failure can be replayed; the properties still range
over random shapes, r, g, modes and data. Set ``HYPOTHESIS_PROFILE=explore``
to draw fresh examples locally.
"""
import gzip
import os
import struct

import numpy as np
import pytest
from hypothesis import settings

settings.register_profile('ci', derandomize=True, deadline=None, print_blob=True)
settings.register_profile('explore', deadline=None)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))


# -- Fashion-MNIST idx files, made by the tests (the dataset tools and the norm study) --

FILES = ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte',
         't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')


def idx_bytes(arr):
    arr = np.asarray(arr, dtype=np.uint8)
    return (struct.pack('>BBBB', 0, 0, 0x08, arr.ndim)
            + struct.pack(f'>{arr.ndim}I', *arr.shape) + arr.tobytes())


def write_idx(path, arr, gz=True):
    data = idx_bytes(arr)
    if gz:
        with gzip.GzipFile(path + '.gz', 'wb', mtime=0) as f:
            f.write(data)
    else:
        with open(path, 'wb') as f:
            f.write(data)


def make_split(n_per_class, seed, size=28):
    """Interleaved labels; image i is a constant gray 20*label + i % 7."""
    labels = np.array([k for _ in range(n_per_class) for k in range(10)],
                      dtype=np.uint8)
    np.random.default_rng(seed).shuffle(labels)
    values = 20 * labels.astype(int) + np.arange(len(labels)) % 7
    images = np.broadcast_to(values[:, None, None],
                             (len(labels), size, size)).astype(np.uint8)
    return images, labels


@pytest.fixture
def fmnist_dir(tmp_path):
    d = tmp_path / 'raw'
    d.mkdir()
    tr_img, tr_lbl = make_split(4, 0)
    te_img, te_lbl = make_split(3, 1)
    write_idx(str(d / FILES[0]), tr_img)
    write_idx(str(d / FILES[1]), tr_lbl)
    write_idx(str(d / FILES[2]), te_img)
    write_idx(str(d / FILES[3]), te_lbl)
    return str(d), (tr_img, tr_lbl, te_img, te_lbl)


# -- a tiny ImageNet-style tree (the layout prepare_imagenet100.py writes) ----------------

def make_tiny_imagenet(root, classes=('n01', 'n02', 'n03'), per_split=2, size=40):
    """JPEGs in class folders and meta/{train,val,test}.txt, ``per_split`` images per class."""
    from PIL import Image
    rng = np.random.RandomState(0)
    meta = root / 'meta'
    meta.mkdir(parents=True, exist_ok=True)
    for split in ('train', 'val', 'test'):
        lines = []
        for label, wnid in enumerate(classes):
            (root / wnid).mkdir(exist_ok=True)
            for i in range(per_split):
                tint = np.array([[60, 120, 200], [200, 90, 40], [90, 200, 120]][label % 3])
                img = np.clip(tint + rng.randn(size, size, 3) * 40, 0, 255).astype(np.uint8)
                name = f'{wnid}/{split}_{i}.JPEG'
                Image.fromarray(img).save(root / name, quality=90)
                lines.append(f'{name} {label}\n')
        (meta / f'{split}.txt').write_text(''.join(lines))
    (meta / 'classes.txt').write_text(''.join(f'{c}\n' for c in classes))
    return root
