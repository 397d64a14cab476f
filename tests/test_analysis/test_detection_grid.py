"""dn_mm.analysis.detection_grid: val images with ground truth and each detector's boxes.

Predictions are written here in the format ``tools/test.py DET_CONFIG CKPT --out FILE.pkl``
dumps (mmdet's DumpDetResults); test_cli_e2e.py draws the grid from a real dump (demo.py).
"""
import json
import pickle

import numpy as np
import pytest
import torch
from helpers import assert_png, run_tool
from PIL import Image

from dn_mm.analysis import detection_grid as dg


@pytest.fixture()
def val(tmp_path):
    """5 images 40x30, image i with i+1 ground-truth boxes; two detectors' predictions."""
    (tmp_path / 'val').mkdir()
    images, anns = [], []
    for i in range(5):
        Image.new('RGB', (40, 30), (20 * i, 90, 60)).save(tmp_path / 'val' / f'{i}.jpg')
        images.append(dict(id=10 + i, file_name=f'{i}.jpg', width=40, height=30))
        for j in range(i + 1):
            anns.append(dict(id=len(anns) + 1, image_id=10 + i, category_id=1,
                             bbox=[2 + j, 3, 10, 5], area=50, iscrowd=0))
    ann_file = tmp_path / 'instances_val.json'
    ann_file.write_text(json.dumps(dict(images=images, annotations=anns,
                                        categories=[dict(id=1, name='Tree')])))

    def dump(name, scores):
        results = [dict(img_id=10 + i, img_path=str(tmp_path / 'val' / f'{i}.jpg'),
                        ori_shape=(30, 40),
                        pred_instances=dict(bboxes=torch.tensor([[1., 2., 11., 12.]] * len(scores)),
                                            scores=torch.tensor(scores),
                                            labels=torch.zeros(len(scores), dtype=torch.long)))
                   for i in range(5)]
        with open(tmp_path / name, 'wb') as f:
            pickle.dump(results, f)
        return str(tmp_path / name)

    return str(ann_file), dump('bn.pkl', [0.9, 0.5, 0.1]), dump('dnb.pkl', [0.8, 0.2])


def test_collect_picks_images_boxes_and_threshold(val, tmp_path):
    ann_file, bn, dnb = val
    grid = dg.collect([bn, dnb], ann_file, legends=['BN', 'DN-B'], tiles=3, score_thr=0.3)
    assert grid['names'] == ['BN', 'DN-B']
    # evenly spaced over the sorted image ids 10..14
    assert [r['img_id'] for r in grid['rows']] == [10, 11, 13]
    row = grid['rows'][1]
    # ground truth: COCO xywh -> xyxy, image 11 has 2 boxes
    np.testing.assert_allclose(row['gt'], [[2, 3, 12, 8], [3, 3, 13, 8]])
    bn_col, dnb_col = row['preds']
    np.testing.assert_allclose(bn_col['scores'], [0.9, 0.5])  # 0.1 < 0.3 dropped
    np.testing.assert_allclose(dnb_col['scores'], [0.8])
    assert bn_col['bboxes'].shape == (2, 4)
    # more tiles than images: all of them; default column names: the file names
    grid = dg.collect([bn], ann_file, tiles=9, score_thr=0.0)
    assert len(grid['rows']) == 5 and grid['names'] == ['bn']
    assert len(grid['rows'][0]['preds'][0]['scores']) == 3
    out = tmp_path / 'figs' / 'grid.png'
    dg.plot(grid, str(out))
    assert_png(str(out))


def test_errors_name_the_bad_input(val, tmp_path):
    ann_file, bn, dnb = val
    with pytest.raises(dg.GridError, match='predictions: no such file'):
        dg.collect([str(tmp_path / 'none.pkl')], ann_file)
    with pytest.raises(dg.GridError, match='--ann-file: no such file'):
        dg.collect([bn], str(tmp_path / 'none.json'))
    with pytest.raises(dg.GridError, match='--legend: 1 names for 2'):
        dg.collect([bn, dnb], ann_file, legends=['BN'])
    with pytest.raises(dg.GridError, match='--tiles must be a positive int'):
        dg.collect([bn], ann_file, tiles=0)
    with pytest.raises(dg.GridError, match=r'--score-thr must be in \[0, 1\]'):
        dg.collect([bn], ann_file, score_thr=1.5)
    cls = tmp_path / 'cls.pkl'  # a classifier's dump: no boxes
    cls.write_bytes(pickle.dumps([dict(pred_score=torch.ones(3), img_path='x.jpg')]))
    with pytest.raises(dg.GridError, match='not the predictions of a detector'):
        dg.collect([str(cls)], ann_file)
    garbage = tmp_path / 'garbage.pkl'
    garbage.write_bytes(b'not a pickle')
    with pytest.raises(dg.GridError, match='not a pickle of predictions'):
        dg.collect([str(garbage)], ann_file)
    other = tmp_path / 'other.json'
    other.write_text(json.dumps(dict(images=[dict(id=1, file_name='a.jpg')], annotations=[])))
    with pytest.raises(dg.GridError, match='no image with id 10'):
        dg.collect([bn], str(other))
    bad = tmp_path / 'bad.json'
    bad.write_text('{"images": 3}')
    with pytest.raises(dg.GridError, match='not a COCO annotation file'):
        dg.collect([bn], str(bad))
    (tmp_path / 'val' / '0.jpg').unlink()
    with pytest.raises(dg.GridError, match=r'image 10: no such file: .*0\.jpg'):
        dg.collect([bn], ann_file)
    # --img-dir: the images found elsewhere
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    Image.new('RGB', (40, 30)).save(elsewhere / '0.jpg')
    grid = dg.collect([bn], ann_file, tiles=1, img_dir=str(elsewhere))
    assert grid['rows'][0]['path'] == str(elsewhere / '0.jpg')


def test_detection_grid_cli(val, tmp_path):
    ann_file, bn, dnb = val
    out = tmp_path / 'boxes.png'
    proc = run_tool('tools/analysis_tools/detection_grid.py', bn, dnb, '--ann-file', ann_file,
                    '--legend', 'BN', 'DN-B', '--tiles', 2, '--out', out, check=True)
    assert_png(str(out))
    assert proc.stdout.splitlines()[:2] == ['0.jpg: ground truth 1, BN 2, DN-B 1',
                                            '2.jpg: ground truth 3, BN 2, DN-B 1'], proc.stdout
    with pytest.raises(SystemExit, match='--legend: 2 names for 1'):
        dg.main([bn, '--ann-file', ann_file, '--legend', 'A', 'B',
                 '--out', str(tmp_path / 'x.png')])
    assert not (tmp_path / 'x.png').exists()
