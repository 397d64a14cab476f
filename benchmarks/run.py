#!/usr/bin/env python
"""DN-B at the cost of BN: side-by-side benchmarks (issue 6).

    python benchmarks/run.py [--quick] [--device cpu|cuda] [--threads N] [--out results.md]
                             [--reps R] [--compile] [--skip-layers] [--skip-models]
                             [--models MobileNetV2 SSDLite-MobileNetV2]

Every number is a ratio to BN measured in the same run: for each repetition
every variant runs once, in an order rotated by one each repetition, and the
table shows the median over the repetitions (after a warm-up and a calibration
call; a repetition of a fast layer loops until it lasts >= 30 ms). Two levels:

* layers: BN, DN-B (16,1), DN-B (16,oup), DN-C (16,1), SE-BN (16) at
  MobileNetV2's shapes, training (forward + backward) and inference, float32
  and bf16 autocast;
* models: mmpretrain MobileNetV2 (batch 16, 224x224, 100 classes) and mmdet
  SSDLite-MobileNetV2 (batch 8, 320x320), backbone norm BN / DN-B (16,1) /
  SE-BN (16): training step (forward, backward, SGD step), inference
  (network outputs, no post-processing) and peak training memory.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated`` over one training
step, less what was allocated before it. On CPU the peak of live bytes of the
torch allocator over one training step, replayed from the allocation events
of ``torch.profiler`` (``profile_memory=True``): the CPU counterpart of the
CUDA number. RSS is not used: glibc keeps freed blocks, so the RSS of a step
depends on what ran before it rather than on what the step needs.

``--quick`` (< 2 min on 2 cores) runs fewer, smaller layers and the models at
a reduced batch and resolution, so its model-level rows are a smoke check of
the full-size targets, not a measurement of them. The targets are printed
beside the ratios with PASS / MISS; misses are reported, not hidden.
``--compile`` adds a layer-level column: DN-B on plain autograd ops
(``fast_path = False``) under ``torch.compile``.

On CPUs shared with other processes, use ``--threads`` below the number of idle
CPUs: an OpenMP region (every large op, and MKL's small GEMMs) waits for all
its threads, and one that is descheduled stalls it for a scheduler tick, so
the times then count parallel regions rather than work. The report prints the
load average at start and end.
"""
import argparse
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

import dn_mm  # registers DNB / DNC / SEBN; builds the models

# (limit, what) per target; ratios are DN-B (16,1) / BN on the full-size MobileNetV2
TARGETS = {
    'train': (1.08, 'MobileNetV2 training step'),
    'infer': (1.15, 'MobileNetV2 inference'),
    'memory': (1.10, 'MobileNetV2 peak training memory'),
}
LAYER_SHAPES = [(16, 32, 112, 112), (16, 144, 56, 56), (16, 192, 28, 28), (16, 576, 14, 14),
                (16, 1280, 7, 7)]
QUICK_LAYER_SHAPES = [(8, 144, 28, 28), (8, 1280, 7, 7)]
DNB_LABEL, SEBN_LABEL = 'DN-B (16,1)', 'SE-BN (16)'


def layer_variants(compile_dnb=False):
    from dn_mm import DNB, DNC, SEBN
    variants = {
        'BN': lambda c: nn.BatchNorm2d(c),
        DNB_LABEL: lambda c: DNB(c, r=16, g=1),
        'DN-B (16,oup)': lambda c: DNB(c, r=16, g='oup'),
        'DN-C (16,1)': lambda c: DNC(c, r=16, g=1),
        SEBN_LABEL: lambda c: SEBN(c, r=16),
    }
    if compile_dnb:
        def compiled(c):
            layer = DNB(c, r=16, g=1)
            layer.fast_path = False  # plain autograd ops, fused by inductor
            return torch.compile(layer)
        variants['DN-B (16,1) compiled'] = compiled
    return variants


MODEL_NORMS = {'BN': dict(type='BN'), DNB_LABEL: dict(type='DNB', r=16, g=1),
               SEBN_LABEL: dict(type='SEBN', r=16)}


# ---- environment ---------------------------------------------------------------------

def device_description(device: torch.device) -> str:
    if device.type == 'cuda':
        return f'{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})'
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    name = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return f'{name}, {torch.get_num_threads()} threads ({os.cpu_count()} CPUs visible)'


def load_average() -> str:
    try:
        with open('/proc/loadavg') as f:
            return f.read().split()[0]
    except OSError:
        return '?'


def versions() -> str:
    out = [f'torch {torch.__version__}']
    for pkg in ('mmcv', 'mmengine', 'mmpretrain', 'mmdet'):
        try:
            out.append(f'{pkg} {__import__(pkg).__version__}')
        except Exception:  # noqa: BLE001 - a missing package only drops its version
            pass
    return ', '.join(out)


# ---- timing --------------------------------------------------------------------------

def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def interleaved_medians(fns: dict, device: torch.device, reps: int, min_time: float = 0.03):
    """Median seconds per call of each callable, repetitions interleaved across variants."""
    numbers = {}
    for name, fn in fns.items():  # warm-up, then one timed call to calibrate the loop count
        fn()
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        elapsed = max(time.perf_counter() - start, 1e-6)
        numbers[name] = max(1, min(50, math.ceil(min_time / elapsed)))
    samples = {name: [] for name in fns}
    names = list(fns)
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            fn, number = fns[name], numbers[name]
            synchronize(device)
            start = time.perf_counter()
            for _ in range(number):
                fn()
            synchronize(device)
            samples[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(times) for name, times in samples.items()}, samples


def paired_spread(samples: dict, name: str, base: str = 'BN'):
    """Quartiles of the per-repetition ratios name / base (same repetition, side by side)."""
    ratios = sorted(a / b for a, b in zip(samples[name], samples[base]))
    if len(ratios) < 4:
        return ratios[0], ratios[-1]
    q = statistics.quantiles(ratios, n=4)
    return q[0], q[2]


def autocast_ctx(device: torch.device, dtype: str):
    if dtype == 'bf16':
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


# ---- layer level ---------------------------------------------------------------------

def layer_rows(shapes, device, reps, log, compile_dnb=False):
    rows = []
    variants = layer_variants(compile_dnb)
    if compile_dnb:
        import torch._dynamo as dynamo  # every shape, mode and dtype compiles anew
        dynamo.config.cache_size_limit = max(dynamo.config.cache_size_limit, 64)
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


# ---- model level ---------------------------------------------------------------------

def build_mobilenet_v2(norm_cfg):
    from mmengine.hub import get_config
    cfg = get_config('mmpretrain::_base_/models/mobilenet_v2_1x.py').model
    cfg.backbone.norm_cfg = dict(norm_cfg)
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


MODELS_SPEC = {
    # name: (builder, kind, full (batch, size), quick (batch, size))
    'MobileNetV2': (build_mobilenet_v2, 'cls', (16, 224), (8, 112)),
    'SSDLite-MobileNetV2': (build_ssdlite, 'det', (8, 320), (4, 160)),
}


def model_rows(quick, device, reps, log, only=None):
    rows = []
    for model_name, (build, kind, full, small) in MODELS_SPEC.items():
        if only and model_name not in only:
            continue
        batch, size = small if quick else full
        make_batch = classifier_batch if kind == 'cls' else detector_batch
        inputs, targets = make_batch(batch, size, device)
        train_fns, infer_fns, memory = {}, {}, {}
        models = {}
        for norm_name, norm_cfg in MODEL_NORMS.items():
            torch.manual_seed(0)
            model = build(norm_cfg).to(device)
            models[norm_name] = model
            optimizer = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)

            def train_step(model=model, optimizer=optimizer):
                optimizer.zero_grad(set_to_none=True)
                model_loss(kind, model, inputs, targets).backward()
                optimizer.step()

            def infer_step(model=model):
                with torch.no_grad():
                    model(inputs, mode='tensor')

            train_fns[norm_name], infer_fns[norm_name] = train_step, infer_step
        for norm_name, step in train_fns.items():
            models[norm_name].train()
            step()  # warm-up: optimizer state, lazy initialisations
            memory[norm_name] = peak_step_memory(step, device)
        setting = f'batch {batch}, {size}x{size}'
        for metric, fns in (('train', train_fns), ('infer', infer_fns)):
            for model in models.values():
                model.train(metric == 'train')
            medians, samples = interleaved_medians(fns, device, reps, min_time=0.0)
            spread = {name: paired_spread(samples, name) for name in fns if name != 'BN'}
            rows.append(dict(model=model_name, setting=setting, metric=metric, values=medians,
                             spread=spread))
            log(f'  {model_name} {metric}: BN {medians["BN"] * 1e3:.0f} ms, ' + ', '.join(
                f'{k} {v / medians["BN"]:.3f}x' for k, v in medians.items() if k != 'BN'))
        rows.append(dict(model=model_name, setting=setting, metric='memory', values=memory))
        log(f'  {model_name} memory: BN {memory["BN"] / 2**20:.0f} MiB, ' + ', '.join(
            f'{k} {v / memory["BN"]:.3f}x' for k, v in memory.items() if k != 'BN'))
        del models, train_fns, infer_fns
    return rows


# ---- report --------------------------------------------------------------------------

def _status(ok: bool) -> str:
    return 'PASS' if ok else 'MISS'


def render(args, device, layer_results, model_results, elapsed) -> str:
    lines = ['# DN-B at the cost of BN: benchmark', '',
             f'- device: {device_description(device)}',
             f'- {versions()}',
             '- mode: ' + ('quick (smaller layers and models: a smoke check)' if args.quick
                           else 'full') + '; '
             f'median of {args.reps} interleaved repetitions after warm-up; {elapsed:.0f} s',
             f'- command: `python benchmarks/run.py {" ".join(sys.argv[1:])}`'.rstrip(),
             f'- 1-min load average at start / end: {args.load_start} / {load_average()} '
             f'({os.cpu_count()} CPUs): other processes share the CPUs when above the threads used',
             '']

    # targets
    lines += ['## Targets (DN-B (16,1) / BN)', '',
              '| target | setting | measured | limit | status |', '|---|---|---:|---:|---|']
    mnv2 = {r['metric']: r for r in model_results if r['model'] == 'MobileNetV2'}
    for key, (limit, what) in TARGETS.items():
        if key not in mnv2:
            lines.append(f'| {what} | not run | - | <= {limit:.2f}x | n/a |')
            continue
        values = mnv2[key]['values']
        ratio = values[DNB_LABEL] / values['BN']
        spread = mnv2[key].get('spread', {}).get(DNB_LABEL)
        measured = f'{ratio:.3f}x' + (' ({:.2f}-{:.2f})'.format(*spread) if spread else '')
        lines.append(f'| {what} ({device.type}) | {mnv2[key]["setting"]} | {measured} | '
                     f'<= {limit:.2f}x | {_status(ratio <= limit)} |')
    cheaper, misses = 0, []
    for row in layer_results:
        t = row['times']
        if t[DNB_LABEL] < t[SEBN_LABEL]:
            cheaper += 1
        else:
            misses.append(f'layer {row["shape"]} {row["mode"]} {row["dtype"]} '
                          f'({t[DNB_LABEL] / t[SEBN_LABEL]:.3f}x)')
    for row in model_results:
        v = row['values']
        memory_tie = row['metric'] == 'memory' and v[DNB_LABEL] == v[SEBN_LABEL]
        if v[DNB_LABEL] < v[SEBN_LABEL] or memory_tie:
            cheaper += 1
        else:
            misses.append(f'{row["model"]} {row["metric"]} ({v[DNB_LABEL] / v[SEBN_LABEL]:.3f}x)')
    total = len(layer_results) + len(model_results)
    lines.append(f'| DN-B (16,1) cheaper than SE-BN (16), every row | all rows | '
                 f'{cheaper}/{total} rows | all | {_status(not misses and total > 0)} |')
    if misses:
        lines += ['', 'Rows where DN-B (16,1) is not cheaper than SE-BN (16) (DN-B / SE-BN): '
                  + '; '.join(misses) + '.', '',
                  "SE-BN here is dn_mm's SEBN: its excitation folds into the per-sample scale, "
                  'so it takes the same fused passes as DN-B, and the two differ only by their '
                  'small (N, C) graphs (DN-B: FC1, grouped FC2; SE: two FCs with bias, sigmoid).']
    lines.append('')

    if layer_results:
        names = list(layer_results[0]['times'])
        lines += ['## Layers (time / BN time)', '',
                  '| shape (N, C, H, W) | mode | dtype | BN ms | ' + ' | '.join(names[1:]) + ' |',
                  '|---|---|---|---:|' + '---:|' * (len(names) - 1)]
        for row in layer_results:
            t = row['times']
            lines.append(f'| {tuple(row["shape"])} | {row["mode"]} | {row["dtype"]} | '
                         f'{t["BN"] * 1e3:.2f} | ' + ' | '.join(
                             f'{t[k] / t["BN"]:.2f}x' for k in names[1:]) + ' |')
        lines.append('')
    if model_results:
        names = list(model_results[0]['values'])
        lines += ['## Models (ratio to BN)', '',
                  '| model | setting | metric | BN | ' + ' | '.join(names[1:]) + ' |',
                  '|---|---|---|---:|' + '---:|' * (len(names) - 1)]
        for row in model_results:
            v = row['values']
            base = (f'{v["BN"] / 2**20:.0f} MiB' if row['metric'] == 'memory'
                    else f'{v["BN"] * 1e3:.0f} ms')
            metric = {'train': 'training step', 'infer': 'inference',
                      'memory': 'peak training memory'}[row['metric']]
            spread = row.get('spread', {})
            lines.append(f'| {row["model"]} | {row["setting"]} | {metric} | {base} | ' + ' | '.join(
                f'{v[k] / v["BN"]:.3f}x'
                + (' ({:.2f}-{:.2f})'.format(*spread[k]) if k in spread else '')
                for k in names[1:]) + ' |')
        lines += ['', 'Time ratios are median / median; in brackets the quartiles of the ratios '
                  'of the same repetition (a measure of the noise of this machine).', '']
    return '\n'.join(lines)


def write_atomic(path: str, text: str) -> None:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix='.' + os.path.basename(path), suffix='.tmp')
    try:
        with os.fdopen(fd, 'w') as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help='< 2 min smoke run')
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--threads', type=int, default=None,
                        help='CPU threads (torch.set_num_threads); default: torch default')
    parser.add_argument('--reps', type=int, default=None,
                        help='timed repetitions per variant (>= 5; default 5 quick, 9 full)')
    parser.add_argument('--out', default=None, help='also write the markdown table here')
    parser.add_argument('--compile', action='store_true',
                        help='add a layer-level column: DN-B (16,1) on plain ops under '
                             'torch.compile (slow to compile; not the default path)')
    parser.add_argument('--skip-layers', action='store_true')
    parser.add_argument('--skip-models', action='store_true')
    parser.add_argument('--models', nargs='+', choices=list(MODELS_SPEC), default=None,
                        help='model-level rows for these models only')
    args = parser.parse_args(argv)
    if args.reps is None:
        args.reps = 5 if args.quick else 9
    if args.reps < 5:
        parser.error('--reps must be >= 5 (medians of at least 5 repetitions)')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device available')
    if args.threads is not None and args.threads < 1:
        parser.error('--threads must be >= 1')
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    args.load_start = load_average()
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine').setLevel('WARNING')

    def log(msg):
        print(msg, flush=True)

    log(f'device: {device_description(device)}')
    log(versions())
    start = time.perf_counter()
    layer_results, model_results = [], []
    if not args.skip_layers:
        log('layers:')
        layer_results = layer_rows(QUICK_LAYER_SHAPES if args.quick else LAYER_SHAPES, device,
                                   args.reps, log, args.compile)
    if not args.skip_models:
        log('models:')
        model_results = model_rows(args.quick, device, args.reps, log, args.models)
    report = render(args, device, layer_results, model_results, time.perf_counter() - start)
    print('\n' + report)
    if args.out:
        write_atomic(args.out, report + '\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
