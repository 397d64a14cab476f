"""The deployment tools: ``tools/deployment/fuse_for_inference.py`` and ``pytorch2onnx.py``.

Both take a config (mmpretrain classifier or mmdet SSDLite) and an optional
checkpoint: a training checkpoint, or one written by ``fuse_for_inference.py``
(its ``meta`` says ``fused_for_inference``). Without a checkpoint the model is
randomly initialised, for checks.
"""
import argparse
import os
from typing import Optional, Tuple

import torch
from mmengine.config import Config, DictAction
from torch import nn

from ..models.build import build_model
from ..utils import save_checkpoint_atomic
from .fuse import fuse_for_inference
from .onnx_export import DEFAULT_OPSET, check_onnx, export_onnx, graph_module, graph_summary

#: Input size of the check (and of the export) when ``--shape`` is not given.
DEFAULT_SHAPE = {'mmpretrain': (224, 224), 'mmdet': (320, 320)}
FUSED_KEY = 'fused_for_inference'


def load_model(config: str, checkpoint: Optional[str] = None,
               cfg_options: Optional[dict] = None) -> Tuple[nn.Module, str, bool]:
    """``(model in eval mode, scope, already fused)`` for a config file and checkpoint."""
    if not os.path.isfile(config):
        raise SystemExit(f'config: no such file: {config}')
    cfg = Config.fromfile(config)  # imports the config's custom_imports (dn_mm)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    scope = cfg.get('default_scope', None) or 'mmpretrain'
    if scope not in DEFAULT_SHAPE:
        raise SystemExit(f'config: default_scope {scope!r} is not supported; '
                         f'supported: {sorted(DEFAULT_SHAPE)}')
    model = build_model(cfg.model, scope)
    fused = False
    if checkpoint is not None:
        if not os.path.isfile(checkpoint):
            raise SystemExit(f'checkpoint: no such file: {checkpoint}')
        ckpt = torch.load(checkpoint, map_location='cpu', weights_only=False)
        state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
        if not isinstance(state, dict):
            raise SystemExit(f'checkpoint: {checkpoint} holds no state dict')
        fused = bool((ckpt.get('meta') or {}).get(FUSED_KEY, False))
        if fused:
            model = fuse_for_inference(model, inplace=True)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise SystemExit(f'checkpoint: {checkpoint} does not fit {config}: {err}') from err
    return model.eval(), scope, fused


def _parser(description: str, out_help: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument('config', help='model config (mmpretrain classifier or mmdet SSDLite)')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='training or fused checkpoint; none: random weights, for checks')
    parser.add_argument('--out', required=True, help=out_help)
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), default=None,
                        help='input size (default 224 224 for classifiers, 320 320 for detectors)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the config, key=value pairs')
    return parser


def _shape(parser, args, scope) -> Tuple[int, int]:
    shape = tuple(args.shape) if args.shape else DEFAULT_SHAPE[scope]
    if min(shape) <= 0:
        parser.error(f'--shape: H and W must be positive, got {shape}')
    return shape


def fuse_main(argv=None) -> int:
    parser = _parser('Fold the norm layers of a model for inference and save it.',
                     'the fused checkpoint to write (.pth)')
    args = parser.parse_args(argv)
    model, scope, fused = load_model(args.config, args.checkpoint, args.cfg_options)
    if fused:
        parser.error(f'checkpoint: {args.checkpoint} is fused already')
    shape = _shape(parser, args, scope)
    counts = {}
    folded = fuse_for_inference(model, counts=counts)
    x = torch.randn(2, 3, *shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref, out = graph_module(model)[0](x), graph_module(folded)[0](x)
    ref, out = [ref] if torch.is_tensor(ref) else ref, [out] if torch.is_tensor(out) else out
    diff = max(float((a - b).abs().max()) for a, b in zip(ref, out))
    save_checkpoint_atomic({'state_dict': folded.state_dict(),
                            'meta': {FUSED_KEY: True, 'config': os.path.abspath(args.config),
                                     'folded': counts}}, args.out)
    print('folded: ' + ', '.join(f'{n} {k}' for k, n in sorted(counts.items())))
    print(f'max abs difference from the eval model on a random {tuple(x.shape)} input: {diff:.3g}')
    print(f'wrote {args.out}')
    return 0


def pytorch2onnx_main(argv=None) -> int:
    parser = _parser('Export a model (folded for inference) to ONNX, and check it in ONNX Runtime.',
                     'the ONNX file to write')
    parser.add_argument('--dynamic-batch', action='store_true', help='a dynamic batch axis')
    parser.add_argument('--opset', type=int, default=DEFAULT_OPSET,
                        help=f'ONNX opset, 11..20 (default {DEFAULT_OPSET})')
    parser.add_argument('--atol', type=float, default=1e-4,
                        help='largest max-abs difference ONNX Runtime vs PyTorch eval '
                             '(default 1e-4)')
    parser.add_argument('--no-check', action='store_true', help='skip the ONNX Runtime check')
    args = parser.parse_args(argv)
    if not 11 <= args.opset <= 20:
        parser.error(f'--opset must be in 11..20 (the TorchScript exporter), got {args.opset}')
    model, scope, fused = load_model(args.config, args.checkpoint, args.cfg_options)
    shape = _shape(parser, args, scope)
    names = export_onnx(model, args.out, shape, dynamic_batch=args.dynamic_batch,
                        opset=args.opset, fuse=not fused)
    summary = graph_summary(args.out)
    print(f'wrote {args.out}: input {summary["input_shape"]}, outputs {", ".join(names)}')
    print(f'operators ({summary["opset"]}): {", ".join(summary["op_types"])}')
    if summary['custom']:
        print(f'non-standard operators: {summary["custom"]}')
        return 1
    if args.no_check:
        return 0
    diffs = check_onnx(args.out, model, shape, batches=(1, 4) if args.dynamic_batch else (1,))
    print('ONNX Runtime vs PyTorch eval, max abs: '
          + ', '.join(f'{k} {v:.3g}' for k, v in diffs.items()))
    worst = max(diffs.values())
    if worst > args.atol:
        print(f'FAIL: {worst:.3g} > --atol {args.atol:g}')
        return 1
    print(f'OK: within --atol {args.atol:g}')
    return 0
