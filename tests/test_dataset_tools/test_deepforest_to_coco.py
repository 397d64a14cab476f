"""dn_mm.dataset_tools.deepforest (tools/dataset_converters/deepforest_to_coco.py): conversion,
errors.

They build a tiny fake ``deepforest/data`` folder (and a fake wheel zip) in
tmp_path; the real deepforest wheel is not needed.
"""
import json
import os
import re
import zipfile

import numpy as np
import pytest
from helpers import make_deepforest_data, make_deepforest_wheel, noise_image, tree_digest
from PIL import Image

from dn_mm.dataset_tools import deepforest as d2c
from dn_mm.dataset_tools.deepforest import coco


@pytest.fixture(scope='module')
def fake(tmp_path_factory):
    base = tmp_path_factory.mktemp('df')
    root = make_deepforest_data(base / 'extracted')
    wheel = make_deepforest_wheel(root, base / 'deepforest-9.9.9-py3-none-any.whl')
    return root, wheel


@pytest.fixture(scope='module')
def converted(fake, tmp_path_factory):
    root, wheel = fake
    out = tmp_path_factory.mktemp('out')
    summary = d2c.convert(str(wheel), str(out), tile=32)
    return out, summary


# ---------------------------------------------------------------- conversion
def test_coco_json_valid(converted):
    from pycocotools.coco import COCO
    out, summary = converted
    assert summary['split_mode'] == 'source_image'
    assert summary['deepforest_version'] == '9.9.9'
    assert summary['wheel_license'] == 'MIT'
    total_boxes = 0
    for split in ('train', 'val'):
        path = out / 'annotations' / f'instances_{split}.json'
        coco = COCO(str(path))
        raw = json.loads(path.read_text())
        assert raw['categories'] == [{'id': 1, 'name': 'Tree',
                                      'supercategory': 'plant'}]
        assert 'deepforest==9.9.9' in raw['info']['source']
        assert 'MIT' in raw['info']['license']
        assert len(coco.getImgIds()) == summary['splits'][split]['tiles'] > 0
        assert len(coco.getAnnIds()) == summary['splits'][split]['boxes']
        total_boxes += len(coco.getAnnIds())
        assert sorted(os.listdir(out / split)) == sorted(
            i['file_name'] for i in raw['images'])
        for img in raw['images']:
            assert (img['width'], img['height']) == (32, 32)
            with Image.open(out / split / img['file_name']) as im:
                assert im.size == (32, 32) and im.format == 'JPEG'
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img['id']]))
            assert anns, 'empty tiles must be dropped'
            for a in anns:
                x, y, w, h = a['bbox']
                assert a['category_id'] == 1 and a['iscrowd'] == 0
                assert w >= 1 and h >= 1 and x >= 0 and y >= 0
                assert x + w <= 32 and y + h <= 32
                assert a['area'] == pytest.approx(w * h, abs=0.02)
    assert total_boxes > 0


def test_sources_dedup_and_skips(converted):
    out, summary = converted
    src = summary['sources']
    assert sorted(src) == ['a', 'b', 'c', 'd']  # unannotated.png is no source
    assert src['a']['image'] == 'a.png' and src['a']['ann_file'] == 'ann.csv'
    assert src['a']['boxes'] == 4  # the 0,0,0,0 row is no box; old.csv unused
    assert src['d']['ann_file'] == 'd.xml'
    assert summary['notes'] == ['a: using ann.csv (4 boxes, a.png); ignoring old.csv (1 boxes, '
                                'a.tif)']
    names = [n for s in ('train', 'val') for n in os.listdir(out / s)]
    assert not any(n.startswith('unannotated') for n in names)
    # a.png 96x64 at tile 32 -> 3x2 grid; tiles (0, 32) and (64, 0) have no
    # box, (28, 30, 44, 44) is kept only in (32, 32) where 144/224 is inside
    a_tiles = sorted(n for n in names if n.startswith('a_'))
    assert a_tiles == ['a_0_0.jpg', 'a_32_0.jpg', 'a_32_32.jpg',
                       'a_64_32.jpg']
    # d.png 20x50 -> padded to 32 wide, rows start at 0 and 18
    assert sorted(n for n in names if n.startswith('d_')) == [
        'd_0_0.jpg', 'd_0_18.jpg']


def test_tile_pixels_match_source(fake, converted):
    root, _ = fake
    out, _ = converted
    split = 'train' if (out / 'train' / 'a_32_32.jpg').exists() else 'val'
    tile = np.asarray(Image.open(out / split / 'a_32_32.jpg'), dtype=float)
    full = np.asarray(Image.open(root / 'deepforest' / 'data' / 'a.png'),
                      dtype=float)
    err = np.abs(tile - full[32:64, 32:64]).mean()
    assert err < 3  # JPEG q95
    assert np.abs(tile - full[32:64, 16:48]).mean() > 5 * err  # wrong offset


def test_split_by_source_image_is_disjoint(converted):
    out, summary = converted
    tr = set(summary['splits']['train']['source_images'])
    va = set(summary['splits']['val']['source_images'])
    assert tr and va and not tr & va
    assert tr | va == {'a', 'b', 'c', 'd'}
    for split, stems in (('train', tr), ('val', va)):
        for n in os.listdir(out / split):
            assert n.rsplit('_', 2)[0] in stems


def test_split_by_tile_when_few_sources(tmp_path):
    root = make_deepforest_data(tmp_path / 'src', n_sources=2)
    s = d2c.convert(str(root), str(tmp_path / 'out'), tile=32,
                    val_ratio=0.3, seed=3)
    assert s['split_mode'] == 'tile'
    n = s['splits']['train']['tiles'] + s['splits']['val']['tiles']
    assert s['splits']['val']['tiles'] == round(0.3 * n)
    tr = set(os.listdir(tmp_path / 'out' / 'train'))
    va = set(os.listdir(tmp_path / 'out' / 'val'))
    assert tr and va and not tr & va
    s2 = d2c.convert(str(root), str(tmp_path / 'out2'), tile=32,
                     val_ratio=0.3, seed=4)
    va2 = set(os.listdir(tmp_path / 'out2' / 'val'))
    assert len(va2) == len(va)  # seed changes membership only
    s3 = d2c.convert(str(root), str(tmp_path / 'out3'), tile=32,
                     val_ratio=0.3, seed=3)
    assert set(os.listdir(tmp_path / 'out3' / 'val')) == va
    assert s3['splits'] == s['splits'] and s2['split_mode'] == 'tile'


def test_split_mode_can_be_forced(tmp_path):
    root = make_deepforest_data(tmp_path / 'src', n_sources=4)
    by_tile = d2c.convert(str(root), str(tmp_path / 't'), tile=32, val_ratio=0.3, split='tile')
    assert by_tile['split_mode'] == 'tile'
    # by tile, a source image can have tiles on both sides (the demo's choice with overlap 0)
    tr = {n.rsplit('_', 2)[0] for n in os.listdir(tmp_path / 't' / 'train')}
    va = {n.rsplit('_', 2)[0] for n in os.listdir(tmp_path / 't' / 'val')}
    assert tr & va
    one = make_deepforest_data(tmp_path / 'one', n_sources=1)
    with pytest.raises(d2c.DeepForestError, match='--split image needs at least 2'):
        d2c.convert(str(one), str(tmp_path / 'i'), tile=32, split='image')
    with pytest.raises(d2c.DeepForestError, match="--split must be one of"):
        d2c.convert(str(root), str(tmp_path / 'x'), tile=32, split='random')
    assert not (tmp_path / 'i').exists() and not (tmp_path / 'x').exists()


def test_deterministic_wheel_dir_and_rerun(fake, converted, tmp_path):
    root, wheel = fake
    out, _ = converted
    ref = tree_digest(out)
    # extracted dir (root containing deepforest/data) == wheel, byte for byte
    d2c.convert(str(root), str(tmp_path / 'o1'), tile=32)
    assert tree_digest(tmp_path / 'o1') == ref
    # pointing at deepforest/data itself works too
    d2c.convert(str(root / 'deepforest' / 'data'), str(tmp_path / 'o2'),
                tile=32)
    assert tree_digest(tmp_path / 'o2') == ref
    # idempotent re-run: nothing rewritten, same bytes
    s = d2c.convert(str(wheel), str(tmp_path / 'o1'), tile=32)
    assert s['images_written'] == 0
    assert tree_digest(tmp_path / 'o1') == ref
    # other args, then back: stale tiles are removed
    d2c.convert(str(wheel), str(tmp_path / 'o1'), tile=48, overlap=8)
    assert tree_digest(tmp_path / 'o1') != ref
    d2c.convert(str(wheel), str(tmp_path / 'o1'), tile=32)
    assert tree_digest(tmp_path / 'o1') == ref
    assert not [p for p in (tmp_path / 'o1').rglob('*.tmp')]


def test_main_cli_and_overlap(fake, tmp_path, capsys):
    _, wheel = fake
    rc = d2c.main([str(wheel), str(tmp_path / 'o'), '--tile', '32',
                   '--overlap', '16', '--val-ratio', '0.5', '--seed', '1',
                   '--min-visible', '0.9'])
    assert rc == 0
    txt = capsys.readouterr().out
    assert 'split by source_image' in txt and 'train:' in txt
    names = os.listdir(tmp_path / 'o' / 'train') + os.listdir(
        tmp_path / 'o' / 'val')
    assert 'a_16_16.jpg' in names  # stride 16, box fully inside
    assert 'a_32_32.jpg' not in names  # 144/224 < --min-visible 0.9


def test_interrupted_run_leaves_no_annotation_files(fake, tmp_path,
                                                    monkeypatch):
    _, wheel = fake
    out = tmp_path / 'o'
    d2c.convert(str(wheel), str(out), tile=32)
    assert (out / 'annotations' / 'instances_train.json').exists()
    calls = []

    def boom(im):
        calls.append(1)
        if len(calls) > 2:
            raise KeyboardInterrupt
        return b'x'

    monkeypatch.setattr(coco, 'encode_jpeg', boom)
    with pytest.raises(KeyboardInterrupt):
        d2c.convert(str(wheel), str(out), tile=48)
    assert not (out / 'annotations' / 'instances_train.json').exists()
    assert not (out / 'annotations' / 'instances_val.json').exists()


# ---------------------------------------------------------------- errors
def test_error_missing_input(tmp_path, capsys):
    with pytest.raises(d2c.DeepForestError, match=r"nope\.whl.*does not exist"):
        d2c.convert(str(tmp_path / 'nope.whl'), str(tmp_path / 'o'))
    with pytest.raises(SystemExit) as e:  # the command line: message and exit status 2
        d2c.main([str(tmp_path / 'nope.whl'), str(tmp_path / 'o')])
    assert e.value.code == 2
    assert re.search(r"deepforest_to_coco.py: error: .*nope\.whl.*does not exist",
                     capsys.readouterr().err)


def test_error_not_a_wheel(tmp_path):
    bad = tmp_path / 'deepforest-2.1.0-py3-none-any.whl'
    bad.write_bytes(b'<html>404</html>')
    with pytest.raises(d2c.DeepForestError, match='not a valid wheel'):
        d2c.convert(str(bad), str(tmp_path / 'o'))


def test_error_wheel_without_data(tmp_path):
    w = tmp_path / 'other.whl'
    with zipfile.ZipFile(w, 'w') as zf:
        zf.writestr('other/__init__.py', '')
    with pytest.raises(d2c.DeepForestError, match='no deepforest/data/ folder'):
        d2c.convert(str(w), str(tmp_path / 'o'))


def test_error_no_annotation_csv(tmp_path):
    d = tmp_path / 'deepforest' / 'data'
    d.mkdir(parents=True)
    noise_image(40, 40, 0).save(d / 'x.png')
    (d / 'classes.csv').write_text('Dead,0\n')
    with pytest.raises(d2c.DeepForestError, match='no annotation CSV'):
        d2c.convert(str(d), str(tmp_path / 'o'))
    assert not (tmp_path / 'o').exists()


@pytest.mark.parametrize('kwargs,pattern', [
    (dict(tile=0), r'--tile must be an integer >= 32'),
    (dict(tile=16), r'--tile must be an integer >= 32'),
    (dict(tile=64, overlap=64), r'--overlap must .*0 <= overlap < tile'),
    (dict(overlap=-1), r'--overlap must'),
    (dict(val_ratio=0), r'--val-ratio must satisfy 0 < r < 1, got 0'),
    (dict(val_ratio=1.0), r'--val-ratio must satisfy 0 < r < 1'),
    (dict(min_visible=1.5), r'--min-visible must be in \[0, 1\]'),
])
def test_error_bad_args(fake, tmp_path, kwargs, pattern):
    _, wheel = fake
    with pytest.raises(d2c.DeepForestError, match=pattern):
        d2c.convert(str(wheel), str(tmp_path / 'o'), **kwargs)
    assert not (tmp_path / 'o').exists()


def test_error_bad_args_cli(fake, tmp_path, capsys):
    _, wheel = fake
    with pytest.raises(SystemExit) as e:
        d2c.main([str(wheel), str(tmp_path / 'o'), '--tile', '320',
                  '--overlap', '400'])
    assert e.value.code == 2 and 'overlap < tile' in capsys.readouterr().err
