"""DN layers inside real OpenMMLab models: training semantics.

norm_eval / frozen stages, weight decay multipliers, SyncBN conversion and
synced statistics, efficient conv-bn eval, safe checkpoint loading, SSDLite predict.
"""
import copy
import os

import pytest
import torch
from helpers import CodeRunningPickle, pretrain_models, randomize_sc, scoped_models
from mmengine.hub import get_config
from mmengine.model import convert_sync_batchnorm as mmengine_convert_sync_bn
from mmengine.optim import build_optim_wrapper
from mmengine.runner import load_checkpoint
from torch import nn

from dn_mm import DNB, DNC, SEBN, dn_layers

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
    torch.testing.assert_close(ranks[0]['gfc1'] + ranks[1]['gfc1'], layer.sc.fc1.grad,
                               atol=1e-4, rtol=1e-4)


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


def test_checkpoint_that_runs_code_is_still_refused(tmp_path):
    marker = tmp_path / 'pwned'
    ckpt = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': CodeRunningPickle(marker)}, ckpt)
    from dn_mm.utils.checkpoint_file import CheckpointFileError
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
