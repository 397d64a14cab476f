"""BN -> DN conversion, for fine-tuning DN models from BN-pretrained weights.

A fresh DN layer with ``affine=True`` is exactly BN (its SC-Module's FC2
starts at zero), so copying BN's gamma/beta and statistics into the DN
layer's BN child gives a DN model with identical outputs that then learns
the dynamic part.
"""
from typing import Dict, Iterator, Tuple, Union

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from .layers.dynamic_norm import BN_KEYS, DynamicNormBase
from .layers.sc_module import SCModule


def dn_layers(model: nn.Module) -> Iterator[Tuple[str, DynamicNormBase]]:
    """``(name, layer)`` of every DN / SE-BN layer of ``model``."""
    for name, module in model.named_modules():
        if isinstance(module, DynamicNormBase):
            yield name, module


def _check_identity_cfg(norm_cfg: dict) -> dict:
    if not isinstance(norm_cfg, dict) or 'type' not in norm_cfg:
        raise ValueError(f"norm_cfg must be a dict with a 'type' key, e.g. dict(type='DNB'), "
                         f"got {norm_cfg!r}")
    if norm_cfg.get('form', 'residual') != 'residual':
        raise ValueError(f"norm_cfg form={norm_cfg['form']!r} cannot reproduce a BN layer "
                         "(its alpha/lambda start random): convert with form='residual'")
    if norm_cfg.get('affine', True) is False:
        raise ValueError('norm_cfg affine=False cannot reproduce a BN layer\'s gamma/beta; '
                         'convert with affine=True (the default)')
    return dict(norm_cfg)


def convert_bn_to_dn(model: nn.Module, norm_cfg: dict) -> nn.Module:
    """Replace every ``_BatchNorm`` of ``model`` by the layer of ``norm_cfg``.

    The new layer takes over BN's gamma/beta, running statistics, eps,
    momentum, train/eval mode and ``requires_grad``, so outputs are unchanged.
    Returns ``model`` (converted in place; a bare BN module is returned new).
    """
    from mmcv.cnn import build_norm_layer
    from mmengine.registry import MODELS
    norm_cfg = _check_identity_cfg(norm_cfg)
    layer_cls = MODELS.get(norm_cfg['type'])
    if not (isinstance(layer_cls, type) and issubclass(layer_cls, DynamicNormBase)):
        raise ValueError(f"norm_cfg type {norm_cfg['type']!r} is not a dn_mm layer "
                         "(valid: 'DNB', 'DN-B', 'DNC', 'DN-C', 'SEBN')")

    def convert(bn: _BatchNorm) -> nn.Module:
        cfg = dict(norm_cfg)
        cfg.setdefault('eps', bn.eps)
        cfg.setdefault('momentum', bn.momentum)
        layer = build_norm_layer(cfg, bn.num_features)[1]
        layer.norm.load_state_dict(bn.state_dict())
        layer.to(device=bn.running_mean.device if bn.running_mean is not None else None)
        layer.train(bn.training)
        if bn.weight is not None and not bn.weight.requires_grad:
            layer.requires_grad_(False)
        return layer

    if isinstance(model, _BatchNorm):
        return convert(model)
    for name, child in list(model.named_children()):
        if isinstance(child, DynamicNormBase):
            continue  # already dynamic; its BN child is part of it
        if isinstance(child, _BatchNorm):
            setattr(model, name, convert(child))
        else:
            convert_bn_to_dn(child, norm_cfg)
    return model


def _is_dn_child(key: str, state_dict: Dict[str, torch.Tensor]) -> bool:
    """Whether ``<layer>.norm.running_mean`` is the BN child of a DN / SE-BN layer.

    It is when ``<layer>`` also holds the SC-Module (``sc.fc1``, DN-B / DN-C) or the
    SE block (``fc1.weight``, SE-BN); a plain BN layer that is itself named
    ``norm`` holds neither and is converted.
    """
    if not (key == 'norm.running_mean' or key.endswith('.norm.running_mean')):
        return False
    layer = key[:-len('norm.running_mean')]
    return layer + 'sc.fc1' in state_dict or layer + 'fc1.weight' in state_dict


def bn_checkpoint_to_dn(state_dict: Dict[str, torch.Tensor], r: int = 16,
                        g: Union[int, str] = 'oup', seed: int = 0) -> Dict[str, torch.Tensor]:
    """Turn a BN model's state dict into its DN-B twin's (``affine=True``).

    Every BN layer (found by its ``running_mean``) moves under ``<layer>.norm``
    and gets SC-Module weights ``<layer>.sc.fc1`` (seeded, like ``nn.Linear``)
    and ``<layer>.sc.fc2`` (zeros), so the DN-B model's outputs equal the BN
    model's. Other keys are kept as they are, in order.
    """
    prefixes = {k[:-len('running_mean')] for k in state_dict if k.endswith('running_mean')
                and not _is_dn_child(k, state_dict)}
    if not prefixes:
        raise ValueError('the checkpoint has no BN layer (no "*.running_mean" key) to convert')
    moved = {p + key: p + 'norm.' + key for p in prefixes for key in BN_KEYS}
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for key, value in state_dict.items():
        out[moved.get(key, key)] = value
        prefix = key[:-len('running_mean')]
        if not key.endswith('running_mean') or prefix not in prefixes:
            continue
        sc = SCModule(value.numel(), r=r, g=g)
        with torch.no_grad():
            bound = 1.0 / max(sc.fc1.shape[1], 1) ** 0.5  # nn.Linear's default init
            sc.fc1.uniform_(-bound, bound, generator=gen)
        for name, param in sc.named_parameters():
            out[prefix + 'sc.' + name] = param.detach().to(value.dtype).clone()
    return out
