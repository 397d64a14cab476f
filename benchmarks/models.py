"""Model-level rows: mmpretrain MobileNetV2 and mmdet SSDLite with BN / DN-B / SE-BN backbones.

Training step, inference and peak training memory, eager; with ``compiled`` the
classifiers under ``torch.compile`` (inductor; each norm against compiled BN), with
``amp`` under bfloat16 autocast. MobileNetV2 at width 0.5 on 32x32 inputs (the
norm study's small feature maps, batch 8 and 64) is where DN-B's fixed per-layer
cost shows most. Peak memory: on CUDA
``torch.cuda.max_memory_allocated`` over one step less what was live before;
on CPU the peak of live bytes of the torch allocator over one step, replayed
from ``torch.profiler``'s allocation events.
"""
from functools import partial

import torch
import torch.nn.functional as F
from common import (
    DNB_LABEL,
    SEBN_LABEL,
    autocast_ctx,
    interleaved_medians,
    paired_spread,
    synchronize,
)

import dn_mm  # registers DNB / DNC / SEBN; builds the models

MODEL_NORMS = {'BN': dict(type='BN'), DNB_LABEL: dict(type='DNB', r=16, g=1),
               SEBN_LABEL: dict(type='SEBN', r=16)}


def build_mobilenet_v2(norm_cfg, widen: float = 1.0):
    from mmengine.hub import get_config
    cfg = get_config('mmpretrain::_base_/models/mobilenet_v2_1x.py').model
    cfg.backbone.norm_cfg = dict(norm_cfg)
    cfg.backbone.widen_factor = widen  # the last conv keeps 1280 channels below width 1
    cfg.head.num_classes = 100
    return dn_mm.build_model(cfg, 'mmpretrain')


def build_ssdlite(norm_cfg):
    from mmengine.hub import get_config
    cfg = get_config('mmdet::ssd/ssdlite_mobilenetv2-scratch_8xb24-600e_coco.py').model
    # only the backbone's norm changes; the config's BN eps/momentum stay
    cfg.backbone.norm_cfg = dict(norm_cfg, eps=0.001, momentum=0.03)
    return dn_mm.build_model(cfg, 'mmdet')


def classifier_batch(batch, size, device):
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(batch, 3, size, size, generator=gen).to(device),
            torch.randint(0, 100, (batch,), generator=gen).to(device))


def detector_batch(batch, size, device):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    gen = torch.Generator().manual_seed(0)
    samples = []
    for _ in range(batch):
        sample = DetDataSample(metainfo=dict(
            img_shape=(size, size), pad_shape=(size, size), batch_input_shape=(size, size),
            ori_shape=(size, size), scale_factor=(1.0, 1.0)))
        xy = torch.rand(6, 2, generator=gen) * size * 0.75
        wh = torch.rand(6, 2, generator=gen) * size * 0.2 + 8
        sample.gt_instances = InstanceData(
            bboxes=torch.cat([xy, (xy + wh).clamp(max=size)], 1).to(device),
            labels=torch.randint(0, 80, (6,), generator=gen).to(device))
        samples.append(sample)
    return torch.randn(batch, 3, size, size, generator=gen).to(device), samples


def model_loss(kind, model, inputs, targets):
    if kind == 'cls':
        return F.cross_entropy(model(inputs, mode='tensor'), targets)
    losses = model.loss(inputs, targets)
    return sum(sum(v) if isinstance(v, (list, tuple)) else v for v in losses.values())


def peak_step_memory(step, device) -> int:
    """Peak bytes allocated by torch during ``step()`` above what was live before it."""
    if device.type == 'cuda':
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        step()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - before
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [e for e in prof.profiler.kineto_results.events()
              if e.name() == '[memory]' and e.device_type() == torch.device('cpu').type
              or (e.name() == '[memory]' and str(e.device_type()).endswith('CPU'))]
    live = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        live += event.nbytes()
        peak = max(peak, live)
    return peak


#: name: (builder, kind, full [(batch, size)], quick [(batch, size)])
MODELS_SPEC = {
    'MobileNetV2': (build_mobilenet_v2, 'cls', [(16, 224)], [(8, 112)]),
    'MobileNetV2-0.5': (partial(build_mobilenet_v2, widen=0.5), 'cls', [(8, 32), (64, 32)],
                        [(8, 32)]),
    'SSDLite-MobileNetV2': (build_ssdlite, 'det', [(8, 320)], [(4, 160)]),
}


def model_rows(quick, device, reps, log, only=None, compiled=False, amp=False):
    """Rows of every model and setting; ``compiled``: classifiers only (mmdet's loss, with
    its data-dependent assigner, is not a graph to compile), no memory row."""
    rows = []
    for model_name, (build, kind, full, small) in MODELS_SPEC.items():
        if (only and model_name not in only) or (compiled and kind != 'cls'):
            continue
        for batch, size in small if quick else full:
            rows += _setting_rows(model_name, build, kind, batch, size, device, reps, log,
                                  compiled, amp)
    return rows


def _setting_rows(model_name, build, kind, batch, size, device, reps, log, compiled, amp):
    make_batch = classifier_batch if kind == 'cls' else detector_batch
    inputs, targets = make_batch(batch, size, device)
    train_fns, infer_fns, memory, models = {}, {}, {}, {}
    dtype = 'bf16' if amp else 'fp32'
    for norm_name, norm_cfg in MODEL_NORMS.items():
        torch.manual_seed(0)
        model = models[norm_name] = build(norm_cfg).to(device)
        run = torch.compile(model) if compiled else model
        optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

        def train_step(run=run, optimizer=optimizer):
            optimizer.zero_grad(set_to_none=True)
            with autocast_ctx(device, dtype):
                loss = model_loss(kind, run, inputs, targets)
            loss.backward()
            optimizer.step()

        def infer_step(run=run):
            with torch.no_grad(), autocast_ctx(device, dtype):
                run(inputs, mode='tensor')

        train_fns[norm_name], infer_fns[norm_name] = train_step, infer_step
    tags = dict(model=model_name, setting=f'batch {batch}, {size}x{size}',
                mode='compiled' if compiled else 'eager', dtype=dtype)
    label = ' '.join([model_name, tags['setting'], tags['mode'], tags['dtype']])
    rows = []
    for metric, fns in (('train', train_fns), ('infer', infer_fns)):
        for model in models.values():
            model.train(metric == 'train')
        medians, samples = interleaved_medians(fns, device, reps, min_time=0.0)
        spread = {name: paired_spread(samples, name) for name in fns if name != 'BN'}
        rows.append(dict(tags, metric=metric, values=medians, spread=spread))
        log(f'  {label} {metric}: BN {medians["BN"] * 1e3:.1f} ms, ' + ', '.join(
            f'{k} {v / medians["BN"]:.3f}x' for k, v in medians.items() if k != 'BN'))
    if not compiled:
        for norm_name, step in train_fns.items():
            models[norm_name].train()
            memory[norm_name] = peak_step_memory(step, device)
        rows.append(dict(tags, metric='memory', values=memory))
        log(f'  {label} memory: BN {memory["BN"] / 2**20:.0f} MiB, ' + ', '.join(
            f'{k} {v / memory["BN"]:.3f}x' for k, v in memory.items() if k != 'BN'))
    return rows
