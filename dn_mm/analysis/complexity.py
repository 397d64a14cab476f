"""#params and Mult-Adds in the convention of the Dynamic Normalization paper.

Mult-Adds = the multiply-adds of convolutions and fully connected layers only,
for one image (batch 1):

* convolution: ``out_elements * (in_channels / groups) * kh * kw``
  (transposed convolution: ``in_elements * (out_channels / groups) * kh * kw``);
* fully connected (``nn.Linear``): ``out_features * in_features`` per sample
  (biases, BN, activations, pooling, additions are not counted);
* DN-B: the SC-Module FCs per sample, ``sc.mult_adds()``;
  DN-C: the SC-Module runs on E[X] and on Std[X]: FC1 twice and FC2 once
  (``fuse='fc1'``, DN-C1) or both FCs twice (``fuse='fc2'``, DN-C2);
* SE-BN: the two SE FCs (``nn.Linear`` children, counted like any FC).

Everything is measured with forward hooks on a real forward pass of one
``3 x H x W`` image in eval mode, so every layer is counted as often as it
runs. #params are counted on the model as built (DN layers with
``affine=True`` keep BN's static gamma/beta) and in the paper's convention
(``params_paper``: the DN-B/DN-C layers without static gamma/beta, the
paper's model, see /work/shared/paper/README.md).

Importable: ``load_config``, ``build_model``, ``count``, ``count_config``.
"""
import math
import os.path as osp
from contextlib import contextmanager
from typing import Optional, Sequence

import torch
from torch import nn
from torch.nn.modules.conv import _ConvNd, _ConvTransposeNd

from ..models import DNB, DNC, SEBN, DynamicNormBase, SCModule, dn_layers
from ..models import build_model as build_in_scope
from ..utils import project_root

REPO_ROOT = project_root()

CLASSIFIER_SHAPE = (224, 224)
DETECTOR_SHAPE = (320, 320)


def load_config(config, cfg_options: Optional[dict] = None):
    """``Config.fromfile`` with clear errors, plus ``--cfg-options`` overrides."""
    from mmengine.config import Config
    if isinstance(config, Config):
        cfg = config
    else:
        if not osp.isfile(config):
            raise FileNotFoundError(f'config: no such file: {config}')
        cfg = Config.fromfile(config)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def scope_of(cfg) -> str:
    return cfg.get('default_scope', None) or 'mmpretrain'


def build_model(cfg) -> nn.Module:
    """Build ``cfg.model`` in the config's default scope (scope-safe).

    The top-level ``data_preprocessor`` goes into the model as the Runner does.
    """
    if cfg.get('custom_imports', None):
        from mmengine.utils import import_modules_from_strings
        import_modules_from_strings(**cfg.custom_imports)
    model_cfg = cfg.model.copy()
    if cfg.get('data_preprocessor', None) is not None and 'data_preprocessor' not in model_cfg:
        model_cfg['data_preprocessor'] = cfg.data_preprocessor.copy()
    return build_in_scope(model_cfg, scope_of(cfg))


def default_shape(cfg) -> tuple:
    return DETECTOR_SHAPE if scope_of(cfg) == 'mmdet' else CLASSIFIER_SHAPE


def _forward_tensor(model: nn.Module, x: torch.Tensor):
    """Plain network forward: mmpretrain/mmdet ``mode='tensor'``, else ``model(x)``.

    ``mode='tensor'`` is ``head(extract_feat(x))`` for an mmpretrain classifier
    and ``bbox_head(extract_feat(x))`` (``_forward``) for an mmdet detector.
    """
    import inspect
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        params = {}
    if 'mode' in params:
        return model(x, mode='tensor')
    return model(x)


def dn_affine_params(model: nn.Module) -> int:
    """Static gamma/beta elements of the DN-B/DN-C layers (absent from the paper's counts)."""
    total = 0
    for _, layer in dn_layers(model):
        if isinstance(layer, (DNB, DNC)) and layer.norm.affine:
            total += layer.norm.weight.numel() + layer.norm.bias.numel()
    return total


def sc_call_mult_adds(layer: nn.Module, batch: int) -> int:
    """SC-Module multiply-adds of one call of a DN layer on ``batch`` samples."""
    sc = layer.sc
    if isinstance(layer, DNC):  # batch-shared: once per call, on E[X] and Std[X]
        fc1, fc2 = sc.fc1.numel(), sc.fc2.numel()
        return 2 * fc1 + fc2 if layer.fuse == 'fc1' else 2 * (fc1 + fc2)
    return sc.mult_adds() * batch


@contextmanager
def one_thread():
    """A batch-1 forward of these models is fastest on one intra-op thread (and
    on a shared CPU several threads can be many times slower): use one, then restore."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def count(model: nn.Module, shape: Sequence[int] = CLASSIFIER_SHAPE, in_channels: int = 3) -> dict:
    """Count #params and Mult-Adds of ``model`` on one ``in_channels x H x W`` image.

    Returns ``dict(params, params_paper, mult_adds, conv, fc, sc, se, shape)``:
    ``params`` of the model as built, ``params_paper`` without the DN layers'
    static gamma/beta, ``mult_adds`` = conv + fc + sc + se (see module doc).
    """
    if len(shape) == 1:
        shape = (shape[0], shape[0])
    h, w = (int(s) for s in shape)
    if h <= 0 or w <= 0:
        raise ValueError(f'shape must be positive, got {tuple(shape)}')
    se_linears = set()
    for _, layer in dn_layers(model):
        if isinstance(layer, SEBN):
            se_linears.update(id(m) for m in layer.modules() if isinstance(m, nn.Linear))
    totals = dict(conv=0, fc=0, sc=0, se=0)

    def conv_hook(m, inputs, output):
        k = math.prod(m.kernel_size)
        if isinstance(m, _ConvTransposeNd):
            totals['conv'] += inputs[0].numel() * (m.out_channels // m.groups) * k
        else:
            totals['conv'] += output.numel() * (m.in_channels // m.groups) * k

    def linear_hook(m, inputs, output):
        key = 'se' if id(m) in se_linears else 'fc'
        totals[key] += output.numel() * m.in_features

    def dn_hook(m, inputs, output):
        totals['sc'] += sc_call_mult_adds(m, inputs[0].shape[0])

    handles = []
    for m in model.modules():
        if isinstance(m, _ConvNd):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
        elif isinstance(m, (DNB, DNC)) or (isinstance(getattr(m, 'sc', None), SCModule)
                                            and isinstance(m, DynamicNormBase)):
            handles.append(m.register_forward_hook(dn_hook))
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device('cpu')
        x = torch.randn(1, in_channels, h, w, device=device)
        with torch.no_grad(), one_thread():
            _forward_tensor(model, x)
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    params = sum(p.numel() for p in model.parameters())
    return dict(params=params, params_paper=params - dn_affine_params(model),
                mult_adds=sum(totals.values()), shape=(in_channels, h, w), **totals)


_COUNT_CACHE = {}


def model_key(cfg, shape) -> str:
    """Identity of a count: scope, model settings and input shape."""
    import json
    model = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    return json.dumps([scope_of(cfg), model, [int(s) for s in shape]], sort_keys=True, default=str)


def count_config(config, shape: Optional[Sequence[int]] = None,
                 cfg_options: Optional[dict] = None) -> dict:
    """Build the model of a config file and :func:`count` it.

    ``shape`` defaults to 224x224 for classifiers and 320x320 for detectors
    (mmdet scope). The result also has ``config`` and ``scope``. Configs with
    identical ``model`` settings (e.g. the same model at another learning
    rate) are built and counted once per process.
    """
    cfg = load_config(config, cfg_options)
    shape = tuple(shape) if shape else default_shape(cfg)
    if len(shape) == 1:
        shape = (shape[0], shape[0])
    key = model_key(cfg, shape)
    if key not in _COUNT_CACHE:
        _COUNT_CACHE[key] = count(build_model(cfg), shape)
    result = dict(_COUNT_CACHE[key])
    result.update(config=config if isinstance(config, str) else cfg.filename, scope=scope_of(cfg))
    return result


def fmt_m(value: float, digits: int = 2) -> str:
    """Millions, the paper's unit: 299620000 -> '299.62M'."""
    return f'{value / 1e6:.{digits}f}M'


def format_report(result: dict) -> str:
    c, h, w = result['shape']
    lines = [
        f"Config:     {result.get('config', '-')}",
        f'Input:      1x{c}x{h}x{w} (batch 1)',
        f"Params:     {fmt_m(result['params'])} ({result['params']:,})  model as built",
    ]
    if result['params_paper'] != result['params']:  # DN layers with static gamma/beta
        lines.append(f"Params:     {fmt_m(result['params_paper'])} ({result['params_paper']:,})  "
                     "without the DN layers' static gamma/beta (the paper's convention)")
    lines += [
        f"Mult-Adds:  {fmt_m(result['mult_adds'])} ({result['mult_adds']:,})  paper convention "
        '(conv + FC + SC-Module/SE FCs)',
        f"  conv {fmt_m(result['conv'])}, FC {fmt_m(result['fc'])}, "
        f"SC-Module {fmt_m(result['sc'])}, SE {fmt_m(result['se'])}",
    ]
    return '\n'.join(lines)


if __name__ == '__main__':  # pragma: no cover
    raise SystemExit('use tools/analysis_tools/get_flops.py')
