#!/usr/bin/env python
"""What the non-finite guard costs on a training step (goal: under 2%).

    python benchmarks/guard_cost.py [--device cpu|cuda] [--threads N] [--reps R]
                                    [--batch B] [--size S] [--out results.md]

MobileNetV2 with DN-B (16, oup) (the detection backbone's norm) trains through
mmengine's ``OptimWrapper`` (forward, loss, backward, SGD step). One model,
one optimizer: a guarded step runs between the hook's ``before_train_iter``
and ``after_train_iter`` (the hook watches alpha/lambda of every DN layer,
the running statistics, the loss and every gradient, with one read-back per
step), a bare step outside them, where the installed hook does nothing but a
flag test. Sharing the model keeps memory layout and weights out of the
comparison. Repetitions interleave the two, as ``benchmarks/run.py`` does; the
row gives the ratio of the medians, its quartiles over the repetitions, and
the time spent inside the guard's check (timed directly, a steadier figure
than a difference of two noisy step times).
"""
import argparse
import statistics
import sys
import time
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from common import device_description, interleaved_medians, publish, synchronize
from mmengine.optim import OptimWrapper
from models import build_mobilenet_v2, classifier_batch

from dn_mm.engine.hooks import NonFiniteGuardHook


def guarded_steps(batch, size, device):
    """{'bare': step, 'guarded': step} on one model, and the list of check times (s)."""
    torch.manual_seed(0)
    model = build_mobilenet_v2(dict(type='DNB', r=16, g='oup')).to(device).train()
    inputs, targets = classifier_batch(batch, size, device)
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9))
    hook = NonFiniteGuardHook()
    runner = SimpleNamespace(model=model, optim_wrapper=wrapper, iter=0, epoch=0)
    check, check_seconds = hook._check, []

    def timed_check(runner):
        synchronize(device)
        start = time.perf_counter()
        check(runner)  # its read-back synchronizes
        check_seconds.append(time.perf_counter() - start)
    hook._check = timed_check
    hook.before_train(runner)

    def bare():
        loss = F.cross_entropy(model(inputs, mode='tensor'), targets)
        wrapper.update_params(loss)

    def guarded():
        hook.before_train_iter(runner, 0)
        bare()
        hook.after_train_iter(runner, 0)
    return {'bare': bare, 'guarded': guarded}, check_seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--reps', type=int, default=15)
    parser.add_argument('--batch', type=int, default=16)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--out', default=None)
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    steps, check_seconds = guarded_steps(args.batch, args.size, device)
    medians, samples = interleaved_medians(steps, device, args.reps, min_time=0.0)
    ratios = sorted(g / b for g, b in zip(samples['guarded'], samples['bare']))
    ratio = medians['guarded'] / medians['bare']
    check_share = statistics.median(check_seconds) / medians['bare']
    row = (f'| NonFiniteGuardHook, MobileNetV2 DN-B (16,oup) training step | batch {args.batch}, '
           f'{args.size}x{args.size}, {device_description(device)} | '
           f'{medians["bare"] * 1e3:.0f} ms | {ratio:.3f}x ({ratios[len(ratios) // 4]:.3f}-'
           f'{ratios[(3 * len(ratios)) // 4]:.3f}) | {check_share * 100:.2f}% | < 1.02x | '
           f'{"PASS" if max(ratio, 1 + check_share) < 1.02 else "MISS"} |')
    text = ('| what | setting | bare step | guarded / bare (quartiles) | time in the check / '
            'bare step | goal | status |\n|---|---|---:|---:|---:|---|---|\n' + row)
    publish(text, args.out, blank_line=False)
    return 0


if __name__ == '__main__':
    sys.exit(main())
