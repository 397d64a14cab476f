#!/usr/bin/env python
"""DN-B at the cost of BN: side-by-side benchmarks.

    python benchmarks/run.py [--quick] [--device cpu|cuda] [--threads N] [--out results.md]
                             [--reps R] [--compile] [--amp] [--skip-layers] [--skip-models]
                             [--models MobileNetV2 MobileNetV2-0.5 SSDLite-MobileNetV2]

Every number is a ratio to BN measured in the same run: for each repetition
every variant runs once, in an order rotated by one each repetition, and the
table shows the median over the repetitions (after a warm-up and a calibration
call; a repetition of a fast layer loops until it lasts >= 30 ms). Two levels:

* layers: BN, DN-B (16,1), DN-B (16,oup), DN-C (16,1), SE-BN (16) at
  MobileNetV2's shapes, training (forward + backward) and inference, float32
  and bf16 autocast;
* models: mmpretrain MobileNetV2 (batch 16, 224x224, 100 classes), the same at
  width 0.5 on 32x32 inputs (batch 8 and 64: the norm study's small feature
  maps, where DN-B's fixed per-layer cost weighs most) and mmdet
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
``--compile`` adds the classifiers under ``torch.compile`` (inductor): compiled
BN, DN-B and SE-BN side by side, each ratio to compiled BN (compiling takes
minutes on a CPU). ``--amp`` adds every model row under bfloat16 autocast.

On CPUs shared with other processes, use ``--threads`` below the number of idle
CPUs: an OpenMP region (every large op, and MKL's small GEMMs) waits for all
its threads, and one that is descheduled stalls it for a scheduler tick, so
the times then count parallel regions rather than work. The report prints the
load average at start and end.
"""
import argparse
import sys
import time

import torch
from common import device_description, load_average, publish, versions
from layers import LAYER_SHAPES, QUICK_LAYER_SHAPES, layer_rows
from models import MODELS_SPEC, model_rows
from report import render


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
                        help='add the classifiers compiled (torch.compile, inductor): compiled '
                             'BN vs compiled DN-B vs compiled SE-BN')
    parser.add_argument('--amp', action='store_true',
                        help='add the model rows under bfloat16 autocast')
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
                                   args.reps, log)
    if not args.skip_models:
        log('models:')
        for compiled in (False, True) if args.compile else (False,):
            for amp in (False, True) if args.amp else (False,):
                model_results += model_rows(args.quick, device, args.reps, log, args.models,
                                            compiled=compiled, amp=amp)
    report = render(args, device, layer_results, model_results, time.perf_counter() - start)
    publish(report, args.out)
    return 0


if __name__ == '__main__':
    sys.exit(main())
