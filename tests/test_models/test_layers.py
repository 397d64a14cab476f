"""DN-B / DN-C / SE-BN layers: parity with the reference, identity start, errors."""
import importlib

import pytest
import torch
from helpers import randomize_sc
from hypothesis import given, settings
from hypothesis import strategies as st
from mmcv.cnn import build_norm_layer
from mmengine.registry import MODELS
from reference import DN_OPTIONS, dnb_reference, dnc_reference, sebn_reference
from torch import nn

import dn_mm
from dn_mm import DNB, DNC, SEBN

LAYER_TYPES = ['DNB', 'DN-B', 'DNC', 'DN-C', 'SEBN']



@pytest.mark.parametrize('layer_type', LAYER_TYPES)
def test_build_norm_layer_names_it_like_bn(layer_type):
    name, layer = build_norm_layer(dict(type=layer_type, r=4), 32, postfix=1)
    assert name == 'bn1'
    assert isinstance(layer, MODELS.get(layer_type))
    assert layer.eps == 1e-5  # build_norm_layer's default reaches the BN child


def test_registered_under_both_names_and_import_twice():
    assert MODELS.get('DNB') is DNB and MODELS.get('DN-B') is DNB
    assert MODELS.get('DNC') is DNC and MODELS.get('DN-C') is DNC
    assert MODELS.get('SEBN') is SEBN
    importlib.reload(dn_mm)  # re-registering must not raise
    assert MODELS.get('DNB').__name__ == 'DNB'


@pytest.mark.parametrize('cls', [DNB, DNC])
@pytest.mark.parametrize('affine', [True, False])
@pytest.mark.parametrize('momentum', [0.1, None])
@pytest.mark.parametrize('sc_input', ['raw', 'normalized'])
@pytest.mark.parametrize('bound', ['none', 'tanh'])
def test_fresh_layer_equals_batchnorm(cls, affine, momentum, sc_input, bound):
    """The residual form starts as BN exactly, whatever the SC-Module reads and the bound."""
    torch.manual_seed(0)
    c = 24
    dn = cls(c, r=4, g=1, affine=affine, momentum=momentum, sc_input=sc_input, bound=bound)
    bn = nn.BatchNorm2d(c, affine=affine, momentum=momentum)
    for step in range(4):  # training steps: batch statistics and running-stat updates
        x = torch.randn(6, c, 5, 7) * (step + 1) + step
        torch.testing.assert_close(dn(x), bn(x), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dn.running_mean, bn.running_mean, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(dn.running_var, bn.running_var, atol=1e-5, rtol=1e-5)
    assert int(dn.num_batches_tracked) == int(bn.num_batches_tracked) == 4
    dn.eval(), bn.eval()
    x = torch.randn(3, c, 4, 4)
    torch.testing.assert_close(dn(x), bn(x), atol=1e-5, rtol=1e-5)


REFERENCES = {DNB: dnb_reference, DNC: dnc_reference, SEBN: sebn_reference}


def make_layer(cls, c, r, g, affine, fuse, **options):
    """A layer of ``cls``; ``options``: DN's form, sc_input, bound (ignored by SE-BN)."""
    if cls is SEBN:
        return SEBN(c, r=r, affine=affine)
    if options.get('form') == 'paper':
        affine = None
    if cls is DNB:
        return DNB(c, r=r, g=g, affine=affine, **options)
    return DNC(c, r=r, g=g, affine=affine, fuse=fuse, **options)


@settings(max_examples=60, deadline=None)
@given(cls=st.sampled_from([DNB, DNC, SEBN]), n=st.integers(2, 5), c=st.integers(1, 40),
       h=st.integers(1, 6), w=st.integers(1, 6), r=st.integers(1, 8),
       g=st.sampled_from(['oup', 1, 2, 3]), affine=st.booleans(),
       fuse=st.sampled_from(['fc1', 'fc2']), train=st.booleans(), options=DN_OPTIONS,
       fast=st.booleans(), seed=st.integers(0, 99))
def test_matches_reference_forward_and_backward(cls, n, c, h, w, r, g, affine, fuse, train,
                                                options, fast, seed):
    """float64, fast path and plain: forward, running statistics, gradients of x and every
    parameter, across DN's forms and generator options."""
    layer = randomize_sc(make_layer(cls, c, r, g, affine, fuse, **options), seed=seed).double()
    layer.fast_path = fast
    layer.train(train)
    rm, rv = layer.norm.running_mean.clone(), layer.norm.running_var.clone()
    x = torch.randn(n, c, h, w, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    x1, x2 = x.clone().requires_grad_(), x.clone().requires_grad_()
    y = layer(x1)
    params = list(layer.parameters())
    y_ref = REFERENCES[cls](layer, x2, rm, rv)
    torch.testing.assert_close(y, y_ref)
    torch.testing.assert_close(layer.norm.running_mean, rm)
    torch.testing.assert_close(layer.norm.running_var, rv)
    gy = torch.randn_like(y)
    grads = torch.autograd.grad(y, [x1] + params, gy, allow_unused=True)
    grads_ref = torch.autograd.grad(y_ref, [x2] + params, gy, allow_unused=True)
    for got, want, like in zip(grads, grads_ref, [x1] + params):
        zero = torch.zeros_like(like)
        torch.testing.assert_close(got if got is not None else zero,
                                   want if want is not None else zero, atol=1e-6, rtol=1e-5)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 6), c=st.integers(1, 48), h=st.integers(1, 5), w=st.integers(1, 5),
       r=st.integers(1, 16), g=st.sampled_from(['oup', 1, 2, 4]), seed=st.integers(0, 999))
def test_dnb_eval_output_is_per_sample(n, c, h, w, r, g, seed):
    layer = randomize_sc(DNB(c, r=r, g=g), seed=seed).eval()
    x = torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))
    full = layer(x)
    assert layer.sc.fc2.abs().sum() > 0
    for i in range(n):
        torch.testing.assert_close(layer(x[i:i + 1]), full[i:i + 1], atol=1e-5, rtol=1e-5)
    # and another batch around the same sample does not change its output
    other = torch.cat([x[:1], torch.randn(n, c, h, w) * 10])
    torch.testing.assert_close(layer(other)[:1], full[:1], atol=1e-5, rtol=1e-5)


def test_dnb_train_output_depends_on_sample_alpha():
    """Per-sample alpha/lambda really differ between samples."""
    layer = randomize_sc(DNB(16, r=4, g=1)).eval()
    _, _, alpha, lam = layer.scale_shift(torch.randn(3, 16, 4, 4))
    assert alpha.shape == lam.shape == (3, 16)
    assert (alpha[0] - alpha[1]).abs().max() > 1e-3


@pytest.mark.parametrize('kwargs, match', [
    (dict(r=0), 'r '), (dict(r=1.5), 'r '), (dict(r='16'), 'r '), (dict(r=True), 'r '),
    (dict(g=0), 'g '), (dict(g='out'), 'g '), (dict(g=2.0), 'g '),
])
@pytest.mark.parametrize('layer_type', ['DNB', 'DNC'])
def test_bad_sc_config_raises(layer_type, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_norm_layer(dict(type=layer_type, **kwargs), 32)


@pytest.mark.parametrize('kwargs, match', [
    (dict(sc_input='mean'), "sc_input must be one of \\('raw', 'normalized'\\)"),
    (dict(bound='sigmoid'), "bound must be one of \\('none', 'tanh'\\)"),
    (dict(bound='tanh', bound_range=0), 'bound_range .* positive number'),
    (dict(bound='tanh', bound_range=float('inf')), 'bound_range .* positive number'),
    (dict(bound_range='0.5'), 'bound_range .* positive number'),
])
@pytest.mark.parametrize('layer_type', ['DNB', 'DNC'])
def test_bad_generator_options_raise(layer_type, kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_norm_layer(dict(type=layer_type, **kwargs), 16)


def test_dnc_normalized_needs_running_statistics():
    with pytest.raises(ValueError, match="sc_input='normalized' .* track_running_stats=True"):
        DNC(8, sc_input='normalized', track_running_stats=False)


@pytest.mark.parametrize('cls', [DNB, DNC])
@pytest.mark.parametrize('sc_input', ['raw', 'normalized'])
def test_sc_input_scale_invariance(cls, sc_input):
    """BN's output does not change when the input is scaled per channel (the conv weights in
    front grow); with sc_input='normalized' DN's does not either, with 'raw' it does."""
    layer = randomize_sc(cls(16, r=4, g=1, sc_input=sc_input)).double().train()
    x = torch.randn(6, 16, 5, 5, dtype=torch.float64) + 0.5
    k = torch.rand(1, 16, 1, 1, dtype=torch.float64) * 10 + 0.5
    layer.eps = 0.0  # BN itself is scale-invariant only up to eps
    layer.norm.momentum = 1.0  # DN-C: the running std is this batch's
    y1 = layer(x)
    y2 = layer(x * k)
    if sc_input == 'normalized':
        torch.testing.assert_close(y2, y1, atol=1e-6, rtol=1e-6)
    else:
        assert (y2 - y1).abs().max() > 1e-2


@pytest.mark.parametrize('bound_range', [0.5, 2.0])
def test_tanh_bound_holds_alpha_and_lambda(bound_range):
    """Whatever the SC-Module generates, bound='tanh' keeps alpha in gamma * (1 +- k) and
    lambda in beta +- k."""
    layer = DNB(16, r=4, g=1, bound='tanh', bound_range=bound_range).eval()
    with torch.no_grad():
        layer.sc.fc1.normal_(0, 10)
        layer.sc.fc2.normal_(0, 10)
        layer.norm.weight.uniform_(0.5, 2)
        layer.norm.bias.normal_()
    _, _, alpha, lam = layer.scale_shift(torch.randn(8, 16, 4, 4) * 100)
    gamma, beta = layer.norm.weight, layer.norm.bias
    ratio = alpha / gamma
    assert ratio.min() >= 1 - bound_range - 1e-6 and ratio.max() <= 1 + bound_range + 1e-6
    assert ratio.max() - ratio.min() > bound_range  # the bound is reached, not a constant
    assert (lam - beta).abs().max() <= bound_range + 1e-6


def test_bad_fuse_and_sebn_r():
    with pytest.raises(ValueError, match="fuse must be one of"):
        DNC(8, fuse='fc3')
    with pytest.raises(ValueError, match='r '):
        SEBN(8, r=-1)


@pytest.mark.parametrize('cls', [DNB, DNC, SEBN])
def test_bad_input_raises(cls):
    layer = cls(8, r=2)
    with pytest.raises(ValueError, match='4-D input'):
        layer(torch.randn(4, 8, 5))
    with pytest.raises(ValueError, match='num_features'):
        layer(torch.randn(4, 6, 5, 5))
    with pytest.raises(ValueError, match='more than 1 value per channel'):
        layer(torch.randn(1, 8, 1, 1))
    layer.eval()
    assert layer(torch.randn(1, 8, 1, 1)).shape == (1, 8, 1, 1)  # eval is fine, as BN


@pytest.mark.parametrize('cls', [DNB, DNC, SEBN])
def test_autocast_bf16_keeps_statistics_in_fp32(cls):
    torch.manual_seed(0)
    conv = nn.Conv2d(8, 32, 3, padding=1)
    layer = randomize_sc(cls(32, r=4), scale=0.1)
    x = torch.randn(4, 8, 10, 10)
    ref = layer(conv(x))
    rm_ref = layer.norm.running_mean.clone()
    layer2 = randomize_sc(cls(32, r=4), scale=0.1)  # same weights and statistics as layer
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = layer2(conv(x))
    assert y.dtype == torch.bfloat16
    assert torch.isfinite(y).all()
    assert layer2.norm.running_mean.dtype == torch.float32
    torch.testing.assert_close(y.float(), ref, atol=0.1, rtol=0.05)
    torch.testing.assert_close(layer2.norm.running_mean, rm_ref, atol=1e-2, rtol=1e-2)
