"""Bad configs and inputs: every DN layer config either builds and gives finite output, or
raises a ValueError naming the argument and what would be valid; colliding layer names,
unknown norm types, a g that does not divide, channels-last and non-4-D inputs."""
import importlib
import re
import subprocess
import sys
import textwrap

import pytest
import torch
from helpers import ROOT
from hypothesis import event, given, settings
from hypothesis import strategies as st
from mmcv.cnn import build_norm_layer
from mmengine.registry import MODELS, DefaultScope, Registry
from torch import nn

from dn_mm import DNB, DNC, SEBN, build_model
from dn_mm.models.build import check_norm_types
from dn_mm.models.layers import dnb as dnb_module
from dn_mm.models.layers import sc_widths

DTYPES = {'float32': torch.float32, 'float64': torch.float64, 'bfloat16': torch.bfloat16}
VALID_ACTS = (None, dict(type='ReLU'), dict(type='Sigmoid'))


def positive_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def expected_faults(layer_type, c, r, g, form, act_cfg):
    """``{argument: regex of the message}`` for every invalid argument (the test's oracle)."""
    faults = {}
    if not positive_int(c):
        faults['num_features'] = r'num_features must be a positive int'
    if not positive_int(r):
        faults['r'] = r'r \(.*\) must be a positive int'
    if layer_type != 'SEBN':
        if g != 'oup' and not positive_int(g):
            faults['g'] = r"g \(.*\) must be 'oup' or a positive int"
        if form not in ('paper', 'residual'):
            faults['form'] = r"form must be one of \('paper', 'residual'\)"
    if act_cfg not in VALID_ACTS:
        faults['act_cfg'] = (r"act_cfg type 'Swoosh' is not a registered activation; "
                             r"valid types: .*'ReLU'")
    return faults


VALID = dict(c=st.integers(1, 24), r=st.integers(1, 32),
             g=st.one_of(st.just('oup'), st.integers(1, 6)),
             form=st.sampled_from(['paper', 'residual']), act_cfg=st.sampled_from(VALID_ACTS))
INVALID = dict(c=st.sampled_from([0, -4, 8.0, '8']),
               r=st.sampled_from([0, -1, 1.5, '16', True, None]),
               g=st.sampled_from([0, -2, 2.0, 'out', None]), form=st.sampled_from(['Paper', 'bn']),
               act_cfg=st.just(dict(type='Swoosh')))


@st.composite
def layer_args(draw):
    """About half the examples valid; the others with one or two invalid arguments."""
    bad = draw(st.sampled_from([(), (), (), (), (), ('c', ), ('r', ), ('g', ), ('form', ),
                                ('act_cfg', ), ('r', 'g'), ('c', 'act_cfg')]))
    return {k: draw(INVALID[k] if k in bad else VALID[k]) for k in VALID}


@settings(max_examples=40)
@given(layer_type=st.sampled_from(['DNB', 'DNC', 'SEBN']), args=layer_args(),
       n=st.integers(1, 3), h=st.integers(1, 4), w=st.integers(1, 4),
       dtype=st.sampled_from(sorted(DTYPES)), cast_layer=st.booleans(), train=st.booleans())
def test_every_config_builds_and_runs_or_names_the_bad_argument(
        layer_type, args, n, h, w, dtype, cast_layer, train):
    c, r, g, form, act_cfg = (args[k] for k in ('c', 'r', 'g', 'form', 'act_cfg'))
    cfg = dict(type=layer_type, r=r, act_cfg=act_cfg)
    if layer_type != 'SEBN':
        cfg.update(g=g, form=form)
    faults = expected_faults(layer_type, c, r, g, form, act_cfg)
    event('invalid: ' + ', '.join(sorted(faults)) if faults else 'valid')
    if faults:
        with pytest.raises(ValueError) as err:
            build_norm_layer(cfg, c)
        assert any(re.search(m, str(err.value)) for m in faults.values()), (faults, err.value)
        return
    layer = build_norm_layer(cfg, c)[1].train(train)
    if cast_layer:  # layer.double() / layer.bfloat16(), as a model cast whole
        layer.to(DTYPES[dtype])
    x = torch.randn(n, c, h, w).to(DTYPES[dtype]).requires_grad_()
    if train and n * h * w == 1:
        with pytest.raises(ValueError, match='more than 1 value per channel'):
            layer(x)
        return
    y = layer(x)
    assert y.shape == x.shape and y.dtype == x.dtype
    assert torch.isfinite(y.float()).all()
    y.float().square().sum().backward()
    assert torch.isfinite(x.grad.float()).all()
    assert all(torch.isfinite(p.grad.float()).all() for p in layer.parameters()
               if p.grad is not None)


def test_dn_name_held_by_another_class_is_refused_naming_both():
    """Another package registered 'DN-B' before dn_mm: mmengine's force=True would hand its
    configs our layer without a word; registering dn_mm refuses, naming both classes."""
    original = MODELS.module_dict['DN-B']

    class OtherDNB(nn.BatchNorm2d):
        pass

    MODELS._module_dict['DN-B'] = OtherDNB
    try:
        with pytest.raises(ValueError, match=r"cannot register dn_mm's "
                           r"dn_mm\.models\.layers\.dnb\.DNB as 'DN-B'.*"
                           r"test_bad_configs\..*OtherDNB already holds that name"):
            importlib.reload(dnb_module)
        assert MODELS.module_dict['DNB'] is original  # nothing half-registered
    finally:
        MODELS._module_dict['DN-B'] = original
    importlib.reload(dnb_module)  # our own class again (a reload of dn_mm): allowed
    assert MODELS.module_dict['DNB'] is not original and MODELS.module_dict['DNB'].__name__ == 'DNB'
    MODELS._module_dict['DNB'] = MODELS._module_dict['DN-B'] = original


def test_dn_config_in_a_scope_that_shadows_the_name_is_an_error(monkeypatch):
    """A downstream scope with its own 'DNB' builds that instead of DN-B, silently."""
    import dn_mm.models.build as build
    scope = Registry('model', parent=MODELS, scope='dn_mm_collide_test')
    try:
        @scope.register_module(name='DNB')
        class ScopeDNB(nn.BatchNorm2d):
            pass

        with DefaultScope.overwrite_default_scope('dn_mm_collide_test'):
            assert type(build_norm_layer(dict(type='DNB'), 8)[1]) is ScopeDNB  # the hazard
        monkeypatch.setattr(build, '_scope_registry', lambda name: scope)
        model = dict(type='ResNet', depth=18, norm_cfg=dict(type='DNB', r=16))
        with pytest.raises(ValueError, match=r"model\.norm_cfg: norm layer type 'DNB' is dn_mm's "
                           r"DNB .* the 'dn_mm_collide_test' scope resolves it to .*ScopeDNB: the "
                           r"names collide. Write type='mmengine\.DNB'"):
            check_norm_types(model, scope='dn_mm_collide_test')
        check_norm_types(dict(model, norm_cfg=dict(type='mmengine.DNB')), 'dn_mm_collide_test')
        check_norm_types(dict(model, norm_cfg=dict(type='DNC')), 'dn_mm_collide_test')
    finally:
        MODELS._children.pop('dn_mm_collide_test', None)


def test_unknown_norm_type_names_it_and_the_registered_dn_layers():
    cfg = dict(type='ImageClassifier', backbone=dict(type='MobileNetV2', norm_cfg=dict(type='DNX')),
               head=dict(type='LinearClsHead', num_classes=3, in_channels=1280))
    with pytest.raises(ValueError) as err:
        build_model(cfg, 'mmpretrain')
    msg = str(err.value)
    assert msg.startswith("model.backbone.norm_cfg: unknown norm layer type 'DNX'")
    assert "dn_mm registers ['DNB', 'DN-B', 'DNC', 'DN-C', 'SEBN']" in msg
    assert "'BN'" in msg and "'SyncBN'" in msg


def test_train_py_refuses_unknown_norm_type_in_one_line(tmp_path):
    cfg = tmp_path / 'dnx.py'
    cfg.write_text(textwrap.dedent(f'''
        _base_ = {str(ROOT / 'configs/demo/mobilenet-v2_dnb-r16-goup_1xb32-10e_fmnist.py')!r}
        model = dict(backbone=dict(norm_cfg=dict(type='DNX', r=16)))
        '''))
    out = subprocess.run([sys.executable, 'tools/train.py', str(cfg), '--work-dir',
                          str(tmp_path / 'w')], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: config model.backbone.norm_cfg: unknown norm layer type 'DNX'")
    assert 'Traceback' not in out.stderr and "'DNB'" in last


@pytest.mark.parametrize('c, r, g, hidden, groups', [
    (24, 4, 4, 8, 2),    # floor(24/4) = 6 -> 8, the next multiple of g = 4
    (16, 16, 4, 4, 1),   # floor(16/16) = 1 -> 4 (the paper's MobileNetV2 r=16, g=4 layers)
    (5, 1, 2, 10, 5),    # 5 -> 6 = 3 groups, 3 does not divide 2C = 10 -> 5 groups, hidden 10
    (12, 2, 'oup', 6, 1),
])
def test_g_that_does_not_divide_rounds_hidden_up(c, r, g, hidden, groups):
    assert sc_widths(c, r, g) == (hidden, groups)
    layer = DNB(c, r=r, g=g)
    assert layer.sc.fc1.shape == (hidden, c)
    assert layer.sc.fc2.shape == (2 * c, hidden // groups)
    # the documented rule: the smallest multiple of g >= max(C // r, 1) whose group count
    # (hidden / g) divides the 2C outputs
    if g != 'oup':
        want = next(k for k in range(g, 4 * c * g + 1, g)
                    if k >= max(c // r, 1) and (2 * c) % (k // g) == 0)
        assert hidden == want
    y = layer.train()(torch.randn(3, c, 4, 4))
    assert torch.isfinite(y).all()


@pytest.mark.parametrize('cls', [DNB, DNC, SEBN])
@pytest.mark.parametrize('size', [5, 48])  # plain ops / BN's kernels for contiguous input
def test_channels_last_input_gives_the_contiguous_result(cls, size):
    torch.manual_seed(0)
    layer = cls(16, r=2)
    x = torch.randn(4, 16, size, size, requires_grad=True)
    x_cl = x.detach().to(memory_format=torch.channels_last).requires_grad_()
    grad = torch.randn(4, 16, size, size)
    y, y_cl = layer(x), layer(x_cl)
    (y * grad).sum().backward()
    (y_cl * grad).sum().backward()
    torch.testing.assert_close(y_cl, y)
    torch.testing.assert_close(x_cl.grad, x.grad)
    layer.eval()
    torch.testing.assert_close(layer(x_cl), layer(x))


@pytest.mark.parametrize('cls', [DNB, DNC, SEBN])
def test_non_4d_non_float_and_empty_inputs(cls):
    layer = cls(8, r=2)
    for shape in [(8, ), (4, 8), (4, 8, 5), (2, 8, 3, 3, 3)]:
        want = rf'expects a 4-D input \(N, C, H, W\), got {re.escape(str(shape))}'
        with pytest.raises(ValueError, match=want):
            layer(torch.randn(shape))
    with pytest.raises(ValueError, match='expects a 4-D input'):
        layer([[1.0]])
    with pytest.raises(ValueError, match='floating-point input .* got torch.int64'):
        layer(torch.ones(2, 8, 3, 3, dtype=torch.long))
    with pytest.raises(ValueError, match=r'empty input of size \(0, 8, 3, 3\) when training'):
        layer(torch.randn(0, 8, 3, 3))
    layer.eval()  # as BN: an empty batch passes through in eval
    assert layer(torch.randn(0, 8, 3, 3)).shape == (0, 8, 3, 3)


def test_eps_momentum_and_activation_arguments():
    with pytest.raises(ValueError, match='eps must be a number >= 0'):
        DNB(8, eps=-1e-5)
    with pytest.raises(ValueError, match=r'momentum must be None .* or a number in \[0, 1\]'):
        DNC(8, momentum=2)
    with pytest.raises(ValueError, match="act_cfg must be a dict with a 'type' key"):
        DNB(8, act_cfg='ReLU')
    with pytest.raises(ValueError, match=r"act_cfg \{'type': 'ReLU', 'foo': 1\} does not build"):
        SEBN(8, act_cfg=dict(type='ReLU', foo=1))
    assert isinstance(SEBN(8, act_cfg=dict(type='Sigmoid')).act, nn.Sigmoid)
