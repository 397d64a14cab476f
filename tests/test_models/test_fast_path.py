"""The hand-written fast path (dn_mm.models.layers.per_sample_affine) against the
straightforward references."""
import copy
from unittest import mock

import pytest
import torch
from helpers import make_layer
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from reference import DN_OPTIONS, dnb_reference, dnc_reference, sebn_reference
from torch import nn

from dn_mm import DNB, DNC, SEBN
from dn_mm.models.layers import per_sample_affine
from dn_mm.models.layers.per_sample_affine import affine_normalize, sample_affine, sample_moments

REFERENCES = {DNB: dnb_reference, DNC: dnc_reference, SEBN: sebn_reference}


def kernels(bn: bool):
    """Force BN's CPU kernels (True) or the plain ops (False) whatever the size."""
    return mock.patch.object(per_sample_affine, 'MIN_BN_KERNEL_NUMEL', 0 if bn else 1 << 62)



def check_against_reference(layer, x, gy=None, tol=1e-5):
    """Fast path (float32) == reference (float32) within ``tol`` at each tensor's scale.

    Both sides round differently (F.linear vs a grouped conv1d, one pass vs
    two); where the problem itself is ill-conditioned (BN over two values) the
    float32 reference is off from the float64 truth by more than ``tol``, and
    the bound widens by that error of the reference's own.
    """
    assert layer.fast_path  # the default
    truth_layer = copy.deepcopy(layer).double()
    ref_layer = copy.deepcopy(layer)

    def run(layer, x, reference):
        rm, rv = layer.norm.running_mean.clone(), layer.norm.running_var.clone()
        x = x.clone().requires_grad_()
        y = REFERENCES[type(layer)](layer, x, rm, rv) if reference else layer(x)
        if not reference:
            rm, rv = layer.norm.running_mean, layer.norm.running_var
        params = list(layer.parameters())
        grads = torch.autograd.grad(y, [x] + params, gy.to(y.dtype), allow_unused=True)
        grads = [g if g is not None else torch.zeros_like(p) for g, p in zip(grads, [x] + params)]
        return [t.detach().double() for t in [y, rm, rv] + grads]

    gy = torch.randn(x.shape) if gy is None else gy
    got = run(layer, x, reference=False)
    want = run(ref_layer, x, reference=True)
    truth = run(truth_layer, x.double(), reference=True)
    names = ['y', 'running_mean', 'running_var', 'grad x'] + [
        'grad ' + n for n, _ in layer.named_parameters()]
    for name, g, w, t in zip(names, got, want, truth):
        scale = max(1.0, t.abs().max().item())
        ref_err = (w - t).abs().max().item() / scale
        err = (g - w).abs().max().item() / scale
        assert err <= tol + 3 * ref_err, f'{name}: {err:.2e} (reference off by {ref_err:.2e})'


@settings(max_examples=60, deadline=None)
@given(cls=st.sampled_from([DNB, DNC, SEBN]), n=st.integers(2, 5), c=st.integers(1, 40),
       h=st.integers(1, 7), w=st.integers(1, 7), r=st.integers(1, 8),
       g=st.sampled_from(['oup', 1, 2, 3]), affine=st.booleans(),
       fuse=st.sampled_from(['fc1', 'fc2']), train=st.booleans(),
       offset=st.sampled_from([0.0, 3.0]), bn_kernels=st.booleans(), options=DN_OPTIONS,
       seed=st.integers(0, 999))
def test_fast_path_matches_reference_float32(cls, n, c, h, w, r, g, affine, fuse, train, offset,
                                             bn_kernels, options, seed):
    # two values per channel: BN's output is +-1 whatever x, its x-gradient is
    # rounding noise around 0 in any float32 implementation; nothing to compare
    assume(not (train and n * h * w == 2))
    options = {} if cls is SEBN else options
    layer = make_layer(cls, c, r, g, affine, fuse, seed, **options).train(train)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(n, c, h, w, generator=gen) * 2 + offset
    with kernels(bn_kernels):
        check_against_reference(layer, x)


@pytest.mark.parametrize('cls', [DNB, DNC, SEBN])
@pytest.mark.parametrize('train', [True, False])
def test_generic_path_channels_last_and_broadcast_grad(cls, train):
    """Channels-last inputs and stride-0 output gradients take the plain-op path."""
    layer = make_layer(cls, 12, 4, 2, True, 'fc1', seed=1).train(train)
    x = (torch.randn(4, 12, 5, 6) + 1).contiguous(memory_format=torch.channels_last)
    check_against_reference(layer, x)
    layer = make_layer(cls, 12, 4, 2, True, 'fc1', seed=1).train(train)
    with kernels(True):  # x qualifies, the gradient does not
        check_against_reference(layer, torch.randn(4, 12, 5, 6),
                                gy=torch.ones(1).expand(4, 12, 5, 6))


@pytest.mark.parametrize('cls', [DNB, DNC, SEBN])
@pytest.mark.parametrize('train', [True, False])
@pytest.mark.parametrize('bn_kernels', [True, False])
def test_no_grad_and_frozen_input_paths(cls, train, bn_kernels):
    """Inference (no autograd functions on x) and an input without gradient."""
    with kernels(bn_kernels):
        _check_no_grad_and_frozen_input_paths(cls, train)


def _check_no_grad_and_frozen_input_paths(cls, train):
    x = torch.randn(4, 24, 9, 9) + 1
    for mode in (torch.no_grad, torch.inference_mode):
        layer = make_layer(cls, 24, 4, 2, True, 'fc2', seed=7).train(train)
        rm, rv = layer.norm.running_mean.clone(), layer.norm.running_var.clone()
        with mode():
            y = layer(x)
        y_ref = REFERENCES[cls](layer, x, rm, rv)
        torch.testing.assert_close(y, y_ref, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(layer.norm.running_var, rv, atol=1e-6, rtol=1e-5)
    layer = make_layer(cls, 24, 4, 2, True, 'fc2', seed=7).train(train)
    rm, rv = layer.norm.running_mean.clone(), layer.norm.running_var.clone()
    params = list(layer.parameters())
    gy = torch.randn(x.shape)
    grads = torch.autograd.grad(layer(x), params, gy, allow_unused=True)
    grads_ref = torch.autograd.grad(REFERENCES[cls](layer, x, rm, rv), params, gy,
                                    allow_unused=True)
    for got, want in zip(grads, grads_ref):
        if want is None:
            assert got is None or not got.any()
        else:
            torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize('bn_kernels', [True, False])
def test_large_mean_statistics_stay_accurate(bn_kernels):
    """Per-sample variance without E[x^2] - E[x]^2 cancellation."""
    x = torch.randn(4, 3, 32, 32, dtype=torch.float64) * 0.01 + 1000
    with kernels(bn_kernels):
        mean, var = sample_moments(x.float())
    torch.testing.assert_close(mean.double(), x.mean((2, 3)), atol=1e-4, rtol=1e-6)
    torch.testing.assert_close(var.double(), x.var((2, 3), unbiased=False), atol=0, rtol=1e-2)


@pytest.mark.parametrize('bn_kernels', [True, False])
def test_saves_no_more_than_batchnorm(bn_kernels):
    """The training graph keeps x and (N, C)-sized tensors only, as BN keeps x."""
    x = torch.randn(4, 16, 8, 8, requires_grad=True)
    for layer in (DNB(16, r=4, g=1), SEBN(16, r=4), DNC(16, r=4), nn.BatchNorm2d(16)):
        saved = []

        def pack(t):
            saved.append(t)
            return t

        with kernels(bn_kernels), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            layer(x)
        big = [t for t in saved if t.numel() >= x.numel()]
        assert all(t.data_ptr() == x.data_ptr() for t in big), type(layer).__name__
        assert sum(t.numel() for t in saved if t.data_ptr() != x.data_ptr()) <= 64 * 16


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
@pytest.mark.parametrize('bn_kernels', [True, False])
@pytest.mark.parametrize('shape', [(4, 16, 6, 6), (2, 16, 32, 32)])  # small / large rows
def test_low_precision_inputs(dtype, bn_kernels, shape):
    layer = make_layer(DNB, 16, 4, 1, True, 'fc1', seed=3)
    ref_layer = make_layer(DNB, 16, 4, 1, True, 'fc1', seed=3)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
    xl = x.to(dtype).requires_grad_()
    with kernels(bn_kernels):
        y = layer(xl)
        assert y.dtype == dtype and layer.norm.running_mean.dtype == torch.float32
        y.float().square().sum().backward()
    assert xl.grad.dtype == dtype and torch.isfinite(xl.grad).all()
    xr = xl.detach().float().requires_grad_()
    y_ref = ref_layer(xr)
    y_ref.square().sum().backward()
    torch.testing.assert_close(y.float(), y_ref, atol=0.05, rtol=0.02)
    # gradients of a squared output, rounded to 8 mantissa bits: a few 1e-1 absolute
    torch.testing.assert_close(xl.grad.float(), xr.grad, atol=0.15, rtol=0.05)


def test_plain_path_supports_double_backward():
    layer = make_layer(DNB, 6, 2, 1, True, 'fc1', seed=4).double()
    layer.fast_path = False
    x = torch.randn(3, 6, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradgradcheck(lambda x: layer(x), (x,))


def test_scale_shift_api_unchanged():
    layer = make_layer(DNB, 8, 2, 1, True, 'fc1', seed=5)
    x = torch.randn(3, 8, 4, 4)
    scale, shift, alpha, lam = layer.scale_shift(x)
    assert scale.shape == shift.shape == alpha.shape == lam.shape == (3, 8)
    y = layer(x)
    torch.testing.assert_close(y, x * scale[:, :, None, None] + shift[:, :, None, None])


# ---- gradcheck of the Functions in float64 --------------------------------------------

def _coefficients(w):
    """A small nonlinear graph from the moments to (scale, shift), like DN-B's."""
    def coefficients(mean_n, var_n):
        inv = torch.rsqrt(var_n.mean(0) + mean_n.var(0, correction=0) + 1e-3)
        scale = (1 + torch.tanh(mean_n @ w)) * inv
        shift = torch.sin(mean_n) - mean_n.mean(0) * scale
        return scale, shift
    return coefficients


@pytest.fixture
def one_thread():
    """BN's kernels open an OpenMP region per call even on tiny tensors: gradcheck makes
    thousands of calls, each of which stalls on CPUs shared with other processes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize('layout', ['bn_kernels', 'plain', 'channels_last'])
def test_gradcheck_functions(layout, one_thread):
    with kernels(layout == 'bn_kernels'):
        _check_gradcheck_functions(layout == 'channels_last')


def _check_gradcheck_functions(channels_last):
    gen = torch.Generator().manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    x = (torch.randn(3, 4, 3, 2, dtype=torch.float64, generator=gen) + 0.5).contiguous(
        memory_format=fmt).requires_grad_()
    scale = torch.randn(3, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    shift = torch.randn(3, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(4, 4, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: sample_moments(x), (x,))
    assert torch.autograd.gradcheck(lambda x: sample_moments(x, with_var=False)[0], (x,))
    assert torch.autograd.gradcheck(sample_affine, (x, scale, shift))
    assert torch.autograd.gradcheck(
        lambda x, w: affine_normalize(x, _coefficients(w))[0], (x, w))
    mean_only = lambda m, v: (torch.cos(m) + 1, m * 2)  # noqa: E731
    assert torch.autograd.gradcheck(lambda x: affine_normalize(x, mean_only, 'mean')[0], (x,))
    # coefficients that ignore the moments: the x-gradient still arrives
    ignore = lambda m, v: (scale * 1, shift * 1)  # noqa: E731
    assert torch.autograd.gradcheck(lambda x: affine_normalize(x, ignore)[0], (x,))
    assert torch.autograd.gradcheck(lambda x: affine_normalize(x, ignore, 'none')[0], (x,))


@pytest.mark.parametrize('cls', [DNB, DNC, SEBN])
def test_output_takes_inplace_activation(cls):
    """The output is no view, so an in-place ReLU after the layer works (and trains)."""
    layer = make_layer(cls, 8, 2, 1, True, 'fc1', seed=6)
    stats = layer.norm.running_mean.clone(), layer.norm.running_var.clone()
    x = torch.randn(3, 8, 5, 5, requires_grad=True)
    y = nn.ReLU6(inplace=True)(layer(x))
    y.sum().backward()
    x2 = x.detach().clone().requires_grad_()
    y2 = torch.clamp(REFERENCES[cls](layer, x2, *stats), 0, 6)
    y2.sum().backward()
    torch.testing.assert_close(y, y2, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(x.grad, x2.grad, atol=1e-5, rtol=1e-5)
