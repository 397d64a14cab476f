"""DN layers inside real OpenMMLab models: init, conversion, counts, freezing, sync."""
import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from mmengine.hub import get_config
from mmengine.model import convert_sync_batchnorm as mmengine_convert_sync_bn
from mmengine.optim import build_optim_wrapper
from mmengine.runner import load_checkpoint
from torch import nn

import dn_mm
from dn_mm import DNB, DNC, SEBN, bn_checkpoint_to_dn, convert_bn_to_dn, dn_layers
from test_layers import randomize_sc

ROOT = Path(__file__).resolve().parents[1]


class scoped_models:
    """Build with mmpretrain's or mmdet's registry, whatever scope another test left set."""

    def __init__(self, scope):
        self.scope = scope

    def build(self, cfg):
        return dn_mm.build_model(cfg, self.scope)


def pretrain_models():
    return scoped_models('mmpretrain')


def classifier(arch, norm_cfg, num_classes=100):
    """mmpretrain's own backbone + a 100-class linear head (the paper's models)."""
    if arch == 'mbv2':
        backbone, width = dict(type='MobileNetV2', widen_factor=1.0, norm_cfg=norm_cfg), 1280
    else:
        depth = int(arch[6:])
        backbone, width = dict(type='ResNet', depth=depth, norm_cfg=norm_cfg), 512
    return pretrain_models().build(dict(
        type='ImageClassifier', backbone=backbone, neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=width)))


def bn_twin(model):
    """The model with every DN layer replaced by its own BN child."""
    twin = copy.deepcopy(model)
    for name, layer in list(dn_layers(twin)):
        parent = twin.get_submodule(name.rsplit('.', 1)[0]) if '.' in name else twin
        setattr(parent, name.rsplit('.', 1)[-1], layer.norm)
    return twin


def n_params(model):
    return sum(p.numel() for p in model.parameters())


# -- identity start survives real init_weights() ----------------------------------------

@pytest.mark.parametrize('arch', ['mbv2', 'resnet18'])
@pytest.mark.parametrize('norm_type', ['DNB', 'DNC'])
def test_init_weights_keeps_identity_start(arch, norm_type):
    torch.manual_seed(0)
    model = classifier(arch, dict(type=norm_type, r=16, g=1))
    model.init_weights()
    layers = list(dn_layers(model))
    assert len(layers) > 10
    for _, layer in layers:
        assert layer.sc.fc2.abs().sum() == 0
        assert layer.sc.fc1.abs().sum() > 0
    if arch == 'resnet18':  # zero_init_residual reaches the DN layers' gamma
        assert model.backbone.layer1[0].norm2.weight.abs().sum() == 0
    # float64: the check is of the arithmetic, not of float32 rounding through 50 layers
    model.double()
    twin = bn_twin(model)
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    for mode in (True, False):
        model.train(mode), twin.train(mode)
        torch.testing.assert_close(model.extract_feat(x), twin.extract_feat(x), atol=1e-9, rtol=1e-7)


def test_ssdlite_init_weights_keeps_identity_start():
    cfg = get_config('mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py')
    cfg.model.backbone.norm_cfg = dict(type='DNB', r=16, g='oup', eps=0.001, momentum=0.03)
    model = scoped_models('mmdet').build(cfg.model)
    model.init_weights()
    layers = list(dn_layers(model))
    assert len(layers) == 52
    assert all(layer.sc.fc2.abs().sum() == 0 for _, layer in layers)


# -- BN -> DN conversion ----------------------------------------------------------------

def randomize_bn_stats(model, seed=0):
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.weight.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_mean.copy_(torch.randn(m.num_features, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model


@pytest.mark.parametrize('arch', ['mbv2', 'resnet18'])
def test_convert_bn_model_keeps_outputs(arch):
    torch.manual_seed(0)
    bn_model = randomize_bn_stats(classifier(arch, dict(type='BN')))
    dn_model = convert_bn_to_dn(copy.deepcopy(bn_model), dict(type='DNB', r=16, g='oup'))
    assert len(list(dn_layers(dn_model))) == sum(isinstance(m, nn.BatchNorm2d) for m in bn_model.modules())
    x = torch.randn(2, 3, 64, 64)
    bn_model.eval(), dn_model.eval()
    torch.testing.assert_close(dn_model(x, mode='tensor'), bn_model(x, mode='tensor'), atol=1e-5, rtol=1e-5)
    bn_model.train().double(), dn_model.train().double()
    torch.testing.assert_close(dn_model(x.double(), mode='tensor'), bn_model(x.double(), mode='tensor'))


def test_convert_rejects_bad_norm_cfg():
    with pytest.raises(ValueError, match='norm_cfg'):
        convert_bn_to_dn(nn.BatchNorm2d(4), 'DNB')
    with pytest.raises(ValueError, match='affine=False'):
        convert_bn_to_dn(nn.BatchNorm2d(4), dict(type='DNB', affine=False))
    with pytest.raises(ValueError, match='not a dn_mm layer'):
        convert_bn_to_dn(nn.BatchNorm2d(4), dict(type='GN', num_groups=2))


def test_bn_checkpoint_loads_into_dn_model_and_reports_missing_sc_keys(tmp_path, capsys):
    torch.manual_seed(0)
    bn_model = randomize_bn_stats(classifier('mbv2', dict(type='BN'))).eval()
    ckpt = tmp_path / 'bn.pth'
    torch.save({'state_dict': bn_model.state_dict(), 'meta': {}}, ckpt)
    dn_model = classifier('mbv2', dict(type='DNB', r=16, g=1)).eval()
    load_checkpoint(dn_model, str(ckpt), map_location='cpu', strict=False)
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(dn_model(x, mode='tensor'), bn_model(x, mode='tensor'), atol=1e-5, rtol=1e-5)
    text = capsys.readouterr().out
    assert 'missing keys' in text and 'sc.fc2' in text and 'unexpected' not in text
    with pytest.raises(RuntimeError, match='sc.fc1'):
        load_checkpoint(dn_model, str(ckpt), map_location='cpu', strict=True)


def test_checkpoint_converter_tool_gives_identical_model(tmp_path):
    torch.manual_seed(0)
    bn_model = randomize_bn_stats(classifier('resnet18', dict(type='BN'))).eval()
    src, dst = tmp_path / 'bn.pth', tmp_path / 'dn.pth'
    torch.save({'state_dict': bn_model.state_dict(), 'meta': {'note': 'bn'}}, src)
    out = subprocess.run([sys.executable, str(ROOT / 'tools/model_converters/bn_to_dn.py'), str(src),
                          str(dst), '--r', '16', '--g', 'oup'], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert 'converted 20 BN layers' in out.stdout
    dn_model = classifier('resnet18', dict(type='DNB', r=16, g='oup')).eval()
    load_checkpoint(dn_model, str(dst), map_location='cpu', strict=True)
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(dn_model(x, mode='tensor'), bn_model(x, mode='tensor'), atol=1e-5, rtol=1e-5)
    # a bad source is refused and nothing is written
    bad = subprocess.run([sys.executable, str(ROOT / 'tools/model_converters/bn_to_dn.py'),
                          str(tmp_path / 'missing.pth'), str(tmp_path / 'x.pth')],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and 'missing.pth' in bad.stderr
    assert not (tmp_path / 'x.pth').exists()


def test_bn_state_dict_to_dn_matches_module_conversion():
    bn_model = randomize_bn_stats(classifier('mbv2', dict(type='BN')))
    sd = bn_checkpoint_to_dn(bn_model.state_dict(), r=16, g=1)
    dn_model = classifier('mbv2', dict(type='DNB', r=16, g=1))
    assert set(sd) == set(dn_model.state_dict())
    with pytest.raises(ValueError, match='no BN layer'):
        bn_checkpoint_to_dn({'fc.weight': torch.zeros(2, 2)})


# -- parameter counts of the paper's tables -----------------------------------------------

PAPER_PARAMS = [  # (arch, norm_cfg, millions) from shared/paper/README.md
    ('mbv2', dict(type='BN'), 2.35),
    ('mbv2', dict(type='DNB', r=16, g=1), 3.03),
    ('mbv2', dict(type='DNB', r=16, g='oup'), 4.36),
    ('mbv2', dict(type='DNB', r=8, g=1), 3.72),
    ('mbv2', dict(type='DNB', r=32, g=1), 2.69),
    ('mbv2', dict(type='DNB', r=16, g=2), 3.07),
    ('mbv2', dict(type='DNB', r=16, g=4), 3.14),
    ('mbv2', dict(type='DNC', r=16, g=1, fuse='fc1'), 3.03),
    ('mbv2', dict(type='DNC', r=16, g=1, fuse='fc2'), 3.03),
    ('mbv2', dict(type='SEBN', r=16), 3.73),
    ('resnet18', dict(type='BN'), 11.22),
    ('resnet18', dict(type='DNB', r=4, g='oup'), 12.52),
    ('resnet18', dict(type='DNB', r=16, g='oup'), 11.54),
    ('resnet34', dict(type='BN'), 21.33),
    ('resnet34', dict(type='DNB', r=16, g='oup'), 21.85),
    ('resnet34', dict(type='DNB', r=32, g='oup'), 21.58),
]


@pytest.mark.parametrize('arch, norm_cfg, paper', PAPER_PARAMS)
def test_parameter_counts_match_paper(arch, norm_cfg, paper):
    if norm_cfg['type'] in ('BN', 'SEBN'):
        assert abs(n_params(classifier(arch, norm_cfg)) / 1e6 / paper - 1) < 0.005
        return
    exact = n_params(classifier(arch, dict(norm_cfg, affine=False))) / 1e6
    default = n_params(classifier(arch, norm_cfg)) / 1e6
    assert abs(exact / paper - 1) < 0.005, exact
    assert abs(default / paper - 1) < 0.015, default


# -- OpenMMLab training semantics ---------------------------------------------------------

def test_norm_eval_freezes_dn_statistics():
    model = pretrain_models().build(dict(type='ResNet', depth=18, norm_eval=True,
                                         norm_cfg=dict(type='DNB', r=16)))
    model.train()
    layers = [layer for _, layer in dn_layers(model)]
    before = [layer.running_mean.clone() for layer in layers]
    model(torch.randn(2, 3, 64, 64))
    assert all(not layer.norm.training for layer in layers)
    assert all(torch.equal(b, layer.running_mean) for b, layer in zip(before, layers))


def test_frozen_stages_and_requires_grad_freeze_every_parameter():
    model = pretrain_models().build(dict(type='MobileNetV2', frozen_stages=2,
                                         norm_cfg=dict(type='DNB', r=16, g=1)))
    model.train()
    for stage in (model.conv1, model.layer1, model.layer2):
        for _, layer in dn_layers(stage):
            assert all(not p.requires_grad for p in layer.parameters())
    for stage in (model.layer1, model.layer2):  # mmpretrain puts these (not conv1) in eval mode
        assert all(not layer.training and not layer.norm.training for _, layer in dn_layers(stage))
    assert all(p.requires_grad for _, layer in dn_layers(model.layer3) for p in layer.parameters())
    from mmcv.cnn import build_norm_layer
    _, layer = build_norm_layer(dict(type='DNB', requires_grad=False), 64)
    assert len(list(layer.parameters())) == 4
    assert all(not p.requires_grad for p in layer.parameters())


def test_norm_decay_mult_reaches_gamma_beta_not_sc_module():
    model = nn.Sequential(nn.Conv2d(3, 32, 3), DNB(32, r=4, g=1))
    wrapper = build_optim_wrapper(model, dict(
        optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4),
        paramwise_cfg=dict(norm_decay_mult=0.0)))
    decay = {id(g['params'][0]): g['weight_decay'] for g in wrapper.optimizer.param_groups}
    dn = model[1]
    assert decay[id(dn.weight)] == 0 and decay[id(dn.bias)] == 0
    assert decay[id(dn.sc.fc1)] == 1e-4 and decay[id(dn.sc.fc2)] == 1e-4
    assert decay[id(model[0].weight)] == 1e-4


# -- SyncBN conversion and fusion ---------------------------------------------------------

@pytest.mark.parametrize('convert', ['mmengine', 'torch'])
@pytest.mark.parametrize('cls', [DNB, DNC, SEBN])
def test_sync_bn_conversion_keeps_dynamic_part(convert, cls):
    model = nn.Sequential(nn.Conv2d(3, 16, 3), randomize_sc(cls(16, r=4)), nn.ReLU()).eval()
    x = torch.randn(3, 3, 8, 8)
    before = model(x)
    if convert == 'mmengine':
        converted = mmengine_convert_sync_bn(copy.deepcopy(model))
    else:
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(copy.deepcopy(model))
    assert type(converted[1]) is cls
    assert isinstance(converted[1].norm, nn.SyncBatchNorm)
    torch.testing.assert_close(converted.eval()(x), before)
    converted.train()  # not distributed: SyncBN semantics fall back to local statistics
    torch.testing.assert_close(converted(x), copy.deepcopy(model).train()(x))


def _sync_worker(rank, world, init_file, x, weights, state, out_dir):
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world)
    layer = DNB(8, r=2, g=1)
    layer.load_state_dict(state)
    layer = nn.SyncBatchNorm.convert_sync_batchnorm(layer)
    xs = x.chunk(world)[rank].clone().requires_grad_()
    y = layer(xs)
    (y * weights.chunk(world)[rank]).sum().backward()  # this rank's part of the loss
    torch.save({'y': y.detach(), 'gx': xs.grad, 'rm': layer.running_mean, 'rv': layer.running_var,
                'gfc1': layer.sc.fc1.grad}, os.path.join(out_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


def test_synced_statistics_equal_single_process_batch(tmp_path):
    torch.manual_seed(0)
    layer = randomize_sc(DNB(8, r=2, g=1))
    x = torch.randn(4, 8, 5, 5) * 2 + 1
    weights = torch.randn(x.shape)
    state = copy.deepcopy(layer.state_dict())
    torch.multiprocessing.spawn(_sync_worker, nprocs=2, join=True, args=(
        2, str(tmp_path / 'init'), x, weights, state, str(tmp_path)))
    xr = x.clone().requires_grad_()
    y = layer(xr)
    (y * weights).sum().backward()
    ranks = [torch.load(tmp_path / f'rank{r}.pt') for r in range(2)]
    torch.testing.assert_close(torch.cat([r['y'] for r in ranks]), y.detach(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ranks[0]['rm'], layer.running_mean)
    torch.testing.assert_close(ranks[1]['rv'], layer.running_var)
    # gradients flow through the all-reduce: each rank's input gradient is the full-batch one
    torch.testing.assert_close(torch.cat([r['gx'] for r in ranks]), xr.grad, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(ranks[0]['gfc1'] + ranks[1]['gfc1'], layer.sc.fc1.grad, atol=1e-4, rtol=1e-4)


def test_efficient_conv_bn_eval_does_not_fold_dynamic_part():
    from mmcv.cnn import ConvModule
    torch.manual_seed(0)
    conv = ConvModule(3, 16, 3, norm_cfg=dict(type='DNB', r=4), efficient_conv_bn_eval=True)
    randomize_sc(conv.norm)
    conv.eval()
    assert conv.efficient_conv_bn_eval_forward is None
    x = torch.randn(2, 3, 8, 8)
    expected = torch.relu(conv.norm(conv.conv(x)))
    torch.testing.assert_close(conv(x), expected)


# -- stack fixes --------------------------------------------------------------------------

def test_mmengine_checkpoint_with_message_hub_loads_safely(tmp_path):
    import numpy as np
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('dn_mm_test_hub')
    for i in range(3):
        hub.update_scalar('train/loss', float(i) / 3)
        hub.update_scalar('train/acc', np.float64(0.5))
    hub.update_info('iter', 3)
    hub.update_info('np_value', np.array([1.0, 2.0]))
    model = nn.Linear(2, 2)
    ckpt = tmp_path / 'epoch_1.pth'
    torch.save({'meta': {'epoch': 1, 'seed': np.int64(0)}, 'state_dict': model.state_dict(),
                'message_hub': hub.state_dict()}, ckpt)
    loaded = torch.load(ckpt, map_location='cpu')  # torch's default: weights_only=True
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == pytest.approx(1 / 3)
    load_checkpoint(nn.Linear(2, 2), str(ckpt), map_location='cpu')
    assert 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD' not in os.environ


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def test_checkpoint_that_runs_code_is_still_refused(tmp_path):
    marker = tmp_path / 'pwned'
    ckpt = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _RunsCode(marker)}, ckpt)
    from dn_mm.engine.checkpoint_file import CheckpointFileError
    with pytest.raises(CheckpointFileError, match=f'{ckpt}: refused by safe loading'):
        load_checkpoint(nn.Linear(2, 2), str(ckpt), map_location='cpu')
    assert not marker.exists()


def test_ssdlite_predict_step_works():
    from mmdet.structures import DetDataSample
    cfg = get_config('mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py')
    cfg.model.bbox_head.num_classes = 3
    model = scoped_models('mmdet').build(cfg.model).eval()
    sample = DetDataSample(metainfo=dict(img_shape=(320, 320), ori_shape=(320, 320),
                                         scale_factor=(1.0, 1.0), batch_input_shape=(320, 320)))
    with torch.no_grad():
        results = model.predict(torch.randn(1, 3, 320, 320), [sample])
    inst = results[0].pred_instances
    assert inst.bboxes.shape[1] == 4 and len(inst.scores) == len(inst.labels)
    assert all(0 <= int(label) < 3 for label in inst.labels)
