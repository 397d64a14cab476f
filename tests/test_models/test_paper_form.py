"""form='paper' (Eq. 7 as written) against a float64 reference, its init in real models, its
counts."""
import math

import pytest
import torch
from helpers import classifier, n_params, randomize_sc, scoped_models
from hypothesis import given, settings
from hypothesis import strategies as st
from mmcv.cnn import build_norm_layer
from mmengine.hub import get_config
from reference import dnb_reference, dnc_reference

from dn_mm import DNB, DNC, dn_layers

ACTS = {'ReLU': None, 'Sigmoid': dict(type='Sigmoid')}


@settings(max_examples=40, deadline=None)
@given(cls=st.sampled_from([DNB, DNC]), n=st.integers(2, 5), c=st.integers(1, 40),
       h=st.integers(1, 6), w=st.integers(1, 6), r=st.integers(1, 8),
       g=st.sampled_from(['oup', 1, 2, 3]), act=st.sampled_from(sorted(ACTS)),
       fuse=st.sampled_from(['fc1', 'fc2']), train=st.booleans(), fast=st.booleans(),
       seed=st.integers(0, 99))
def test_paper_form_matches_eq7_reference(cls, n, c, h, w, r, g, act, fuse, train, fast, seed):
    kwargs = dict(r=r, g=g, form='paper', act_cfg=ACTS[act])
    layer = cls(c, fuse=fuse, **kwargs) if cls is DNC else cls(c, **kwargs)
    layer = randomize_sc(layer, seed=seed).double().train(train)
    layer.fast_path = fast
    assert not layer.norm.affine and layer.norm.weight is None  # no static gamma/beta
    rm, rv = layer.norm.running_mean.clone(), layer.norm.running_var.clone()
    x = torch.randn(n, c, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = layer(x1)
    y_ref = (dnb_reference if cls is DNB else dnc_reference)(layer, x2, rm, rv)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(layer.norm.running_var, rv)
    params = list(layer.parameters())
    gy = torch.randn_like(y)
    got = torch.autograd.grad(y, [x1] + params, gy)
    want = torch.autograd.grad(y_ref, [x2] + params, gy)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-9, rtol=1e-7)


@pytest.mark.parametrize('cls', [DNB, DNC])
def test_paper_form_defaults_stay_eq7(cls, monkeypatch):
    """Whatever the residual form's defaults, the paper form's are Eq. 7 as written."""
    from dn_mm.models.layers import dynamic_norm
    monkeypatch.setitem(dynamic_norm.DEFAULT_OPTIONS, 'residual',
                        dict(sc_input='normalized', bound='tanh', act_cfg=dict(type='Sigmoid')))
    paper, residual = cls(8, form='paper'), cls(8)
    assert (paper.sc_input, paper.bound, type(paper.sc.act)) == ('raw', 'none', torch.nn.ReLU)
    assert (residual.sc_input, residual.bound, type(residual.sc.act)) == (
        'normalized', 'tanh', torch.nn.Sigmoid)
    assert (cls(8, form='paper', bound='tanh').bound, cls(8, sc_input='raw').sc_input) == (
        'tanh', 'raw')  # a config's own choice wins


def test_paper_form_alpha_lambda_are_the_sc_outputs():
    layer = DNB(8, r=2, g='oup', form='paper').eval()
    x = torch.randn(3, 8, 4, 4)
    _, _, alpha, lam = layer.scale_shift(x)
    d_alpha, d_lambda = layer.sc(x.mean((2, 3)))
    torch.testing.assert_close(alpha, d_alpha)  # no gamma, no +1
    torch.testing.assert_close(lam, d_lambda)


@pytest.mark.parametrize('kwargs, match', [
    (dict(form='Paper'), "form must be one of \\('paper', 'residual'\\)"),
    (dict(form='paper', affine=True), "affine=True conflicts with form='paper'"),
    (dict(affine='yes'), 'affine must be True, False or None'),
])
@pytest.mark.parametrize('layer_type', ['DNB', 'DNC'])
def test_bad_form_raises(layer_type, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_norm_layer(dict(type=layer_type, **kwargs), 16)


def he_fout_std(layer, fc):
    sc = layer.sc
    return math.sqrt(2.0 / sc.hidden) if fc == 'fc1' else math.sqrt(sc.groups / sc.num_features)


def assert_he_fout(layers):
    """Pooled over layers, each FC's weights / their he_fout std are N(0, 1)."""
    for fc in ('fc1', 'fc2'):
        z = torch.cat([getattr(layer.sc, fc).detach().flatten() / he_fout_std(layer, fc)
                       for _, layer in layers])
        assert z.numel() > 1000
        assert abs(float(z.std()) - 1) < 0.05 and abs(float(z.mean())) < 0.05


@pytest.mark.parametrize('arch', ['mbv2', 'resnet18'])
@pytest.mark.parametrize('norm_type', ['DNB', 'DNC'])
def test_paper_init_survives_init_weights(arch, norm_type):
    torch.manual_seed(0)
    model = classifier(arch, dict(type=norm_type, r=16, g=1, form='paper'))
    model.init_weights()
    layers = list(dn_layers(model))
    assert len(layers) > 10 and all(layer.form == 'paper' for _, layer in layers)
    assert_he_fout(layers)


def test_paper_init_survives_ssdlite_init_weights():
    cfg = get_config('mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py')
    cfg.model.backbone.norm_cfg = dict(type='DNB', r=16, g='oup', form='paper', eps=0.001,
                                       momentum=0.03)
    model = scoped_models('mmdet').build(cfg.model)
    model.init_weights()
    layers = list(dn_layers(model))
    assert len(layers) == 52
    assert_he_fout(layers)


# paper Tables 1, 2, 6, 7: MobileNetV2 with a 100-class head, #params in millions
PAPER_MV2_ROWS = [
    (dict(type='DNB', r=16, g=1), 3.03), (dict(type='DNB', r=16, g='oup'), 4.36),
    (dict(type='DNB', r=8, g=1), 3.72), (dict(type='DNB', r=32, g=1), 2.69),
    (dict(type='DNB', r=16, g=2), 3.07), (dict(type='DNB', r=16, g=4), 3.14),
    (dict(type='DNC', r=16, g=1, fuse='fc1'), 3.03),
    (dict(type='DNC', r=16, g=1, fuse='fc2'), 3.03),
]


@pytest.mark.parametrize('norm_cfg, paper', PAPER_MV2_ROWS)
def test_built_paper_mobilenet_v2_has_the_papers_params(norm_cfg, paper):
    built = n_params(classifier('mbv2', dict(norm_cfg, form='paper'))) / 1e6
    assert abs(built / paper - 1) < 0.005, (norm_cfg, built, paper)


def test_bn_checkpoint_loads_strictly_into_paper_form():
    bn = classifier('mbv2', dict(type='BN'))
    with torch.no_grad():
        for m in bn.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
    dn = classifier('mbv2', dict(type='DNB', r=16, g=1, form='paper'))
    missing, unexpected = dn.load_state_dict(bn.state_dict(), strict=False)
    assert unexpected == []  # BN's gamma/beta have no place in Eq. 7: dropped, not unexpected
    assert missing and all('.sc.' in k for k in missing)
    layer = dn.backbone.conv1.bn
    torch.testing.assert_close(layer.running_mean, bn.backbone.conv1.bn.running_mean)
