"""dn_mm.dataset_tools.deepforest: tiling, box clipping, raster decoding and the split, unit
by unit."""
import io

import numpy as np
import pytest
from PIL import Image

from dn_mm.dataset_tools import deepforest as d2c


# ---------------------------------------------------------------- tiling
@pytest.mark.parametrize('length,tile,overlap,expected', [
    (100, 32, 0, [0, 32, 64, 68]),
    (96, 32, 0, [0, 32, 64]),
    (32, 32, 0, [0]),
    (20, 32, 0, [0]),
    (100, 40, 10, [0, 30, 60]),
    (101, 40, 10, [0, 30, 60, 61]),
    (2472, 320, 0, [0, 320, 640, 960, 1280, 1600, 1920, 2152]),
])
def test_tile_starts(length, tile, overlap, expected):
    starts = d2c.tile_starts(length, tile, overlap)
    assert starts == expected
    assert starts[-1] + tile >= length  # whole image covered


def test_tile_starts_rejects_bad_overlap():
    with pytest.raises(ValueError, match='overlap < tile'):
        d2c.tile_starts(100, 32, 32)


def test_tile_boxes_clipping_and_min_visible():
    boxes = [
        (2, 2, 12, 12),  # fully inside
        (22, 0, 42, 10),  # exactly half inside tile 0 -> kept at 0.5
        (23, 12, 43, 22),  # 9/20 inside -> dropped
        (-10, 20, 10, 30),  # outside the image on the left -> clip first
        (5, 5, 5, 9),  # degenerate (zero width)
        (31.5, 25, 60, 30),  # 0.5 px sliver in tile 0
    ]
    got = d2c.tile_boxes(boxes, 64, 64, 0, 0, 32, min_visible=0.5)
    assert got == [(0, 20, 10, 30), (2, 2, 12, 12), (22, 0, 32, 10)]
    # min_visible=0 keeps any overlap but never slivers < 1 px
    got0 = d2c.tile_boxes(boxes, 64, 64, 0, 0, 32, min_visible=0.0)
    assert (23, 12, 32, 22) in got0
    assert all(b[2] - b[0] >= 1 and b[3] - b[1] >= 1 for b in got0)
    # second tile gets the other half, in tile coordinates
    got1 = d2c.tile_boxes(boxes, 64, 64, 32, 0, 32, min_visible=0.5)
    assert (0, 0, 10, 10) in got1 and (0, 12, 11, 22) in got1
    # stricter rule drops the half box
    assert (22, 0, 32, 10) not in d2c.tile_boxes(boxes, 64, 64, 0, 0, 32,
                                                  min_visible=0.6)


def test_crop_tile_pads_small_images():
    im = Image.new('RGB', (20, 50), (200, 100, 50))
    t = d2c.crop_tile(im, 0, 18, 32)
    assert t.size == (32, 32)
    assert t.getpixel((5, 5)) == (200, 100, 50)
    assert t.getpixel((25, 5)) == (0, 0, 0)  # right padding
    assert t.getpixel((5, 31)) == (200, 100, 50)


def test_load_rgb_16bit_and_percentile():
    arr = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format='PNG')
    im = d2c.load_rgb(buf.getvalue())
    assert im.mode == 'RGB'
    assert im.getpixel((0, 0)) == (0, 0, 0)
    assert im.getpixel((1, 1)) == (255, 255, 255)
    vals = [3, 1, 4, 1, 5, 9, 2, 6]
    for q in (5, 50, 95):
        assert d2c.percentile(vals, q) == pytest.approx(
            np.percentile(vals, q), abs=0.01)



# ---------------------------------------------------------------- split
def test_split_sources_greedy():
    counts = {'big': 64, 'mid': 16, 's1': 4, 's2': 4}
    for seed in range(10):
        val = d2c.split_sources(counts, 0.25, seed)
        assert 'big' not in val and 'mid' in val  # closest to 25 % of 88
        assert d2c.split_sources(counts, 0.25, seed) == val
    # always at least one image per side
    assert len(d2c.split_sources({'x': 1, 'y': 1, 'z': 1}, 0.99, 0)) == 2
    assert len(d2c.split_sources({'x': 50, 'y': 60, 'z': 70}, 0.01, 0)) == 1
