#!/usr/bin/env python
"""What the non-finite guard costs on a training step (issue 11; goal: under 2%).

    python benchmarks/guard_cost.py [--device cpu|cuda] [--threads N] [--reps R]
                                    [--batch B] [--size S] [--out results.md]

MobileNetV2 with DN-B (16, oup) (the detection backbone's norm) trains through
mmengine's ``OptimWrapper`` (forward, loss, backward, SGD step) twice side by
side: once bare and once with :class:`~dn_mm.engine.hooks.NonFiniteGuardHook`
watching it (alpha/lambda of every DN layer, running statistics, loss, every
gradient, one read-back per step). Repetitions interleave the two variants, as
``benchmarks/run.py`` does; the row is the ratio of the medians.
"""
import argparse
import copy
import sys
from types import SimpleNamespace

import torch
import torch.nn.functional as F
from common import device_description, interleaved_medians, publish
from mmengine.optim import OptimWrapper
from models import build_mobilenet_v2, classifier_batch

from dn_mm.engine.hooks import NonFiniteGuardHook


def guarded_steps(batch, size, device):
    torch.manual_seed(0)
    bare = build_mobilenet_v2(dict(type='DNB', r=16, g='oup')).to(device).train()
    guarded = copy.deepcopy(bare)
    inputs, targets = classifier_batch(batch, size, device)
    steps = {}
    for name, model in (('bare', bare), ('guarded', guarded)):
        wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9))
        hook = None
        if name == 'guarded':
            hook = NonFiniteGuardHook()
            runner = SimpleNamespace(model=model, optim_wrapper=wrapper, iter=0, epoch=0)
            hook.before_train(runner)

        def step(model=model, wrapper=wrapper, hook=hook, runner=locals().get('runner')):
            if hook is not None:
                hook.before_train_iter(runner, 0)
            loss = F.cross_entropy(model(inputs, mode='tensor'), targets)
            wrapper.update_params(loss)
            if hook is not None:
                hook.after_train_iter(runner, 0)
        steps[name] = step
    return steps


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
    steps = guarded_steps(args.batch, args.size, device)
    medians, samples = interleaved_medians(steps, device, args.reps, min_time=0.0)
    ratios = sorted(g / b for g, b in zip(samples['guarded'], samples['bare']))
    ratio = medians['guarded'] / medians['bare']
    row = (f'| NonFiniteGuardHook, MobileNetV2 DN-B (16,oup) training step | batch {args.batch}, '
           f'{args.size}x{args.size}, {device_description(device)} | '
           f'{medians["bare"] * 1e3:.0f} ms | {ratio:.3f}x ({ratios[len(ratios) // 4]:.3f}-'
           f'{ratios[(3 * len(ratios)) // 4]:.3f}) | < 1.02x | '
           f'{"PASS" if ratio < 1.02 else "MISS"} |')
    text = ('| what | setting | bare step | guarded / bare (quartiles) | goal | status |\n'
            '|---|---|---:|---:|---|---|\n' + row)
    publish(text, args.out, blank_line=False)
    return 0


if __name__ == '__main__':
    sys.exit(main())
