#!/usr/bin/env python
"""The GPU check (``make gpu-check``): DN-B on a CUDA machine in a few minutes, one JSON, one table.

    python benchmarks/gpu_check.py [--device cuda|cpu] [--out work_dirs/gpu_check]

Parts, each recorded as passed / failed / not run (with why) in ``gpu_check.json``:

1. layers: DN-B (both forms, both SC inputs, tanh bound), DN-C and SE-BN on the device in
   float32 against the same layer in float64 on the CPU through plain autograd (forward,
   running statistics, gradients of x and every parameter), in training and eval; under
   bfloat16 and float16 autocast (finite, close to float32); channels-last input (same
   result as contiguous).
2. SyncBN: two processes over NCCL, a SyncBN-converted DN-B equals one process on the
   whole batch (where two GPUs exist; not run otherwise).
3. benchmark: ``benchmarks/run.py`` models, eager and compiled, float32 and bf16 autocast.
4. study: the norm study's ``gpu-check`` preset (BN, the default DN-B and the old default,
   MobileNetV2 at full width, one epoch, lr 0.05, seed 0).

``--device cpu`` is the dry run (the tests run it so that the script cannot rot): the layer
part on the CPU, no SyncBN, the small-map benchmark rows and the study in their ``--quick``
forms.
"""
import argparse
import copy
import os
import subprocess
import sys
import tempfile
import time
import traceback

import torch
from torch import nn

from dn_mm.utils import write_json_atomic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYER_CASES = [('DNB', dict(form='residual')), ('DNB', dict(form='paper')),
               ('DNB', dict(form='residual', sc_input='raw', bound='tanh')),
               ('DNC', dict(form='residual')), ('SEBN', dict())]


def make_layer(name: str, options: dict, c: int = 32) -> nn.Module:
    import dn_mm
    layer = getattr(dn_mm, name)(c, r=4, **options)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():  # every parameter away from its start, so each one counts
        for p in layer.parameters():
            p.add_(torch.randn(p.shape, generator=gen) * 0.2)
    return layer


def run_layer(layer, x, gy):
    x = x.clone().requires_grad_()
    y = layer(x)
    grads = torch.autograd.grad(y, [x] + list(layer.parameters()), gy.to(y.dtype))
    return [y, layer.norm.running_mean, layer.norm.running_var] + list(grads)


def layer_checks(device: torch.device) -> dict:
    """Part 1: worst relative error per case and mode, and what failed."""
    results, failures = {}, []
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(8, 32, 14, 14, generator=gen) * 2 + 0.5
    gy = torch.randn(x.shape, generator=gen)
    for name, options in LAYER_CASES:
        for training in (True, False):
            label = f'{name} {options} {"train" if training else "eval"}'
            layer = make_layer(name, options).train(training)
            truth_layer = copy.deepcopy(layer).double()
            truth_layer.fast_path = False
            truth = run_layer(truth_layer, x.double(), gy.double())
            got = run_layer(copy.deepcopy(layer).to(device), x.to(device), gy.to(device))
            err = max(float((g.double().cpu() - t).abs().max() / t.abs().max().clamp_min(1))
                      for g, t in zip(got, truth))
            results[f'{label} float32'] = err
            if err > 1e-4:
                failures.append(f'{label} float32: {err:.1e}')
            for dtype in ((torch.bfloat16, torch.float16) if device.type == 'cuda'
                          else (torch.bfloat16,)):
                layer_d = copy.deepcopy(layer).to(device)
                with torch.autocast(device.type, dtype=dtype):
                    y = layer_d(x.to(device).to(dtype))
                err = float((y.float().cpu().double() - truth[0]).abs().max()
                            / truth[0].abs().max())
                results[f'{label} {dtype} autocast'] = err
                if not torch.isfinite(y).all() or err > 5e-2:
                    failures.append(f'{label} {dtype} autocast: {err:.1e}')
            layer_cl = copy.deepcopy(layer).to(device)
            y_cl = layer_cl(x.to(device).contiguous(memory_format=torch.channels_last))
            err = float((y_cl.double().cpu() - truth[0]).abs().max() / truth[0].abs().max())
            results[f'{label} channels_last'] = err
            if err > 1e-4:
                failures.append(f'{label} channels_last: {err:.1e}')
    return dict(status='failed' if failures else 'passed', failures=failures, errors=results)


def _sync_worker(rank, init_file, x, gy, state, out_dir):
    import torch.distributed as dist

    import dn_mm
    torch.cuda.set_device(rank)
    dist.init_process_group('nccl', init_method=f'file://{init_file}', rank=rank, world_size=2)
    layer = dn_mm.DNB(32, r=4)
    layer.load_state_dict(state)
    layer = nn.SyncBatchNorm.convert_sync_batchnorm(layer).cuda(rank)
    got = run_layer(layer, x.chunk(2)[rank].cuda(rank), gy.chunk(2)[rank].cuda(rank))
    torch.save([t.detach().cpu() for t in got], os.path.join(out_dir, f'rank{rank}.pt'))
    dist.destroy_process_group()


def sync_bn_check(device: torch.device) -> dict:
    """Part 2: two NCCL processes against one process on the whole batch."""
    if device.type != 'cuda' or torch.cuda.device_count() < 2:
        return dict(status='not run', why=f'needs 2 CUDA devices, found '
                    f'{torch.cuda.device_count() if device.type == "cuda" else 0}')
    layer = make_layer('DNB', {})
    gen = torch.Generator().manual_seed(2)
    x, gy = torch.randn(8, 32, 7, 7, generator=gen), torch.randn(8, 32, 7, 7, generator=gen)
    with tempfile.TemporaryDirectory() as tmp:
        torch.multiprocessing.spawn(_sync_worker, nprocs=2, join=True, args=(
            os.path.join(tmp, 'init'), x, gy, copy.deepcopy(layer.state_dict()), tmp))
        ranks = [torch.load(os.path.join(tmp, f'rank{r}.pt')) for r in range(2)]
    want = [t.detach() for t in run_layer(layer, x, gy)]
    y = torch.cat([ranks[0][0], ranks[1][0]])
    errors = dict(y=float((y - want[0]).abs().max()),
                  running_mean=float((ranks[0][1] - want[1]).abs().max()))
    ok = all(e < 1e-4 for e in errors.values())
    return dict(status='passed' if ok else 'failed', errors=errors)


def run_part(cmd: list, log_path: str) -> dict:
    """A benchmark / study command line, its exit status and the tail of its output."""
    start = time.time()
    with open(log_path, 'w') as log:
        proc = subprocess.run([sys.executable] + cmd, cwd=ROOT, stdout=log,
                              stderr=subprocess.STDOUT, text=True)
    with open(log_path) as log:
        tail = log.read()[-1500:]
    return dict(status='passed' if proc.returncode == 0 else 'failed', command=' '.join(cmd),
                seconds=round(time.time() - start, 1), log=log_path, tail=tail)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'],
                        help="'cpu': the dry run (quick forms, no SyncBN)")
    parser.add_argument('--out', default='work_dirs/gpu_check')
    parser.add_argument('--data', default='data/fashion_mnist_raw',
                        help='Fashion-MNIST idx folder of the study part')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device here (use --device cpu for the dry run)')
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    device, dry = torch.device(args.device), args.device == 'cpu'
    os.makedirs(args.out, exist_ok=True)
    out = os.path.abspath(args.out)
    card = torch.cuda.get_device_name(0) if device.type == 'cuda' else 'cpu (dry run)'
    report = dict(device=card, torch=torch.__version__, parts={})
    parts = report['parts']
    for name, check in (('layers', layer_checks), ('sync_bn', sync_bn_check)):
        try:
            parts[name] = check(device)
        except Exception:  # a part that crashes is a failed part; the others still run
            parts[name] = dict(status='failed', failures=[traceback.format_exc()[-1500:]])
    bench = ['benchmarks/run.py', '--device', args.device, '--skip-layers', '--amp',
             '--out', os.path.join(out, 'benchmark.md')]
    bench += (['--quick', '--reps', '5', '--models', 'MobileNetV2-0.5'] if dry else
              ['--compile', '--models', 'MobileNetV2', 'MobileNetV2-0.5'])
    parts['benchmark'] = run_part(bench, os.path.join(out, 'benchmark.log'))
    study = ['tools/analysis_tools/norm_study.py', '--data', args.data, '--preset', 'gpu-check',
             '--device', args.device, '--workers', '1', '--out', os.path.join(out, 'study')]
    parts['study'] = run_part(study + (['--quick'] if dry else []),
                              os.path.join(out, 'study.log'))
    json_path = os.path.join(out, 'gpu_check.json')
    write_json_atomic(json_path, report)
    print(f'\n# GPU check: {card}, torch {torch.__version__}\n\n| part | status | detail |\n'
          '|---|---|---|')
    for name, part in parts.items():
        detail = (part.get('why') or '; '.join(part.get('failures', []))[:200]
                  or part.get('command', '') or f'{len(part.get("errors", {}))} checks')
        print(f'| {name} | {part["status"]} | {detail} |')
    print(f'\nwritten: {json_path}')
    return 0 if all(p['status'] != 'failed' for p in parts.values()) else 1


if __name__ == '__main__':
    sys.exit(main())
