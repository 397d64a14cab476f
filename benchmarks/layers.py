"""Layer-level rows: BN, DN-B, DN-C and SE-BN at MobileNetV2's shapes, training and inference."""
import torch
from common import DNB_LABEL, SEBN_LABEL, autocast_ctx, interleaved_medians
from torch import nn

LAYER_SHAPES = [(16, 32, 112, 112), (16, 144, 56, 56), (16, 192, 28, 28), (16, 576, 14, 14),
                (16, 1280, 7, 7)]
QUICK_LAYER_SHAPES = [(8, 144, 28, 28), (8, 1280, 7, 7)]

def layer_variants():
    from dn_mm import DNB, DNC, SEBN
    return {
        'BN': lambda c: nn.BatchNorm2d(c),
        DNB_LABEL: lambda c: DNB(c, r=16, g=1),
        'DN-B (16,oup)': lambda c: DNB(c, r=16, g='oup'),
        'DN-C (16,1)': lambda c: DNC(c, r=16, g=1),
        SEBN_LABEL: lambda c: SEBN(c, r=16),
    }


def layer_rows(shapes, device, reps, log):
    rows = []
    variants = layer_variants()
    for shape in shapes:
        n, c, h, w = shape
        gen = torch.Generator().manual_seed(0)
        for dtype in ('fp32', 'bf16'):
            in_dtype = torch.bfloat16 if dtype == 'bf16' else torch.float32
            # under autocast the norm layer's input is a bf16 conv output
            x = torch.randn(shape, generator=gen).to(device=device, dtype=in_dtype).requires_grad_()
            gy = torch.randn(shape, generator=gen).to(device=device, dtype=in_dtype)
            layers = {name: make(c).to(device) for name, make in variants.items()}
            for mode in ('train', 'infer'):
                fns = {}
                for name, layer in layers.items():
                    layer.train(mode == 'train')
                    fns[name] = (_train_layer if mode == 'train' else _infer_layer)(
                        layer, x, gy, device, dtype)
                medians, _ = interleaved_medians(fns, device, reps)
                row = dict(shape=shape, mode=mode, dtype=dtype, times=medians)
                rows.append(row)
                log(f'  layer {shape} {mode} {dtype}: BN {medians["BN"] * 1e3:.2f} ms, '
                    + ', '.join(f'{k} {v / medians["BN"]:.2f}x'
                                for k, v in medians.items() if k != 'BN'))
    return rows


def _train_layer(layer, x, gy, device, dtype):
    def step():
        x.grad = None
        layer.zero_grad(set_to_none=True)
        with autocast_ctx(device, dtype):
            y = layer(x)
        y.backward(gy)
    return step


def _infer_layer(layer, x, gy, device, dtype):
    def step():
        with torch.no_grad(), autocast_ctx(device, dtype):
            layer(x)
    return step
