"""tools/: distributed training on CPU (gloo), test.py, export and converters end to end."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
DET_DEMO = 'configs/demo/ssdlite_mobilenetv2-dnb-r16-goup_1xb8-36e_deepforest.py'


def make_tiny_coco(root: Path, n_train=4, n_val=2, size=160):
    """Dark-green 'crowns' on a brown field, with their boxes, in COCO format."""
    gen = torch.Generator().manual_seed(0)
    for split, n in (('train', n_train), ('val', n_val)):
        (root / split).mkdir(parents=True)
        images, anns = [], []
        for i in range(n):
            img = Image.new('RGB', (size, size), (120, 90, 60))
            draw = ImageDraw.Draw(img)
            for j in range(3):
                x, y = (torch.randint(0, size - 40, (2, ), generator=gen)).tolist()
                w, h = (torch.randint(15, 40, (2, ), generator=gen)).tolist()
                draw.ellipse([x, y, x + w, y + h], fill=(20, 110 + 10 * j, 30))
                anns.append(dict(id=len(anns) + 1, image_id=i + 1, category_id=1,
                                 bbox=[x, y, w, h], area=w * h, iscrowd=0))
            img.save(root / split / f'{i}.jpg')
            images.append(dict(id=i + 1, file_name=f'{i}.jpg', width=size, height=size))
        (root / 'annotations').mkdir(exist_ok=True)
        (root / 'annotations' / f'instances_{split}.json').write_text(json.dumps(
            dict(images=images, annotations=anns, categories=[dict(id=1, name='Tree')])))


def backbone_checkpoint(path: Path, norm_cfg):
    import mmpretrain.models  # noqa: F401
    from mmpretrain.registry import MODELS
    import dn_mm  # noqa: F401
    backbone = MODELS.build(dict(type='MobileNetV2', out_indices=(4, 7), norm_cfg=norm_cfg))
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in backbone.state_dict().items()},
                'meta': {}}, path)


def overrides(data: Path, backbone: Path):
    ann = data / 'annotations'
    return ['--cfg-options', f'train_dataloader.dataset.data_root={data}',
            f'val_dataloader.dataset.data_root={data}', f'test_dataloader.dataset.data_root={data}',
            f'val_evaluator.ann_file={ann / "instances_val.json"}',
            f'test_evaluator.ann_file={ann / "instances_val.json"}',
            f'model.backbone.init_cfg.checkpoint={backbone}',
            'train_dataloader.batch_size=2', 'val_dataloader.batch_size=2',
            'test_dataloader.batch_size=2', 'train_cfg.max_epochs=1',
            'default_hooks.logger.interval=1']


def run(cmd, port='29500'):
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1', PORT=port)
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)


def test_dist_train_two_cpu_processes_then_test(tmp_path):
    data, work = tmp_path / 'coco', tmp_path / 'work'
    make_tiny_coco(data)
    backbone_checkpoint(tmp_path / 'backbone.pth', dict(type='DNB', r=16, g='oup'))
    port = str(29500 + os.getpid() % 1000)
    out = run(['bash', 'tools/dist_train.sh', DET_DEMO, '2', '--work-dir', str(work)]
              + overrides(data, tmp_path / 'backbone.pth'), port=port)
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-4000:]
    # mmengine reports the world size as 'GPU number' whatever the device
    assert 'GPU number: 2' in log and 'Distributed training: True' in log
    # 4 train images, 2 per batch, split over 2 ranks: one iteration per rank and epoch
    assert 'Epoch(train) [1][1/1]' in log
    assert (work / 'epoch_1.pth').is_file()
    metrics = json.loads((work / 'epoch_metrics.json').read_text())
    assert 'val/coco/bbox_mAP' in metrics['1']
    test = run([sys.executable, 'tools/test.py', DET_DEMO, str(work / 'epoch_1.pth'),
                '--work-dir', str(tmp_path / 'test'), '--out', str(tmp_path / 'preds.pkl')]
               + overrides(data, tmp_path / 'backbone.pth'))
    assert test.returncode == 0, (test.stdout + test.stderr)[-4000:]
    assert 'coco/bbox_mAP:' in test.stdout + test.stderr
    assert (tmp_path / 'preds.pkl').is_file()


def test_strict_backbone_loading_fails_on_wrong_weights(tmp_path):
    data = tmp_path / 'coco'
    make_tiny_coco(data, n_train=2, n_val=1)
    # a BN backbone checkpoint for a DN-B detector: the SC-Module weights are missing
    backbone_checkpoint(tmp_path / 'bn_backbone.pth', dict(type='BN'))
    out = run([sys.executable, 'tools/train.py', DET_DEMO, '--work-dir', str(tmp_path / 'w')]
              + overrides(data, tmp_path / 'bn_backbone.pth'))
    assert out.returncode != 0
    log = out.stdout + out.stderr
    assert 'missing keys in source state_dict' in log and 'sc.fc1' in log


def test_train_and_test_refuse_bad_arguments(tmp_path):
    out = run([sys.executable, 'tools/train.py', 'configs/nope.py'])
    assert out.returncode != 0 and 'config: no such file: configs/nope.py' in out.stderr
    out = run([sys.executable, 'tools/test.py', DET_DEMO, str(tmp_path / 'none.pth')])
    assert out.returncode != 0 and 'checkpoint: no such file' in out.stderr


def test_export_backbone_keeps_only_backbone(tmp_path):
    from dn_mm.models.backbone_export import export_backbone
    src = tmp_path / 'cls.pth'
    torch.save({'state_dict': {'backbone.a': torch.ones(1), 'head.fc.weight': torch.ones(2)},
                'meta': {'epoch': 3}, 'optimizer': {}}, src)
    assert export_backbone(str(src), str(tmp_path / 'b.pth')) == 1
    out = torch.load(tmp_path / 'b.pth')
    assert list(out['state_dict']) == ['backbone.a'] and out['meta']['epoch'] == 3
    with pytest.raises(ValueError, match="prefix 'neck.'"):
        export_backbone(str(src), str(tmp_path / 'c.pth'), prefix='neck.')
    assert not (tmp_path / 'c.pth').exists()
