"""Every config of configs/ builds and runs a training and a validation iteration.

The ImageNet-100 / COCO configs point at data users have; the model, optimizer
and schedule they define are exercised here on tiny synthetic batches.
"""
import re
from pathlib import Path

import pytest
import torch
from helpers import ROOT
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope

import dn_mm  # noqa: F401

CONFIGS = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob('configs/*/*.py')
                     if p.parent.name != '_base_')


def build(cfg):
    scope = cfg.get('default_scope', 'mmpretrain')
    return dn_mm.build_model(cfg.model, scope), scope


def cls_batch(num_classes, size=32, n=2):
    from mmpretrain.structures import DataSample
    gen = torch.Generator().manual_seed(0)
    return dict(inputs=[torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=gen)
                        for _ in range(n)],
                data_samples=[DataSample().set_gt_label(i % num_classes) for i in range(n)])


def det_batch(size=128, n=2):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(0)
    samples = []
    for i in range(n):
        s = DetDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size),
                                        scale_factor=(1.0, 1.0), pad_shape=(size, size)))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[10., 12., 60., 70.], [50., 40., 120., 100.]]),
            labels=torch.tensor([0, i % 1]))
        samples.append(s)
    return dict(inputs=[torch.randint(0, 256, (3, size, size), dtype=torch.uint8, generator=gen)
                        for _ in range(n)], data_samples=samples)


def train_and_val_step(cfg):
    torch.manual_seed(0)
    model, scope = build(cfg)
    with DefaultScope.overwrite_default_scope(scope):
        optim = build_optim_wrapper(model, cfg.optim_wrapper)
        if scope == 'mmdet':
            batch = det_batch()
        else:
            batch = cls_batch(cfg.model.head.num_classes)
        model.train()
        log_vars = model.train_step(batch, optim)
        assert torch.isfinite(log_vars['loss'])
        model.eval()
        with torch.no_grad():
            outputs = model.val_step(batch)
    assert len(outputs) == 2
    return model, outputs


@pytest.mark.parametrize('path', CONFIGS)
def test_config_trains_and_validates_one_iteration(path):
    cfg = Config.fromfile(str(ROOT / path))
    assert cfg.custom_imports.imports[0] == 'dn_mm'
    # every config we ship resumes exactly
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert 'ExactResumeHook' in hooks and 'NonFiniteGuardHook' in hooks
    model, outputs = train_and_val_step(cfg)
    norm = cfg.model.backbone.norm_cfg['type']
    assert (len(list(dn_mm.dn_layers(model))) > 0) == (norm != 'BN')
    if cfg.default_scope == 'mmdet':
        assert outputs[0].pred_instances.bboxes.shape[-1] == 4
    else:
        assert outputs[0].pred_score.shape == (cfg.model.head.num_classes, )


def test_config_set_matches_the_paper_rows():
    names = {Path(p).name for p in CONFIGS}
    for expected in ['mobilenet-v2_dnc1-r16-g1_1xb64-240e-lr0.1_in100.py',
                     'mobilenet-v2_sebn-r16_1xb64-240e_in100.py',
                     'resnet34_dnb-r16-goup_1xb4-60e_in100.py',
                     'resnet18-mmpretrain_bn_1xb64-240e_in100.py',
                     'ssdlite-fna_mobilenetv2-dnb-r16-goup_2xb64-30e_coco.py',
                     'ssdlite-fna_mobilenetv2-dnb-r16-goup_2xb64-rmsprop-150e_coco.py',
                     'ssdlite-mmdet_mobilenetv2-dnb-r16-goup_2xb64-30e_coco.py',
                     'ssdlite-mmdet_mobilenetv2-bn_8xb24-600e_coco.py']:
        assert expected in names
    det = Config.fromfile(
        str(ROOT / 'configs/ssdlite/ssdlite-mmdet_mobilenetv2-dnb-r16-goup_2xb64-30e_coco.py'))
    assert det.train_cfg.max_epochs == 30 and det.train_dataloader.batch_size == 64
    assert (det.param_scheduler[-1].milestones == [18, 25, 28]
            and det.optim_wrapper.optimizer.lr == 0.05)
    assert det.auto_scale_lr.base_batch_size == 128
    assert det.train_dataloader.dataset.type == 'CocoDataset'  # no RepeatDataset: 30 real epochs
    assert det.model.backbone.init_cfg == dict(
        type='Pretrained', prefix='backbone.', strict=True,
        checkpoint='checkpoints/mobilenet-v2_dnb-r16-goup_in100_backbone.pth')


UPSTREAM = [
    ('mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py', 80),
    ('mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', 80),
    ('mmpretrain::resnet/resnet50_8xb32_in1k.py', 1000),
]


@pytest.mark.parametrize('path, num_classes', UPSTREAM)
def test_upstream_configs_take_dn_by_configuration_alone(path, num_classes):
    cfg = get_config(path)
    # what a user passes on the command line:
    #   --cfg-options model.backbone.norm_cfg.type=DNB custom_imports.imports=[dn_mm]
    cfg.merge_from_dict({'model.backbone.norm_cfg.type': 'DNB',
                         'custom_imports': dict(imports=['dn_mm'], allow_failed_imports=False)})
    cfg.model.backbone.pop('init_cfg', None)  # no download of ImageNet weights in tests
    model, outputs = train_and_val_step(cfg)
    n_bn = sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.backbone.modules())
    assert len(list(dn_mm.dn_layers(model.backbone))) == n_bn > 0


def test_every_readme_section_a_config_names_exists():
    """A config comment "(README, 'Section')" points to a heading the README has."""
    headings = {line.lstrip('#').strip() for line in (ROOT / 'README.md').read_text().splitlines()
                if line.startswith('#')}
    named = {}
    for path in CONFIGS:
        comments = ' '.join(line.split('#', 1)[1].strip() for line in
                            (ROOT / path).read_text().splitlines() if '#' in line)
        for section in re.findall(r"README, '([^']+)'", comments):
            named.setdefault(section, []).append(path)
    assert named  # the configs do point to the README
    missing = {s: paths for s, paths in named.items() if s not in headings}
    assert not missing, f'README has no section named {missing}'
