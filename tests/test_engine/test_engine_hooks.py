"""dn_mm's engine hooks under a plain mmengine Runner (what upstream train.py and mim train run)."""
import json
from pathlib import Path

from helpers import ROOT, make_tiny_imagenet
from mmengine.config import Config
from mmengine.runner import Runner

import dn_mm  # noqa: F401

DEMO_CLS = ROOT / 'configs' / 'demo' / 'mobilenet-v2_bn_1xb32-10e_fmnist.py'


def tiny_classifier_cfg(tmp_path, epochs=2):
    data = make_tiny_imagenet(tmp_path / 'data')
    cfg = Config.fromfile(str(DEMO_CLS))
    cfg.work_dir = str(tmp_path / 'work')
    cfg.model.head.update(num_classes=3, topk=(1,))
    cfg.data_preprocessor.num_classes = 3
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.batch_size = 3
        loader.dataset.update(data_root=str(data), ann_file=f'meta/{split}.txt',
                              classes=['n01', 'n02', 'n03'])
        for step in loader.dataset.pipeline:
            if step['type'] in ('RandomResizedCrop', 'Resize'):
                step['scale'] = 32 if step['type'] == 'RandomResizedCrop' else (32, 32)
    cfg.train_cfg.max_epochs = epochs
    cfg.param_scheduler.T_max = epochs
    cfg.val_evaluator = cfg.test_evaluator = dict(type='Accuracy', topk=(1,))
    return cfg


def test_best_checkpoint_is_tested_under_a_plain_runner(tmp_path):
    cfg = tiny_classifier_cfg(tmp_path)
    Runner.from_cfg(cfg).train()
    work = Path(cfg.work_dir)
    report = json.loads((work / 'paper_report.json').read_text())
    assert report['best_checkpoint'] and Path(report['best_checkpoint']).is_file()
    assert 0 <= report['test_top1'] <= 100 and 1 <= report['best_epoch'] <= 2
    assert report['val_top1_best'] == max(
        m['val/accuracy/top1']
        for m in json.loads((work / 'epoch_metrics.json').read_text()).values())


def test_no_test_switch_disables_the_hook(tmp_path):
    cfg = tiny_classifier_cfg(tmp_path, epochs=1)
    for hook in cfg.custom_hooks:
        if hook['type'] == 'TestBestCheckpointHook':
            hook['enabled'] = False
    Runner.from_cfg(cfg).train()
    assert not (Path(cfg.work_dir) / 'paper_report.json').exists()
    assert (Path(cfg.work_dir) / 'epoch_metrics.json').exists()
