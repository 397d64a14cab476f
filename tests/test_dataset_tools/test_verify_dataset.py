"""tools/misc/verify_dataset.py: every bad image and annotation of a config's splits is listed."""
import json

from helpers import CLS_DEMO, DET_DEMO, make_tiny_coco, make_tiny_png_set
from mmengine.config import Config

from dn_mm.dataset_tools.verify import verify_config


def load(path, root, **extra):
    cfg = Config.fromfile(str(path))
    for split in ('train', 'val', 'test'):
        cfg[f'{split}_dataloader'].dataset.data_root = str(root)
    for key, value in extra.items():
        cfg.merge_from_dict({key: value})
    return cfg


def test_classification_data_problems_are_all_listed(tmp_path):
    root = tmp_path / 'data'
    make_tiny_png_set(root, n_train=6, n_val=2)
    cfg = load(CLS_DEMO, root, **{'train_dataloader.dataset.ann_file': 'meta/train.txt',
                                  'val_dataloader.dataset.ann_file': 'meta/val.txt',
                                  'test_dataloader.dataset.ann_file': 'meta/val.txt'})
    assert verify_config(cfg) == []
    (root / 'img' / 'train1.png').write_bytes(b'not a png')
    (root / 'img' / 'train2.png').unlink()
    lines = (root / 'meta' / 'train.txt').read_text().splitlines()
    lines += ['img/train3.png 3', 'img/val0.png 12', 'just-a-path']
    (root / 'meta' / 'train.txt').write_text('\n'.join(lines) + '\n')
    (root / 'meta' / 'val.txt').write_text('')
    problems = '\n'.join(verify_config(cfg))
    assert 'train.txt:2: unreadable image' in problems and 'train1.png' in problems
    assert 'train.txt:3: missing image' in problems
    assert "train.txt:7: duplicate image 'img/train3.png' (also line 4)" in problems
    assert 'train.txt:8: unknown class 12 (valid: 0..9)' in problems
    assert "train.txt:9: malformed line 'just-a-path'" in problems
    assert '[val]' in problems and 'val.txt: annotation file is empty' in problems
    assert len(problems.splitlines()) == 6, problems


def test_coco_data_problems_are_all_listed(tmp_path):
    root = tmp_path / 'coco'
    make_tiny_coco(root, n_train=3, n_val=1)
    cfg = load(DET_DEMO, root)
    assert verify_config(cfg) == []
    ann = root / 'annotations' / 'instances_train.json'
    coco = json.loads(ann.read_text())
    coco['images'].append(dict(coco['images'][0], file_name='other.jpg'))  # duplicate id 1
    coco['annotations'][0]['bbox'] = [150, 150, 30, 30]  # 160x160 image: outside
    coco['annotations'][1]['bbox'] = [10, 10, 0, 5]  # zero size
    coco['annotations'][2]['category_id'] = 7  # unknown class
    coco['categories'].append(dict(id=2, name='Car'))  # not among the config's classes
    ann.write_text(json.dumps(coco))
    (root / 'train' / '1.jpg').write_bytes((root / 'train' / '1.jpg').read_bytes()[:100])
    (root / 'annotations' / 'instances_val.json').write_text('{"images": [')
    problems = '\n'.join(verify_config(cfg))
    assert "image id 1: duplicate image id ('other.jpg' and '0.jpg')" in problems
    assert 'annotation id 1: box [150, 150, 30, 30] outside its image' in problems
    assert 'annotation id 2: box of zero size' in problems
    assert 'annotation id 3: unknown class (category id 7)' in problems
    assert "category 2 'Car': unknown class" in problems
    assert 'image id 2: unreadable image' in problems and '1.jpg' in problems
    assert 'instances_val.json: malformed annotation file' in problems
    assert len(problems.splitlines()) == 7
