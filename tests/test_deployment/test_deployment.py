"""Deployment: folding for inference, ONNX export, ONNX Runtime parity."""
import copy
from pathlib import Path

import onnx
import pytest
import torch
from helpers import ROOT
from mmcv.cnn import ConvModule
from mmengine.config import Config
from torch import nn

import dn_mm
from dn_mm import DNB, DNC, SEBN, DynamicNormBase
from dn_mm.deployment import ChannelAffine, FoldedDynamicNorm, fold_norm, fuse_for_inference
from dn_mm.deployment.cli import fuse_main, pytorch2onnx_main
from dn_mm.deployment.onnx_export import check_onnx, export_onnx, graph_module, graph_summary

CLS_CONFIG = ROOT / 'configs/demo/mobilenet-v2_bn_1xb32-10e_fmnist.py'
DET_CONFIG = ROOT / 'configs/demo/ssdlite_mobilenetv2-bn_1xb8-36e_deepforest.py'

NORMS = {
    'BN': lambda c: nn.BatchNorm2d(c),
    'DNB-residual-g1': lambda c: DNB(c, r=4, g=1),  # the default: normalized input, Sigmoid
    'DNB-residual-raw-relu': lambda c: DNB(c, r=4, g=1, sc_input='raw',
                                           act_cfg=dict(type='ReLU')),
    'DNB-residual-oup-sigmoid': lambda c: DNB(c, r=4, g='oup', act_cfg=dict(type='Sigmoid')),
    'DNB-residual-noaffine': lambda c: DNB(c, r=4, g=2, affine=False),
    'DNB-paper-g2': lambda c: DNB(c, r=4, g=2, form='paper'),
    'DNB-residual-normalized': lambda c: DNB(c, r=4, g=1, sc_input='normalized'),
    'DNB-residual-tanh-noaffine': lambda c: DNB(c, r=4, g=2, bound='tanh', affine=False),
    'DNB-residual-normalized-tanh': lambda c: DNB(c, r=4, g='oup', sc_input='normalized',
                                                  bound='tanh', bound_range=1.0),
    'DNB-paper-normalized-tanh': lambda c: DNB(c, r=4, g=1, form='paper',
                                               sc_input='normalized', bound='tanh'),
    'DNC1-normalized-tanh': lambda c: DNC(c, r=4, g=1, sc_input='normalized', bound='tanh'),
    'DNC1': lambda c: DNC(c, r=4, g=1),
    'DNC2-paper': lambda c: DNC(c, r=4, g=1, fuse='fc2', form='paper'),
    'SEBN': lambda c: SEBN(c, r=4),
}
MODEL_NORMS = {
    'BN': dict(type='BN'),
    'DNB-residual': dict(type='DNB', r=16, g=1),
    'DNB-paper': dict(type='DNB', r=16, g='oup', form='paper'),
    'DNB-normalized-tanh': dict(type='DNB', r=16, g=1, sc_input='normalized', bound='tanh'),
    'DNC': dict(type='DNC', r=16, g=1),
    'SEBN': dict(type='SEBN', r=16),
}


def trained_looking(model: nn.Module, seed: int = 0) -> nn.Module:
    """SC / SE weights, gamma/beta and running statistics away from their start values.

    Moderate values (running var in [0.5, 1.5]) keep a deep random network's
    activations in range, so float32 rounding stays at its usual size.
    """
    gen = torch.Generator().manual_seed(seed)

    def noise(t, scale):
        return torch.randn(t.shape, generator=gen, dtype=t.dtype) * scale

    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (DNB, DNC)):
                m.sc.fc1.add_(noise(m.sc.fc1, 0.3 / m.sc.fc1.shape[1] ** 0.5))
                m.sc.fc2.add_(noise(m.sc.fc2, 0.3 / m.sc.fc2.shape[1] ** 0.5))
            elif isinstance(m, SEBN):
                for p in (m.fc1.weight, m.fc1.bias, m.fc2.weight, m.fc2.bias):
                    p.add_(noise(p, 0.3))
            if isinstance(m, nn.BatchNorm2d):
                if m.affine:
                    m.weight.add_(noise(m.weight, 0.2))
                    m.bias.add_(noise(m.bias, 0.2))
                m.running_mean.copy_(noise(m.running_mean, 0.3))
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    return model.eval()


def block(norm: str, conv_first: bool, c: int = 12) -> nn.Module:
    torch.manual_seed(0)
    if conv_first:
        return nn.Sequential(nn.Conv2d(3, c, 3, padding=1, bias=False), NORMS[norm](c), nn.ReLU())
    # the norm follows an activation: nothing to fold into, it keeps its statistics
    return nn.Sequential(nn.Conv2d(3, c, 3, padding=1), nn.ReLU6(), NORMS[norm](c))


def assert_sample_independent(model, x, tol=1e-5):
    with torch.no_grad():
        batch = model(x)
        for i in range(x.shape[0]):
            torch.testing.assert_close(model(x[i:i + 1]), batch[i:i + 1], atol=tol, rtol=tol)


@pytest.mark.parametrize('conv_first', [True, False], ids=['after-conv', 'alone'])
@pytest.mark.parametrize('norm', list(NORMS))
def test_fold_equals_eval(norm, conv_first):
    model = trained_looking(block(norm, conv_first))
    x = torch.randn(4, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    folded = fuse_for_inference(model)
    assert model[1 if conv_first else 2].__class__ is NORMS[norm](4).__class__  # not modified
    assert not any(isinstance(m, DynamicNormBase) for m in folded.modules())
    new = folded[1 if conv_first else 2]
    if norm == 'BN' or norm.startswith('DNC'):
        expected = (nn.Identity if conv_first
                    else (nn.BatchNorm2d if norm == 'BN' else ChannelAffine))
        assert type(new) is expected
    else:
        assert type(new) is FoldedDynamicNorm and new.stats_in_conv == conv_first
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=1e-5)
        # in float64 the fold is exact: any slip in the algebra shows here
        x64, model64 = x.double(), copy.deepcopy(model).double()
        torch.testing.assert_close(fuse_for_inference(model64)(x64), model64(x64),
                                   atol=1e-10, rtol=1e-10)
    assert_sample_independent(folded, x)


def test_dynamic_part_is_live_in_the_fold():
    """A fold that dropped the per-sample part would match BN with the same statistics."""
    model = trained_looking(block('DNB-residual-g1', True))
    as_bn = copy.deepcopy(model)
    as_bn[1].sc.fc2.data.zero_()
    x = torch.randn(4, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert (fuse_for_inference(model)(x) - as_bn(x)).abs().max() > 1e-2


@pytest.mark.parametrize('order', [('conv', 'norm', 'act'), ('conv', 'act', 'norm')])
def test_conv_module_order_decides_the_fold(order):
    torch.manual_seed(0)
    model = trained_looking(ConvModule(3, 8, 3, padding=1, norm_cfg=dict(type='DNB', r=4, g=1),
                                       order=order))
    counts = {}
    folded = fuse_for_inference(model, counts=counts)
    assert counts == {'DNB ' + ('into conv' if order[1] == 'norm' else 'alone'): 1}
    x = torch.randn(2, 3, 10, 10)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x), atol=1e-5, rtol=1e-5)


def test_fold_refuses_what_it_cannot_fold():
    layer = DNB(8, r=4, g=1, track_running_stats=False).eval()
    with pytest.raises(ValueError, match='track_running_stats'):
        fuse_for_inference(nn.Sequential(nn.Conv2d(3, 8, 1), layer))
    with pytest.raises(ValueError, match='norm layer itself'):
        fuse_for_inference(DNB(8).eval())
    with pytest.raises(TypeError, match='cannot fold'):
        fold_norm(nn.GroupNorm(2, 8), None, 'gn')


def build(config: Path, norm_cfg: dict):
    cfg = Config.fromfile(str(config))
    cfg.model.backbone.norm_cfg = dict(norm_cfg)
    scope = 'mmdet' if 'bbox_head' in cfg.model else 'mmpretrain'
    torch.manual_seed(0)
    return trained_looking(dn_mm.build_model(cfg.model, scope))


@pytest.mark.parametrize('config,shape', [(CLS_CONFIG, (64, 64)), (DET_CONFIG, (96, 96))],
                         ids=['classifier', 'ssdlite'])
@pytest.mark.parametrize('norm', list(MODEL_NORMS))
def test_onnx_runtime_matches_pytorch_eval(config, shape, norm, tmp_path):
    model = build(config, MODEL_NORMS[norm])
    path = str(tmp_path / 'model.onnx')
    names = export_onnx(model, path, shape, dynamic_batch=True)
    summary = graph_summary(path)
    assert summary['custom'] == [] and summary['domains'] == ['']
    assert all(onnx.defs.has(op, '') for op in summary['op_types'])
    assert summary['input_shape'] == ['batch', 3, *shape]  # dynamic batch, fixed H, W
    assert summary['outputs'] == names
    if config == DET_CONFIG:  # raw head outputs per level, no decoding or NMS
        assert names == [f'cls_score_{i}' for i in range(6)] + [f'bbox_pred_{i}' for i in range(6)]
        assert not {'NonMaxSuppression', 'TopK'} & set(summary['op_types'])
    diffs = check_onnx(path, model, shape, batches=(1, 4))
    assert diffs['batch 1'] <= 1e-4 and diffs['batch 4'] <= 1e-4, diffs
    assert diffs['sample vs alone'] <= 1e-5, diffs
    # the folded PyTorch model agrees with the eval model as well
    x = torch.randn(2, 3, *shape)
    with torch.no_grad():
        ref, out = graph_module(model)[0](x), graph_module(fuse_for_inference(model))[0](x)
    for a, b in zip(ref if isinstance(ref, tuple) else [ref],
                    out if isinstance(out, tuple) else [out]):
        torch.testing.assert_close(b, a, atol=1e-5, rtol=1e-5)


def test_tools_fuse_then_export(tmp_path, capsys):
    config = str(ROOT / 'configs/demo/mobilenet-v2_dnb-r16-goup_1xb32-10e_fmnist.py')
    small = ['--shape', '32', '32', '--cfg-options', 'model.backbone.widen_factor=0.5']
    fused = str(tmp_path / 'fused.pth')
    assert fuse_main([config, '--out', fused] + small) == 0
    assert 'DNB into conv' in capsys.readouterr().out
    onnx_path = str(tmp_path / 'fused.onnx')
    assert pytorch2onnx_main([config, fused, '--out', onnx_path, '--dynamic-batch'] + small) == 0
    out = capsys.readouterr().out
    assert 'OK: within --atol' in out and "input ['batch', 3, 32, 32]" in out
    with pytest.raises(SystemExit, match='checkpoint: no such file'):
        pytorch2onnx_main([config, str(tmp_path / 'missing.pth'), '--out', onnx_path])
    with pytest.raises(SystemExit):
        pytorch2onnx_main([config, '--out', onnx_path, '--opset', '9'])
    assert 'opset must be in 11..20' in capsys.readouterr().err
