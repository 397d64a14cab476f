"""torch.compile of the dynamic norm layers: one graph per model as BN, and the eager results.

Under compile the layers trace their plain autograd ops (``uses_fast_path`` is False there),
so the checks are: the graph and graph-break counts of a compiled MobileNetV2 equal BN's
(``torch._dynamo.explain``), a model of many channel widths compiles once, and the compiled
layer computes what the float64 reference computes (forward, running statistics, every
gradient). The ``aot_eager`` backend traces forward and backward as inductor does, without
its C++ build (the benchmark's ``--compile`` runs inductor).
"""
import copy

import pytest
import torch
import torch._dynamo as dynamo
from helpers import make_layer
from reference import dnb_reference, dnc_reference, sebn_reference
from torch import nn

from dn_mm import DNB, DNC, SEBN
from dn_mm.analysis.norm_study import build_classifier

REFERENCES = {DNB: dnb_reference, DNC: dnc_reference, SEBN: sebn_reference}
NORMS = {'BN': dict(type='BN'), 'DNB': dict(type='DNB', r=16, g=1),
         'DNC': dict(type='DNC', r=16, g=1, fuse='fc1'), 'SEBN': dict(type='SEBN', r=16)}
#: eval mode normalises with the running statistics: another graph (the same code for each
#: layer type, so one type is checked)
EVAL_NORMS = ('DNB',)


@pytest.fixture(autouse=True)
def fresh_dynamo():
    dynamo.reset()
    yield
    dynamo.reset()


def explain(norm: str, training: bool):
    torch.manual_seed(0)
    model = build_classifier(NORMS[norm], widen=0.35).train(training)
    return dynamo.explain(model)(torch.randn(4, 3, 32, 32))


@pytest.mark.parametrize('training', [True, False])
def test_compiled_dn_model_has_bns_graphs_and_breaks(training):
    bn = explain('BN', training)
    assert (bn.graph_count, bn.graph_break_count) == (1, 0)
    for norm in [n for n in NORMS if n != 'BN'] if training else EVAL_NORMS:
        got = explain(norm, training)
        assert (got.graph_count, got.graph_break_count) == (1, 0), (norm, got.break_reasons)


def test_many_widths_compile_once():
    """MobileNetV2 (width 0.35) has norm layers of 12 widths: one frame compiled, reused on the
    next call."""
    counter = dynamo.testing.CompileCounter()
    torch.manual_seed(0)
    model = build_classifier(NORMS['DNB'], widen=0.35)
    widths = {m.num_features for m in model.modules() if isinstance(m, DNB)}
    assert len(widths) > 5
    compiled = torch.compile(model, backend=counter)
    for _ in range(2):
        compiled(torch.randn(4, 3, 32, 32)).sum().backward()
    assert counter.frame_count == 1


def run_layer(layer, x, gy, reference):
    """y, running mean/var and the gradients of x and every parameter."""
    rm, rv = layer.norm.running_mean.clone(), layer.norm.running_var.clone()
    x = x.clone().requires_grad_()
    if reference:
        y = REFERENCES[type(layer)](layer, x, rm, rv)
    else:
        y = layer(x)
        rm, rv = layer.norm.running_mean, layer.norm.running_var
    params = list(layer.parameters())
    grads = torch.autograd.grad(y, [x] + params, gy, allow_unused=True)
    grads = [torch.zeros_like(p) if g is None else g for g, p in zip(grads, [x] + params)]
    return [t.detach() for t in [y, rm, rv] + grads]


CASES = [(DNB, dict(form='residual')), (DNB, dict(form='paper')),
         (DNB, dict(form='residual', sc_input='raw', bound='tanh')),
         (DNB, dict(form='paper', sc_input='normalized', bound='tanh', bound_range=2.0)),
         (DNC, dict(form='residual')), (DNC, dict(form='paper', sc_input='raw')),
         (SEBN, dict())]


@pytest.mark.parametrize('training', [True, False])
@pytest.mark.parametrize('cls, options', CASES)
def test_compiled_layer_matches_float64_reference(cls, options, training):
    layer = make_layer(cls, 24, 4, 2, True, 'fc1', seed=1, **options).double().train(training)
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(5, 24, 6, 7, generator=gen, dtype=torch.float64) * 3 + 1
    gy = torch.randn(x.shape, generator=gen, dtype=torch.float64)
    want = run_layer(copy.deepcopy(layer), x, gy, reference=True)
    compiled = torch.compile(layer, backend='aot_eager', fullgraph=True)
    got = run_layer(compiled, x, gy, reference=False)
    names = ['y', 'running_mean', 'running_var', 'grad x'] + [
        'grad ' + n for n, _ in layer.named_parameters()]
    for name, g, w in zip(names, got, want):
        torch.testing.assert_close(g, w, rtol=1e-9, atol=1e-9, msg=name)


def small_mixed_model():
    """Convolutions between DN-B, DN-C and SE-BN layers of three widths."""
    return nn.Sequential(nn.Conv2d(3, 8, 3), DNB(8, r=4), nn.ReLU(), nn.Conv2d(8, 16, 3),
                         DNC(16, r=4, g=2), nn.ReLU(), nn.Conv2d(16, 12, 1), SEBN(12, r=4),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(12, 3))


def test_compiled_model_matches_eager():
    """A compiled training step gives the eager fast path's loss, gradients and statistics
    (float64, so that the two orders of rounding agree to 1e-9)."""
    torch.manual_seed(0)
    eager = small_mixed_model().double()
    model = copy.deepcopy(eager)
    compiled = torch.compile(model, backend='aot_eager', fullgraph=True)
    x = torch.randn(4, 3, 12, 12, dtype=torch.float64)
    losses = [m(x).square().mean() for m in (eager, compiled)]
    for loss in losses:
        loss.backward()
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-9, atol=1e-12)
    for (name, p), q in zip(eager.named_parameters(), model.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-7, atol=1e-10, msg=name)
    for (name, b), c in zip(eager.named_buffers(), model.buffers()):
        torch.testing.assert_close(c, b, rtol=1e-9, atol=1e-12, msg=name)
