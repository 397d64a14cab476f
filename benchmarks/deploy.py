#!/usr/bin/env python
"""Deployed DN-B at the cost of deployed BN: side-by-side inference benchmark.

    python benchmarks/deploy.py [--quick] [--threads N] [--reps R] [--out results.md]
                                [--models MobileNetV2 SSDLite-MobileNetV2]

For MobileNetV2 (mmpretrain, 100 classes) and SSDLite-MobileNetV2 (mmdet, raw
head outputs), backbone norm BN and DN-B (16,1), each in its inference form
(:func:`dn_mm.deployment.fuse_for_inference`), timed in one run:

* PyTorch eval (``torch.no_grad``) of the folded models, and of the unfolded
  eval models for reference;
* ONNX Runtime on the CPU (all graph optimisations) of the exported folded models.

Every variant runs once per repetition, in an order rotated by one each
repetition (``benchmarks/common.py``'s :func:`interleaved_medians`); the table
shows median times and the ratio of DN-B to BN of the same runtime. Goal:
DN-B (16,1) within 1.10x of the folded BN model, in PyTorch and in ONNX Runtime.
"""
import argparse
import os
import sys
import tempfile
import time

import torch
from common import (
    DNB_LABEL,
    device_description,
    interleaved_medians,
    load_average,
    paired_spread,
    publish,
    versions,
)
from models import build_mobilenet_v2, build_ssdlite

from dn_mm.deployment import fuse_for_inference
from dn_mm.deployment.onnx_export import export_onnx, graph_module, ort_session

GOAL = 1.10
NORMS = {'BN': dict(type='BN'), DNB_LABEL: dict(type='DNB', r=16, g=1)}
MODELS = {
    # name: (builder, full (batch, size), quick (batch, size))
    'MobileNetV2': (build_mobilenet_v2, (8, 224), (4, 112)),
    'SSDLite-MobileNetV2': (build_ssdlite, (4, 320), (2, 160)),
}


def variants(build, batch, size, threads, tmp):
    """``{(runtime, norm): callable}`` running one inference of ``batch`` images."""
    x = torch.randn(batch, 3, size, size, generator=torch.Generator().manual_seed(0))
    feed = {'input': x.numpy()}
    fns = {}
    for norm, cfg in NORMS.items():
        torch.manual_seed(0)
        model = build(cfg).eval()
        folded = fuse_for_inference(model)
        path = os.path.join(tmp, f'{norm.split()[0]}.onnx')
        export_onnx(folded, path, (size, size), dynamic_batch=True, fuse=False)
        session = ort_session(path, threads)
        for runtime, module in (('PyTorch eval, unfolded', model),
                                ('PyTorch eval, folded', folded)):
            net = graph_module(module)[0]
            fns[runtime, norm] = lambda net=net: _no_grad(net, x)
        fns['ONNX Runtime', norm] = lambda session=session: session.run(None, feed)
    return fns


def _no_grad(net, x):
    with torch.no_grad():
        net(x)


def measure(args, log):
    rows = []
    for name, (build, full, small) in MODELS.items():
        if args.models and name not in args.models:
            continue
        batch, size = small if args.quick else full
        with tempfile.TemporaryDirectory() as tmp:
            fns = variants(build, batch, size, args.threads, tmp)
            medians, samples = interleaved_medians(fns, torch.device('cpu'), args.reps)
        for runtime in dict.fromkeys(r for r, _ in fns):
            base, dnb = (runtime, 'BN'), (runtime, DNB_LABEL)
            ratios = {norm: samples[runtime, norm] for norm in NORMS}
            spread = paired_spread(ratios, DNB_LABEL)
            row = dict(model=name, setting=f'batch {batch}, {size}x{size}', runtime=runtime,
                       bn=medians[base], dnb=medians[dnb], ratio=medians[dnb] / medians[base],
                       spread=spread, goal=runtime != 'PyTorch eval, unfolded')
            rows.append(row)
            log(f'  {name} {runtime}: BN {row["bn"] * 1e3:.1f} ms, DN-B {row["dnb"] * 1e3:.1f} ms, '
                f'{row["ratio"]:.3f}x')
    return rows


def render(args, rows, elapsed) -> str:
    import onnxruntime
    lines = ['# Deployed DN-B at the cost of deployed BN: inference benchmark', '',
             f'- device: {device_description(torch.device("cpu"))}',
             f'- {versions()}, onnxruntime {onnxruntime.__version__} (CPU, '
             f'{args.threads} intra-op threads)',
             f'- median of {args.reps} interleaved repetitions after warm-up; {elapsed:.0f} s',
             f'- command: `python benchmarks/deploy.py {" ".join(sys.argv[1:])}`'.rstrip(),
             f'- 1-min load average at start / end: {args.load_start} / {load_average()} '
             f'({os.cpu_count()} CPUs)', '',
             '| model | setting | runtime | BN ms | DN-B (16,1) ms | DN-B / BN | goal | status |',
             '|---|---|---|---:|---:|---:|---|---|']
    for r in rows:
        goal = f'<= {GOAL:.2f}x' if r['goal'] else '-'
        status = ('PASS' if r['ratio'] <= GOAL else 'MISS') if r['goal'] else 'reference'
        lines.append(f'| {r["model"]} | {r["setting"]} | {r["runtime"]} | {r["bn"] * 1e3:.1f} | '
                     f'{r["dnb"] * 1e3:.1f} | {r["ratio"]:.3f}x ({r["spread"][0]:.2f}-'
                     f'{r["spread"][1]:.2f}) | {goal} | {status} |')
    lines += ['', 'In brackets: quartiles of the per-repetition ratios '
              '(the noise of this machine). '
              '"unfolded" is the eval model as trained (BN as BatchNorm, DN-B on its fast path), '
              'for reference; the goal applies to the folded models.', '']
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--quick', action='store_true', help='smaller batches and inputs')
    parser.add_argument('--threads', type=int, default=1,
                        help='intra-op threads of torch and ONNX Runtime (default 1)')
    parser.add_argument('--reps', type=int, default=9, help='timed repetitions (>= 5)')
    parser.add_argument('--out', default=None, help='also write the markdown table here')
    parser.add_argument('--models', nargs='+', choices=list(MODELS), default=None)
    args = parser.parse_args(argv)
    if args.reps < 5:
        parser.error('--reps must be >= 5 (medians of at least 5 repetitions)')
    if args.threads < 1:
        parser.error('--threads must be >= 1')
    torch.set_num_threads(args.threads)
    args.load_start = load_average()
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine').setLevel('WARNING')
    start = time.perf_counter()
    rows = measure(args, lambda msg: print(msg, flush=True))
    report = render(args, rows, time.perf_counter() - start)
    publish(report, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
