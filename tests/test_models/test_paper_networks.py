"""The paper's own networks and recipe (its code bases DenseNAS and FNA).

DenseNAS's ResNet-18/34 and FNA's SSDLite built from the configs, their counts
against Tables 3 and 5, the DenseNAS base recipe, strict loading of an
exported ImageNet-100 backbone into the FNA SSDLite configs, and Table 4's
test batch sizes (our test loop gives the same predictions and accuracy at
batch 1, 2 and 32).
"""
import math
import runpy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import ROOT
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image
from torch import nn

import dn_mm
from dn_mm import DNB
from dn_mm.analysis import complexity
from dn_mm.models import DenseNASResNet, FNAMobileNetV2

RES = str(ROOT / 'configs/resnet/{}_in100.py')
MV2 = str(ROOT / 'configs/mobilenet_v2/mobilenet-v2_{}_1xb64-240e_in100.py')
SSD = str(ROOT / 'configs/ssdlite/ssdlite-fna_mobilenetv2-{}_coco.py')


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    with complexity.one_thread():
        yield


def within(ours, paper_millions, tol):
    return abs(ours / (paper_millions * 1e6) - 1) < tol


# -- counts of the configs as built (Tables 3 and 5) -------------------------------------

# (config, #params M, Mult-Adds M, tolerance): BN rows within 0.1%, DN rows within 0.5%
TABLE3 = [
    ('resnet18_bn_1xb64-240e', 11.22, 1730.12, 0.001),
    ('resnet34_bn_1xb64-240e', 21.33, 3579.81, 0.001),
    ('resnet18_dnb-r4-goup_1xb64-240e', 12.52, 1731.43, 0.005),
    ('resnet18_dnb-r16-goup_1xb64-240e-lr0.8', 11.54, 1730.45, 0.005),
    ('resnet34_dnb-r16-goup_1xb64-240e', 21.85, 3580.35, 0.005),
    ('resnet34_dnb-r32-goup_1xb64-240e', 21.58, 3580.08, 0.005),
]


@pytest.mark.parametrize('name, params, madds, tol', TABLE3)
def test_table3_densenas_resnet_counts_match_paper(name, params, madds, tol):
    result = complexity.count_config(RES.format(name))
    assert result['shape'] == (3, 224, 224)
    assert within(result['params'], params, tol), result
    assert within(result['mult_adds'], madds, tol), result
    assert result['params'] == result['params_paper']  # form='paper': nothing to subtract


@pytest.mark.parametrize('name, params', [('bn_2xb64-30e', 4.32), ('dnb-r16-goup_2xb64-30e', 6.33)])
def test_table5_fna_ssdlite_counts_match_paper(name, params):
    result = complexity.count_config(SSD.format(name))
    assert result['shape'] == (3, 320, 320)
    assert within(result['params'], params, 0.005), result
    assert round(result['mult_adds'] / 1e9, 2) == 0.81, result  # the paper's '0.81GB'


# -- DenseNAS's ResNet -------------------------------------------------------------------

def bn_eval(x, bn):
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


def densenas_resnet_reference(m, x):
    """DenseNAS RES_Net's forward (models/model_derived.py, operations.py BasicBlock), written
    with F.conv2d on ``m``'s weights: 3x3/2 stem + BN + ReLU6, no max-pool, BasicBlocks."""
    x = F.relu6(bn_eval(F.conv2d(x, m.conv1.weight, stride=2, padding=1), m.norm1))
    outs = []
    for stage in range(4):
        for i, block in enumerate(getattr(m, f'layer{stage + 1}')):
            stride = 2 if i == 0 else 1  # every stage strides 2, the first included
            out = F.relu(bn_eval(F.conv2d(x, block.conv1.weight, stride=stride, padding=1),
                                 block.norm1))
            out = bn_eval(F.conv2d(out, block.conv2.weight, padding=1), block.norm2)
            if block.downsample is not None:
                x = bn_eval(F.conv2d(x, block.downsample[0].weight, stride=stride),
                            block.downsample[1])
            x = F.relu(out + x)
        outs.append(x)
    return outs


def randomize_bn(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model


@pytest.mark.parametrize('depth', [18, 34])
def test_densenas_resnet_matches_densenas_forward(depth):
    torch.manual_seed(0)
    m = randomize_bn(DenseNASResNet(depth=depth, out_indices=(0, 1, 2, 3)))
    m.eval()  # mmpretrain's ResNet.train() returns None: no chaining
    assert isinstance(m.maxpool, nn.Identity) and isinstance(m.relu, nn.ReLU6)
    assert m.conv1.kernel_size == (3, 3) and m.conv1.stride == (2, 2)
    assert m.layer1[0].downsample[0].stride == (2, 2)  # the 1x1 projection of stage 1
    x = torch.randn(2, 3, 64, 64)
    outs = m(x)
    assert [o.shape[1:] for o in outs] == [(64, 16, 16), (128, 8, 8), (256, 4, 4), (512, 2, 2)]
    for ours, ref in zip(outs, densenas_resnet_reference(m, x)):
        torch.testing.assert_close(ours, ref)
    with pytest.raises(ValueError, match='deep_stem'):
        DenseNASResNet(depth=18, deep_stem=True)


# -- the DenseNAS base recipe --------------------------------------------------------------

@pytest.mark.parametrize('config', [MV2.format('bn'), RES.format('resnet18_bn_1xb64-240e'),
                                    RES.format('resnet34_dnb-r16-goup_1xb64-240e')])
def test_base_recipe_is_densenas(config):
    cfg = Config.fromfile(config)
    opt = cfg.optim_wrapper.optimizer
    assert (opt.type, opt.momentum, opt.weight_decay) == ('SGD', 0.9, 4e-5)
    assert not opt.get('nesterov', False) and 'paramwise_cfg' not in cfg.optim_wrapper
    assert cfg.param_scheduler.type == 'CosineAnnealingLR' and cfg.param_scheduler.eta_min == 1e-5
    loss = cfg.model.head.loss
    assert (loss.type, loss.label_smooth_val, loss.mode) == ('LabelSmoothLoss', 0.1, 'original')


def test_label_smoothing_is_densenas_formula():
    """DenseNAS tools/utils.py: soft = onehot * (1 - eps) + eps / N, CE against log_softmax."""
    from mmpretrain.models.losses import LabelSmoothLoss
    gen = torch.Generator().manual_seed(0)
    logits, target = torch.randn(6, 100, generator=gen), torch.arange(6) * 7
    soft = F.one_hot(target, 100).float() * 0.9 + 0.1 / 100
    expected = torch.mean(torch.sum(-soft * F.log_softmax(logits, 1), 1))
    loss = LabelSmoothLoss(label_smooth_val=0.1, mode='original')(logits, target)
    torch.testing.assert_close(loss, expected)


def test_densenas_init_of_the_configs():
    torch.manual_seed(0)
    mv2 = complexity.build_model(Config.fromfile(MV2.format('dnb-r16-g1')))
    mv2.init_weights()
    dw = mv2.backbone.layer7[0].conv[1].conv  # depthwise 3x3, 960 channels
    pw = mv2.backbone.layer7[0].conv[0].conv  # 1x1 160 -> 960
    # he_fout with init_div_groups: n = 3*3*960/960 = 9 (torch's fan_out would be 9*960)
    assert dw.groups == 960 and abs(dw.weight.std().item() / math.sqrt(2 / 9) - 1) < 0.05
    assert abs(pw.weight.std().item() / math.sqrt(2 / 960) - 1) < 0.05
    layers = [layer for _, layer in dn_mm.dn_layers(mv2)]
    assert all(layer.norm.eps == 1e-3 and layer.norm.momentum == 0.1 for layer in layers)
    res = complexity.build_model(Config.fromfile(RES.format('resnet18_bn_1xb64-240e')))
    res.init_weights()
    # DenseNAS sets every BN weight to 1: no zero-init of a block's last norm
    assert all(bool(torch.all(b.norm2.weight == 1)) for b in res.backbone.layer1)
    assert not res.backbone.zero_init_residual


# -- FNA's SSDLite -----------------------------------------------------------------------

def test_fna_mobilenet_v2_taps_match_mmpretrain():
    from mmpretrain.models.backbones import MobileNetV2
    torch.manual_seed(0)
    plain = randomize_bn(MobileNetV2(out_indices=(7, )))
    fna = FNAMobileNetV2(expansion_out_indices=(5, ), out_indices=(7, ))
    plain.eval(), fna.eval()
    fna.load_state_dict(plain.state_dict(), strict=True)  # same module names
    captured = []
    hook = plain.layer6[0].conv[0].register_forward_hook(lambda m, i, o: captured.append(o))
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        (expected_last, ) = plain(x)
        tap, last = fna(x)
    hook.remove()
    assert tap.shape == (2, 576, 6, 6) and last.shape == (2, 1280, 3, 3)  # strides 16, 32
    torch.testing.assert_close(tap, captured[0])
    torch.testing.assert_close(last, expected_last)
    with pytest.raises(ValueError, match='expand_ratio 1'):
        FNAMobileNetV2(expansion_out_indices=(0, ))
    with pytest.raises(ValueError, match='expansion_out_indices'):
        FNAMobileNetV2(expansion_out_indices=(7, ))


def build_detector(config, **backbone):
    cfg = Config.fromfile(config)
    cfg.model.backbone.update(backbone)
    return dn_mm.build_model(cfg.model, 'mmdet')


def test_fna_ssdlite_head_and_anchors():
    model = build_detector(SSD.format('bn_2xb64-30e'))
    head = model.bbox_head
    assert head.num_base_priors == [4, 6, 6, 6, 4, 4]  # ratios [2], [2,3] x 3, [2], [2]
    for convs, per_prior in ((head.cls_convs, 81), (head.reg_convs, 4)):
        for level, priors in zip(convs, head.num_base_priors):
            dw, pw = level
            assert dw.conv.groups == dw.conv.in_channels and isinstance(dw.activate, nn.ReLU6)
            assert pw.conv.bias is None and pw.norm.eps == 1e-3 and not pw.with_activation
            assert pw.conv.out_channels == priors * per_prior
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.randn(1, 3, 320, 320))
    assert [f.shape[1:] for f in feats] == [(576, 20, 20), (1280, 10, 10), (512, 5, 5),
                                            (256, 3, 3), (256, 2, 2), (128, 1, 1)]
    from dn_mm.models import FNASSDLiteHead
    with pytest.raises(ValueError, match='stacked_convs'):
        FNASSDLiteHead(num_classes=3, in_channels=(8, ), stacked_convs=1,
                       norm_cfg=dict(type='BN'), act_cfg=dict(type='ReLU6'))


def test_exported_dnb_classifier_loads_strictly_into_fna_configs(tmp_path):
    torch.manual_seed(0)
    cls = complexity.build_model(Config.fromfile(MV2.format('dnb-r16-goup')))
    with torch.no_grad():
        for p in cls.parameters():
            p.normal_()
    src, dst = tmp_path / 'cls.pth', tmp_path / 'backbone.pth'
    torch.save({'state_dict': cls.state_dict(), 'meta': {'epoch': 240}}, src)
    export = runpy.run_path(str(ROOT / 'tools/model_converters/export_backbone.py'))
    export['main']([str(src), str(dst)])
    expected = cls.backbone.state_dict()
    for name in ('dnb-r16-goup_2xb64-30e', 'dnb-r16-goup_2xb64-rmsprop-150e'):
        det = build_detector(SSD.format(name), init_cfg=dict(checkpoint=str(dst)))
        det.init_weights()
        loaded = det.backbone.state_dict()
        assert set(loaded) == set(expected)
        for key, value in expected.items():
            assert torch.equal(loaded[key], value), key
    # the BN detector refuses it: the SC-Module weights are unexpected there
    bn_det = build_detector(SSD.format('bn_2xb64-30e'), init_cfg=dict(checkpoint=str(dst)))
    with pytest.raises(RuntimeError, match='sc.fc1'):
        bn_det.init_weights()


def test_fna_configs_say_where_values_come_from():
    paper = Config.fromfile(SSD.format('dnb-r16-goup_2xb64-30e'))
    assert paper.train_cfg.max_epochs == 30 and paper.train_dataloader.batch_size == 64
    assert paper.param_scheduler[-1].milestones == [18, 25, 28]
    assert paper.optim_wrapper.optimizer.lr == 0.05 and paper.auto_scale_lr.base_batch_size == 128
    assert paper.train_dataloader.dataset.type == 'CocoDataset'  # 30 plain passes
    assert paper.model.backbone.norm_cfg.type == 'DNB' and paper.model.backbone.norm_cfg.eps == 1e-3
    assert paper.model.backbone.init_cfg == dict(
        type='Pretrained', prefix='backbone.', strict=True,
        checkpoint='checkpoints/mobilenet-v2_dnb-r16-goup_in100_backbone.pth')
    fna = Config.fromfile(SSD.format('bn_2xb64-rmsprop-150e'))
    assert fna.train_dataloader.dataset.type == 'RepeatDataset'
    assert fna.train_dataloader.dataset.times == 5
    assert fna.optim_wrapper.optimizer == dict(type='RMSprop', lr=0.05, eps=1.0, momentum=0.9,
                                               weight_decay=4e-5)
    assert 'INFERRED FROM FNA' in Path(SSD.format('bn_2xb64-rmsprop-150e')).read_text()


# -- Table 4: the test batch size -----------------------------------------------------------

def tiny_test_set(root, n=37):
    """n = 32 + 5 images of 3 tints: batch 32 leaves a partial last batch."""
    rng = np.random.RandomState(0)
    lines = []
    for i in range(n):
        label = i % 3
        tint = np.array([[60, 120, 200], [200, 90, 40], [90, 200, 120]][label])
        img = np.clip(tint + rng.randn(32, 32, 3) * 60, 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / f'{i}.png')
        lines.append(f'{i}.png {label}\n')
    (root / 'test.txt').write_text(''.join(lines))
    return n


def test_test_batch_size_changes_neither_predictions_nor_accuracy(tmp_path):
    """Table 4 reports 83.92 / 84.02 / 84.08 for DN-B (16, 1) at test batch 1 / 2 / 32. Our
    loop evaluates every image once (no dropped or repeated last batch, sample-weighted
    accuracy) and DN-B in eval is per-sample: the same predictions at any batch size."""
    from mmengine.evaluator import Evaluator
    from mmengine.runner import Runner
    from mmpretrain.evaluation import Accuracy
    n = tiny_test_set(tmp_path)
    cfg = Config.fromfile(MV2.format('dnb-r16-g1'))  # Table 4's model
    cfg.model.head.num_classes = cfg.data_preprocessor.num_classes = 3
    torch.manual_seed(0)
    model = complexity.build_model(cfg)
    for _, layer in dn_mm.dn_layers(model):
        nn.init.normal_(layer.sc.fc2, std=0.3)  # a DN-B whose alpha/lambda vary per image
    model.train()
    with torch.no_grad():  # running statistics of these images, as training would leave them
        model(torch.randn(8, 3, 32, 32), mode='tensor')
    model.eval()
    loader_cfg = cfg.test_dataloader.copy()
    loader_cfg.update(num_workers=0, persistent_workers=False)
    loader_cfg.dataset.update(data_root=str(tmp_path), ann_file='test.txt', with_label=True,
                              data_prefix='', classes=['a', 'b', 'c'],
                              pipeline=[dict(type='LoadImageFromFile'), dict(type='PackInputs')])
    scores, metrics = {}, {}
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        for batch_size in (1, 2, 32):
            loader = Runner.build_dataloader(dict(loader_cfg, batch_size=batch_size))
            evaluator = Evaluator([Accuracy(topk=(1, 2))])
            seen = []
            with torch.no_grad():
                for batch in loader:
                    outputs = model.test_step(batch)
                    evaluator.process(outputs, batch)
                    seen += [(o.img_path, o.pred_score) for o in outputs]
            assert len(seen) == n  # every image exactly once, the partial last batch included
            scores[batch_size] = torch.stack([s for _, s in sorted(seen)])
            metrics[batch_size] = evaluator.evaluate(n)
    for batch_size in (2, 32):
        torch.testing.assert_close(scores[batch_size], scores[1], atol=1e-5, rtol=1e-4)
        assert torch.equal(scores[batch_size].argmax(1), scores[1].argmax(1))
        assert metrics[batch_size] == metrics[1]
    assert isinstance(next(layer for _, layer in dn_mm.dn_layers(model)), DNB)
