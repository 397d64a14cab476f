"""The norm study: does DN-B train, and do the paper's claims hold on real data? (``make study``)

The claims (Tables 1, 2, 4, 8): DN-B is more accurate than BN for +0.2%
Mult-Adds and trains at a learning rate and a batch size where BN degrades.
This trains MobileNetV2 (mmpretrain's, every norm layer replaced through
``norm_cfg``) on Fashion-MNIST with each norm variant over an lr sweep at
batch 8, several seeds each, with no gradient clipping, no lr multipliers
and no warm-up, and records for every run whether and when it diverged, best
val top-1, the test top-1 of that best epoch's weights, the final train loss
and the gradient norm of the SC-Modules. Two designs (:data:`PRESETS`): a
*screen* crossing every option of the DN-B layer (:data:`FACTORS`) in short
runs, and a *converge* preset whose runs are long enough for BN to converge.

Data: the Fashion-MNIST idx files (``tools/dataset_converters/
fetch_fashion_mnist.sh``), train split 80/20 into train/val per class exactly
as ``prepare_imagenet100.py`` splits ImageNet (:func:`dn_mm.dataset_tools.split_class`),
the 10k test images as test; 28x28 grey images padded to 32x32 (random
crop-with-padding and flip where a preset augments). Recipe as the paper's
configs (SGD, momentum 0.9, weight decay 4e-5, cosine lr decay per iteration,
no warmup) plus DenseNAS's label smoothing 0.1. Sizes are chosen per
``--preset`` to fit a budget; the JSON records them.

The runs are plain PyTorch loops (no Runner: hundreds of short runs), each
seeded, single-threaded, in ``--workers`` processes side by side.
"""
import gzip
import itertools
import math
import os
import time
from typing import Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..dataset_tools import split_class
from ..models import build_model as build_in_scope
from ..models import dn_layers

#: The DN-B layer's generator options, crossed in full by the screen preset
#: (form x SC-Module activation x what the SC-Module reads x bounding).
FACTORS = dict(form=('paper', 'residual'), act=('ReLU', 'Sigmoid'),
               sc_input=('raw', 'normalized'), bound=('none', 'tanh'))


def dn_label(form: str, act: str, sc_input: str, bound: str) -> str:
    """The study's name of a DN-B combination, e.g. ``'DN-B residual/ReLU/raw/none'``."""
    return f'DN-B {form}/{act}/{sc_input}/{bound}'


def _dnb(form: str, act: str, sc_input: str, bound: str) -> dict:
    return dict(type='DNB', r=16, g=1, form=form, act_cfg=dict(type=act), sc_input=sc_input,
                bound=bound)


#: norm variants: label -> norm_cfg (r=16, g=1: the paper's main DN rows, Tables 1, 4, 8)
VARIANTS: Dict[str, dict] = {
    'BN': dict(type='BN'),
    'SE-BN': dict(type='SEBN', r=16),
    **{dn_label(*combo): _dnb(*combo) for combo in itertools.product(*FACTORS.values())},
    'DN-C1 paper': dict(type='DNC', r=16, g=1, fuse='fc1', form='paper'),
    'DN-C1 residual': dict(type='DNC', r=16, g=1, fuse='fc1', form='residual'),
}
#: the paper's form as written (Eq. 7, ReLU: the SC-Module of SE, which it extends) and
#: dn_mm's default before this study (residual, ReLU, raw input, unbounded)
PAPER_AS_WRITTEN = dn_label('paper', 'ReLU', 'raw', 'none')
OLD_DEFAULT = dn_label('residual', 'ReLU', 'raw', 'none')
SCREEN_VARIANTS = ('BN', 'SE-BN') + tuple(
    dn_label(*combo) for combo in itertools.product(*FACTORS.values()))
#: the screen's best two combinations by :func:`~dn_mm.analysis.norm_study_report.rank`
#: (docs/study.md, docs/norm_study/screen)
SCREEN_BEST = (dn_label('residual', 'Sigmoid', 'normalized', 'none'),
               dn_label('residual', 'Sigmoid', 'raw', 'tanh'))
CONVERGE_VARIANTS = ('BN', 'SE-BN', PAPER_AS_WRITTEN, OLD_DEFAULT) + SCREEN_BEST
QUICK_VARIANTS = ('BN', dn_label('paper', 'Sigmoid', 'raw', 'none'))

#: what each preset runs, all at one batch size. images: training images per epoch (a
#: fixed random subset of the train split, the same for every run of a seed). Both CPU
#: presets: width 0.35, stem stride 1 (see :func:`build_classifier`), no augmentation
#: (in calibration runs of BN at lr 0.05, batch 8, these reached 75% test top-1 in 2000
#: iterations where the stride-2, augmented setting reached 35%).
_CPU = dict(batch=8, widen=0.35, stem_stride=1, augment=False)
PRESETS = {
    # which combinations train at all, and at which lr: short runs (200 iterations), the
    # full factorial
    'screen': dict(_CPU, variants=SCREEN_VARIANTS, seeds=(0, 1, 2), lrs=(0.05, 0.2, 0.5, 1.0),
                   images=1600, epochs=1, val_images=500, test_images=1000),
    # long enough that BN converges (>= 85% test top-1 at lr 0.05 on every seed): 7500
    # iterations (5000 gave BN 84.4 and 83.6 on seeds 0 and 1 in calibration)
    'converge': dict(_CPU, variants=CONVERGE_VARIANTS, seeds=(0, 1, 2), lrs=(0.05, 0.2, 0.5),
                     images=30000, epochs=2, val_images=1000, test_images=2000),
    # the converge design at full size, for a GPU
    'gpu': dict(_CPU, variants=CONVERGE_VARIANTS, seeds=(0, 1, 2), lrs=(0.05, 0.2, 0.5),
                widen=1.0, images=48000, epochs=10, val_images=12000, test_images=10000),
    # the GPU check's few minutes (benchmarks/gpu_check.py): BN, the default DN-B and the
    # old default at full width, one epoch, the paper's lr, one seed
    'gpu-check': dict(_CPU, variants=('BN', SCREEN_BEST[0], OLD_DEFAULT), seeds=(0,),
                      lrs=(0.05,), widen=1.0, images=48000, epochs=1, val_images=2000,
                      test_images=10000),
}
#: ``--quick``: any preset's design at a size that runs in seconds (the tests' form)
QUICK_SIZES = dict(seeds=(0,), widen=0.25, images=64, epochs=1, val_images=32, test_images=32)
SIZE_KEYS = ('batch', 'widen', 'stem_stride', 'augment', 'images', 'epochs', 'val_images',
             'test_images')
NUM_CLASSES = 10
CHANCE = 100.0 / NUM_CLASSES
#: a run "trains" when its loss stayed finite and its best val top-1 is above this
TRAINED_ABOVE = 2 * CHANCE


class StudyError(Exception):
    """Bad input to the study (data folder, preset, variant names)."""


def read_idx_gz(path: str) -> np.ndarray:
    """An idx file (gzip), the Fashion-MNIST format: magic, dims, unsigned bytes."""
    try:
        with gzip.open(path, 'rb') as f:
            data = f.read()
    except OSError as e:
        raise StudyError(f'cannot read idx file {path}: {e}') from e
    if len(data) < 4 or data[:2] != b'\0\0' or data[2] != 8:
        raise StudyError(f'{path} is not an unsigned-byte idx file (bad magic)')
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], 'big') for i in range(ndim)]
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != math.prod(dims):
        raise StudyError(f'{path}: header says {dims}, file holds {body.size} values')
    return body.reshape(dims)


def load_fashion_mnist(root: str) -> dict:
    """Train/val/test tensors: train split 80/20 per class as ImageNet-100 is split."""
    def pair(stem_img, stem_lbl):
        imgs = read_idx_gz(os.path.join(root, f'{stem_img}-idx3-ubyte.gz'))
        lbls = read_idx_gz(os.path.join(root, f'{stem_lbl}-idx1-ubyte.gz'))
        if imgs.ndim != 3 or lbls.ndim != 1 or len(imgs) != len(lbls):
            raise StudyError(f'{root}: {stem_img} images and labels do not match')
        return imgs, lbls.astype(np.int64)

    for stem in ('train-images', 'train-labels', 't10k-images', 't10k-labels'):
        name = f'{stem}-idx{3 if "images" in stem else 1}-ubyte.gz'
        if not os.path.isfile(os.path.join(root, name)):
            raise StudyError(f'--data: {os.path.join(root, name)} is missing; fetch the data '
                             'with tools/dataset_converters/fetch_fashion_mnist.sh DIR')
    train_x, train_y = pair('train-images', 'train-labels')
    test_x, test_y = pair('t10k-images', 't10k-labels')
    train_idx, val_idx = [], []
    for k in range(NUM_CLASSES):
        names = [f'{i:05d}' for i in np.flatnonzero(train_y == k)]
        tr, va = split_class(names, f'class{k}', 0, 0.2)
        train_idx += [int(n) for n in tr]
        val_idx += [int(n) for n in va]
    take = lambda x, y, idx: (torch.from_numpy(x[idx].copy()), torch.from_numpy(y[idx]))  # noqa: E731
    return dict(train=take(train_x, train_y, np.array(sorted(train_idx))),
                val=take(train_x, train_y, np.array(sorted(val_idx))),
                test=(torch.from_numpy(test_x.copy()), torch.from_numpy(test_y)))


def to_input(images: torch.Tensor, augment: bool, gen: Optional[torch.Generator]) -> torch.Tensor:
    """uint8 (N, 28, 28) -> normalised float (N, 3, 32, 32); random crop and flip if ``augment``."""
    x = images.float().div_(255.0).sub_(0.286).div_(0.353)[:, None]  # Fashion-MNIST mean/std
    x = F.pad(x, (2, 2, 2, 2))
    if augment:  # random crop of the 4-pixel padded image, then a horizontal flip
        padded = F.pad(x, (4, 4, 4, 4))
        dx, dy = torch.randint(0, 9, (2, x.shape[0]), generator=gen).tolist()
        flips = (torch.rand(x.shape[0], generator=gen) < 0.5).tolist()
        crops = [padded[i, :, y:y + 32, c:c + 32] for i, (y, c) in enumerate(zip(dy, dx))]
        x = torch.stack([t.flip(-1) if f else t for t, f in zip(crops, flips)])
    return x.expand(-1, 3, -1, -1).contiguous()


def build_classifier(norm_cfg: dict, widen: float, stem_stride: int = 2) -> nn.Module:
    """mmpretrain's MobileNetV2 with its own init (as in the configs), GAP, a 10-class FC.

    ``stem_stride=1``: the first convolution keeps the 32x32 resolution, as CIFAR
    versions of MobileNetV2 do, so the last stages see 2x2 maps rather than 1x1 ones
    (batch statistics over 8 values per channel at batch 8 kept BN itself from
    converging in a calibration run).
    """
    from mmengine.logging import MMLogger
    backbone = build_in_scope(dict(type='MobileNetV2', widen_factor=widen, norm_cfg=norm_cfg),
                              'mmpretrain')
    backbone.conv1.conv.stride = (stem_stride, stem_stride)
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel('WARNING')  # init_weights() logs every parameter at INFO
    try:
        backbone.init_weights()
    finally:
        logger.setLevel(level)
    channels = backbone.out_channels if hasattr(backbone, 'out_channels') else 1280
    return nn.Sequential(backbone, _Last(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(channels, NUM_CLASSES))


class _Last(nn.Module):
    """The backbone's last output (mmpretrain backbones return a tuple)."""

    def forward(self, feats):
        return feats[-1]


def sc_grad_norm(model: nn.Module) -> Optional[float]:
    grads = [p.grad for _, layer in dn_layers(model) for n, p in layer.named_parameters()
             if not n.startswith('norm.') and p.grad is not None]
    if not grads:
        return None
    return float(torch.linalg.vector_norm(
        torch.stack([torch.linalg.vector_norm(g) for g in grads])))


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch: int = 250,
             device: str = 'cpu') -> float:
    model.eval()
    correct = 0
    for i in range(0, len(images), batch):
        logits = model(to_input(images[i:i + batch], False, None).to(device))
        correct += int((logits.argmax(1).cpu() == labels[i:i + batch]).sum())
    return 100.0 * correct / len(images)


def train_one(spec: dict, data: dict, probe=None) -> dict:
    """One run of ``spec`` (variant, lr, batch, seed and the preset's sizes): its record.

    ``probe`` (optional, :class:`~dn_mm.analysis.norm_trace.Tracer`): ``attach(model)``
    after the model is built, ``after_backward(step, loss)`` at each step, which stops
    the run when it returns False (``spec['max_iters']`` also ends a run early).
    """
    torch.set_num_threads(spec.get('threads', 1))
    torch.manual_seed(spec['seed'])
    gen = torch.Generator().manual_seed(1000 + spec['seed'])
    device = spec.get('device', 'cpu')
    model = build_classifier(VARIANTS[spec['variant']], spec['widen'],
                             spec.get('stem_stride', 2)).to(device)
    if probe is not None:
        probe.attach(model)
    train_x, train_y = data['train']
    subset = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(spec['seed']))
    subset = subset[:spec['images']]
    val_x, val_y = (t[:spec['val_images']] for t in data['val'])
    test_x, test_y = (t[:spec['test_images']] for t in data['test'])
    batch = spec['batch']
    steps_per_epoch = len(subset) // batch
    if steps_per_epoch == 0:
        raise StudyError(f'{len(subset)} training images are fewer than one batch of {batch}')
    total = steps_per_epoch * spec['epochs']
    opt = torch.optim.SGD(model.parameters(), lr=spec['lr'], momentum=0.9, weight_decay=4e-5)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.5 * (1 + math.cos(math.pi * t / total)))
    record = dict(spec, diverged=False, diverged_at=None, epochs_run=0, val_top1=[],
                  train_loss=[], sc_grad_norm_mean=[], sc_grad_norm_max=[])
    best, best_state = -1.0, None
    t0, step = time.time(), 0
    for epoch in range(spec['epochs']):
        model.train()
        order = subset[torch.randperm(len(subset), generator=gen)]
        losses, gnorms = [], []
        for i in range(steps_per_epoch):
            idx = order[i * batch:(i + 1) * batch]
            x = to_input(train_x[idx], spec.get('augment', True), gen).to(device)
            loss = F.cross_entropy(model(x),
                                   train_y[idx].to(device), label_smoothing=0.1)
            step += 1
            if not torch.isfinite(loss):
                record.update(diverged=True, diverged_at=dict(epoch=epoch + 1, iter=step))
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if probe is not None and not probe.after_backward(step, loss.item()):
                record['stopped_at'] = step
                break
            if step == spec.get('max_iters'):
                record['stopped_at'] = step
                break
            g = sc_grad_norm(model)
            if g is not None:
                gnorms.append(g)
            opt.step()
            sched.step()
            losses.append(loss.item())
        if record['diverged'] or 'stopped_at' in record:
            break
        acc = evaluate(model, val_x, val_y, device=device)
        record['epochs_run'] = epoch + 1
        record['val_top1'].append(acc)
        record['train_loss'].append(float(np.mean(losses)))
        record['sc_grad_norm_mean'].append(float(np.mean(gnorms)) if gnorms else None)
        record['sc_grad_norm_max'].append(float(np.max(gnorms)) if gnorms else None)
        if acc > best:
            best = acc
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    if best_state is not None:
        model.load_state_dict(best_state)
        record['best_val_top1'] = best
        record['best_epoch'] = 1 + record['val_top1'].index(best)
        record['test_top1'] = evaluate(model, test_x, test_y, device=device)
    else:
        record.update(best_val_top1=None, best_epoch=None, test_top1=None)
    record['final_train_loss'] = record['train_loss'][-1] if record['train_loss'] else None
    record['trained'] = (not record['diverged'] and record['best_val_top1'] is not None
                         and record['best_val_top1'] > TRAINED_ABOVE)
    record['params'] = sum(p.numel() for p in model.parameters())
    record['seconds'] = round(time.time() - t0, 1)
    return record


def plan(preset: dict) -> List[dict]:
    """Every run of a preset: each variant at each lr and seed, at the preset's batch size.

    In order of lr (the first, the paper's 0.05, on every seed first), then seed: a study
    stopped part-way has its most useful comparisons complete.
    """
    sizes = {k: preset[k] for k in SIZE_KEYS}
    return [dict(variant=variant, lr=lr, seed=seed, **sizes)
            for lr in preset['lrs'] for seed in preset['seeds'] for variant in preset['variants']]


def run_key(spec: dict) -> tuple:
    """What identifies a run of a study: its variant, lr, seed and sizes."""
    return (spec['variant'], spec['lr'], spec['seed']) + tuple(spec[k] for k in SIZE_KEYS)
