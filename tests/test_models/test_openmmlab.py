"""DN layers inside real OpenMMLab models: init, BN -> DN conversion, checkpoints, counts.

Training semantics (freezing, decay, SyncBN, checkpoint safety) are in
test_openmmlab_training.py."""
import copy
import subprocess
import sys

import pytest
import torch
from helpers import ROOT, classifier, n_params, scoped_models
from mmengine.hub import get_config
from mmengine.runner import load_checkpoint
from torch import nn

from dn_mm import bn_checkpoint_to_dn, convert_bn_to_dn, dn_layers


def bn_twin(model):
    """The model with every DN layer replaced by its own BN child."""
    twin = copy.deepcopy(model)
    for name, layer in list(dn_layers(twin)):
        parent = twin.get_submodule(name.rsplit('.', 1)[0]) if '.' in name else twin
        setattr(parent, name.rsplit('.', 1)[-1], layer.norm)
    return twin


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
        torch.testing.assert_close(model.extract_feat(x), twin.extract_feat(x),
                                   atol=1e-9, rtol=1e-7)


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
    assert len(list(dn_layers(dn_model))) == sum(isinstance(m, nn.BatchNorm2d)
                                                 for m in bn_model.modules())
    x = torch.randn(2, 3, 64, 64)
    bn_model.eval(), dn_model.eval()
    torch.testing.assert_close(dn_model(x, mode='tensor'), bn_model(x, mode='tensor'),
                               atol=1e-5, rtol=1e-5)
    bn_model.train().double(), dn_model.train().double()
    torch.testing.assert_close(dn_model(x.double(), mode='tensor'),
                               bn_model(x.double(), mode='tensor'))


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
    torch.testing.assert_close(dn_model(x, mode='tensor'), bn_model(x, mode='tensor'),
                               atol=1e-5, rtol=1e-5)
    text = capsys.readouterr().out
    assert 'missing keys' in text and 'sc.fc2' in text and 'unexpected' not in text
    with pytest.raises(RuntimeError, match='sc.fc1'):
        load_checkpoint(dn_model, str(ckpt), map_location='cpu', strict=True)


def test_checkpoint_converter_tool_gives_identical_model(tmp_path):
    torch.manual_seed(0)
    bn_model = randomize_bn_stats(classifier('resnet18', dict(type='BN'))).eval()
    src, dst = tmp_path / 'bn.pth', tmp_path / 'dn.pth'
    torch.save({'state_dict': bn_model.state_dict(), 'meta': {'note': 'bn'}}, src)
    out = subprocess.run([sys.executable, str(ROOT / 'tools/model_converters/bn_to_dn.py'),
                          str(src), str(dst), '--r', '16', '--g', 'oup'],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert 'converted 20 BN layers' in out.stdout
    dn_model = classifier('resnet18', dict(type='DNB', r=16, g='oup')).eval()
    load_checkpoint(dn_model, str(dst), map_location='cpu', strict=True)
    x = torch.randn(2, 3, 64, 64)
    torch.testing.assert_close(dn_model(x, mode='tensor'), bn_model(x, mode='tensor'),
                               atol=1e-5, rtol=1e-5)
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


def test_bn_named_norm_is_converted_and_dn_children_are_not():
    torch.manual_seed(0)
    stem = nn.Sequential()
    stem.add_module('conv', nn.Conv2d(3, 8, 3))
    stem.add_module('norm', nn.BatchNorm2d(8))  # a BN layer that is itself named norm
    bn_model = randomize_bn_stats(nn.Sequential(stem))
    dn_model = convert_bn_to_dn(copy.deepcopy(bn_model), dict(type='DNB', r=4, g=1))
    sd = bn_checkpoint_to_dn(bn_model.state_dict(), r=4, g=1)
    assert set(sd) == set(dn_model.state_dict())
    twin = convert_bn_to_dn(copy.deepcopy(bn_model), dict(type='DNB', r=4, g=1))
    twin.load_state_dict(sd)
    x = torch.randn(2, 3, 9, 9)
    torch.testing.assert_close(twin.eval()(x), bn_model.eval()(x))
    again = bn_checkpoint_to_dn(sd | {'1.running_mean': torch.zeros(8)}, r=4, g=1)
    assert [k for k in again if k not in sd] == ['1.norm.running_mean', '1.sc.fc1',
                                                  '1.sc.fc2']  # the DN layer 0.norm stays


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
