"""The trace's command line, its summary and its figure (docs/study.md).

    python tools/analysis_tools/norm_trace.py --data data/fashion_mnist_raw \
        --variant 'DN-B residual/ReLU/raw/none' [MORE ...] --lr 0.5 [--baseline BN] [--iters 600]

Traces the variant's run and the baseline's (same lr, seed, data order),
writes ``<out>/norm_trace.json`` and ``<out>/norm_trace.png`` and prints, per
run, how far it got and the first layer that failed (:func:`first_failure`).
"""
import argparse
import math
import os
import statistics
from typing import List

from ..utils import save_figure_atomic, write_json_atomic
from .norm_study import VARIANTS, StudyError, load_fashion_mnist, train_one
from .norm_trace import Tracer, first_failure


def trace_runs(data_dir: str, variants: List[str], lr: float, seed: int = 0, iters: int = 600,
               batch: int = 8, widen: float = 0.35, images: int = 8000,
               alpha_limit: float = 10.0, stem_stride: int = 1, augment: bool = False) -> dict:
    """Trace each of ``variants`` at ``lr`` and ``seed`` for up to ``iters`` iterations
    (the study's CPU presets' model and data by default)."""
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise StudyError(f'--variant/--baseline: unknown {unknown}; valid: {list(VARIANTS)}')
    if iters < 1:
        raise StudyError(f'--iters must be >= 1, got {iters}')
    data = load_fashion_mnist(data_dir)
    runs = {}
    for variant in variants:
        spec = dict(variant=variant, lr=lr, seed=seed, batch=batch, widen=widen,
                    images=max(images, batch * iters), epochs=1, val_images=0, test_images=0,
                    max_iters=iters, stem_stride=stem_stride, augment=augment)
        tracer = Tracer()
        record = train_one(spec, data, probe=tracer)
        trace = tracer.as_dict()
        runs[variant] = dict(diverged=record['diverged'], diverged_at=record['diverged_at'],
                             iterations=len(trace['loss']),
                             first_failure=first_failure(trace, alpha_limit), **trace)
    return dict(variants=list(variants), lr=lr, seed=seed, batch=batch, widen=widen,
                stem_stride=stem_stride,
                augment=augment, alpha_limit=alpha_limit, runs=runs)


def describe(result: dict) -> str:
    lines = []
    for variant in result['variants']:
        run = result['runs'][variant]
        end = (f"loss non-finite at iteration {run['diverged_at']['iter']}" if run['diverged']
               else f"{run['iterations']} iterations, last loss {run['loss'][-1]:.3f}"
               if run['loss'] else 'no iteration')
        fail = run['first_failure']
        what = ('no layer left the bound' if fail is None else
                f"first layer out of bound: {fail['layer']} at iteration {fail['iteration']} "
                f"(max |alpha| {fail['alpha_max']:.3g}, start {fail['alpha_start']:.3g}; "
                f"SC input rms {fail['sc_in_rms']:.3g}, start {fail['sc_in_rms_start']:.3g})")
        lines.append(f'{variant} at lr {result["lr"]}, seed {result["seed"]}: {end}; {what}')
    return '\n'.join(lines)


def plot(result: dict, out: str) -> str:
    """Per run (a colour), the median over layers (line) and the largest layer (dashed) of
    what the SC-Module reads, what it generates and its gradient, per iteration."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    panels = (('loss', 'training loss'), ('x_rms', 'layer input rms (follows the conv weights)'),
              ('sc_in_rms', 'SC-Module input rms (BN: raw per-sample mean)'),
              ('alpha_max', 'max |alpha| (BN: |gamma|)'),
              ('grad_alpha_rms', 'dL/d(SC output) rms'), ('sc_grad', 'SC-Module grad norm'))
    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    for k, variant in enumerate(result['variants']):
        run = result['runs'][variant]
        color = f'C{k}'
        for ax, (metric, title) in zip(axes.flat, panels):
            ax.set_title(title, fontsize=9)
            if metric == 'loss':
                ax.plot(range(1, len(run['loss']) + 1), run['loss'], color=color, label=variant)
                continue
            rows = run['series'][metric]
            finite = [[v for v in row if math.isfinite(v)] for row in rows]
            med = [statistics.median(f) if f else math.nan for f in finite]
            top = [max(f, default=math.nan) for f in finite]
            it = range(1, len(rows) + 1)
            ax.plot(it, med, color=color)
            ax.plot(it, top, color=color, ls='--', lw=0.8)
            ax.set_yscale('log')
        fail = run['first_failure']
        if fail is not None:
            for ax in axes.flat:
                ax.axvline(fail['iteration'], color=color, ls=':', lw=0.8)
    for ax in axes.flat:
        ax.set_xscale('log')  # the failures happen in the first iterations
    axes[0, 0].legend(fontsize=7)
    for ax in axes[1]:
        ax.set_xlabel('iteration')
    fig.suptitle(f"MobileNetV2 x{result['widen']} on Fashion-MNIST, lr {result['lr']}, batch "
                 f"{result['batch']}, seed {result['seed']}: median over layers (solid), largest "
                 f"layer (dashed), first layer out of bound (dotted)", fontsize=9)
    fig.tight_layout()
    save_figure_atomic(fig, out)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data', default='data/fashion_mnist_raw')
    parser.add_argument('--variant', nargs='+', default=['DN-B residual/ReLU/raw/none'],
                        help=f'one or more of {list(VARIANTS)}')
    parser.add_argument('--baseline', default='BN', help="traced alongside ('' for none)")
    parser.add_argument('--lr', type=float, default=0.5)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--iters', type=int, default=600)
    parser.add_argument('--alpha-limit', type=float, default=10.0,
                        help='a layer fails when max |alpha| exceeds this times its start')
    parser.add_argument('--out', default='work_dirs/norm_trace')
    args = parser.parse_args(argv)
    variants = args.variant + ([args.baseline] if args.baseline else [])
    try:
        result = trace_runs(args.data, variants, args.lr, args.seed, args.iters,
                            alpha_limit=args.alpha_limit)
    except (StudyError, OSError) as e:
        raise SystemExit(f'error: {e}')
    write_json_atomic(os.path.join(args.out, 'norm_trace.json'), result)
    png = plot(result, os.path.join(args.out, 'norm_trace.png'))
    print(describe(result))
    print(f"[trace] {os.path.join(args.out, 'norm_trace.json')}, {png}")
    return result
