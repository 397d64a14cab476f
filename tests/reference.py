"""Straightforward reference implementations the fast layers are checked against.

Written the naive way on purpose: BN through ``F.batch_norm`` (a separate
pass), the SC-Module's grouped FC2 through a grouped ``conv1d``, then the
affine as its own multiply and add.
"""
import torch
import torch.nn.functional as F
from hypothesis import strategies as st

#: DN's generator options the references cover, to cross in property tests
DN_OPTIONS = st.fixed_dictionaries(dict(form=st.sampled_from(['residual', 'paper']),
                                        sc_input=st.sampled_from(['raw', 'normalized']),
                                        bound=st.sampled_from(['none', 'tanh']),
                                        bound_range=st.sampled_from([0.5, 2.0])))


def act_reference(sc, h):
    """The SC-Module's activation, by name (ReLU, or Sigmoid as in WeightNet)."""
    return {'ReLU': torch.relu, 'Sigmoid': torch.sigmoid}[type(sc.act).__name__](h)


def sc_reference(sc, v):
    h = act_reference(sc, F.linear(v, sc.fc1))
    out = F.conv1d(h[:, :, None], sc.fc2[:, :, None], groups=sc.groups)[:, :, 0]
    c = sc.num_features
    return out[:, :c], out[:, c:]


def bn_normalize(layer, x, running_mean, running_var):
    """Affine-free BN of x with BN's own train/eval semantics on cloned buffers."""
    bn = layer.norm
    training = bn.training or bn.running_mean is None
    return F.batch_norm(x, running_mean, running_var, None, None, training,
                        bn.momentum if bn.momentum is not None else 0.0, bn.eps)


def static_affine(layer, like):
    if layer.norm.affine:
        return layer.norm.weight, layer.norm.bias
    return torch.ones_like(like), torch.zeros_like(like)


def alpha_lambda(layer, d_alpha, d_lambda, like):
    """Eq. 7 (form='paper'): alpha, lambda are the SC-Module's outputs; residual: on gamma/beta.

    ``bound='tanh'``: gamma * (1 + k tanh(d_alpha)), beta + k tanh(d_lambda), gamma/beta
    1/0 without static affine (the paper form).
    """
    gamma, beta = static_affine(layer, like)
    if layer.bound == 'tanh':
        k = layer.bound_range
        return gamma * (1 + k * torch.tanh(d_alpha)), beta + k * torch.tanh(d_lambda)
    if layer.form == 'paper':
        return d_alpha, d_lambda
    return gamma + d_alpha, beta + d_lambda


def batch_or_running(layer, x, running_mean, running_var):
    """E[x], Var[x] (C,): the batch's in training, the running ones in eval."""
    if layer.norm.training:
        return x.mean((0, 2, 3)), x.var((0, 2, 3), unbiased=False)
    return running_mean, running_var


def dnb_reference(layer, x, running_mean, running_var):
    """DN-B: BN-normalise, then per-sample alpha/lambda from the SC-Module on GAP(x)
    (``sc_input='raw'``) or GAP(x_hat) (``'normalized'``)."""
    xn = bn_normalize(layer, x, running_mean, running_var)
    sc_in = xn.mean((2, 3)) if layer.sc_input == 'normalized' else x.mean((2, 3))
    d_alpha, d_lambda = sc_reference(layer.sc, sc_in)
    alpha, lam = alpha_lambda(layer, d_alpha, d_lambda, d_alpha[0])
    return xn * alpha[:, :, None, None] + lam[:, :, None, None]


def dnc_reference(layer, x, running_mean, running_var):
    mean, var = batch_or_running(layer, x, running_mean, running_var)
    std = torch.sqrt(var + layer.norm.eps)
    xn = bn_normalize(layer, x, running_mean, running_var)  # updates the running statistics
    if layer.sc_input == 'normalized':
        first, second = mean / std, std / torch.sqrt(running_var + layer.norm.eps)
    else:
        first, second = mean, std
    sc = layer.sc
    if layer.fuse == 'fc1':
        h = act_reference(sc, F.linear(first, sc.fc1) + F.linear(second, sc.fc1))
        out = F.conv1d(h[None, :, None], sc.fc2[:, :, None], groups=sc.groups)[0, :, 0]
    else:
        out = sum(F.conv1d(act_reference(sc, F.linear(v, sc.fc1))[None, :, None],
                           sc.fc2[:, :, None], groups=sc.groups)[0, :, 0]
                  for v in (first, second))
    c = x.shape[1]
    alpha, lam = alpha_lambda(layer, out[:c], out[c:], mean)
    return xn * alpha[None, :, None, None] + lam[None, :, None, None]


def sebn_reference(layer, x, running_mean, running_var):
    a = torch.sigmoid(layer.fc2(torch.relu(layer.fc1(x.mean((2, 3))))))
    xs = x * a[:, :, None, None]
    bn = layer.norm
    training = bn.training or bn.running_mean is None
    return F.batch_norm(xs, running_mean, running_var, bn.weight, bn.bias, training,
                        bn.momentum if bn.momentum is not None else 0.0, bn.eps)
