"""The norm study's command line, its summary table and its plot (``make study``).

    python tools/analysis_tools/norm_study.py --data data/fashion_mnist_raw \
        --preset cpu --out work_dirs/norm_study [--workers 2] [--quick]
    # with a GPU: --preset gpu --device cuda --workers 1 (width 1.0, 48k images x 15 epochs)

Writes ``<out>/norm_study.json`` (the preset and every run's record, rewritten
atomically after each run, so a long study can be followed), ``<out>/
norm_study.png`` and prints the summary as a markdown table: per variant and
setting, mean +- std over seeds of best val and test top-1, the number of
runs that diverged (non-finite loss) or did not train, and the largest lr at
which every seed trained.
"""
import argparse
import multiprocessing as mp
import os
import statistics
import time
from typing import List, Optional

from ..utils import save_figure_atomic, write_json_atomic
from .norm_study import PRESETS, VARIANTS, StudyError, load_fashion_mnist, plan, train_one

_DATA = None


def _init_worker(data_dir: str) -> None:
    global _DATA
    _DATA = load_fashion_mnist(data_dir)


def _run(spec: dict) -> dict:
    return train_one(spec, _DATA)


def run_study(data_dir: str, preset_name: str, out_dir: str, workers: int = 2,
              variants: Optional[List[str]] = None, device: str = 'cpu') -> dict:
    if preset_name not in PRESETS:
        raise StudyError(f'--preset must be one of {sorted(PRESETS)}, got {preset_name!r}')
    preset = dict(PRESETS[preset_name])
    if variants:
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            raise StudyError(f'--variants: unknown {unknown}; valid: {list(VARIANTS)}')
        preset['variants'] = tuple(variants)
    load_fashion_mnist(data_dir)  # fail early, in this process, on bad data
    specs = [dict(spec, device=device) for spec in plan(preset)]
    result = dict(preset=dict(preset, name=preset_name), runs=[], started=time.time())
    out_json = os.path.join(out_dir, 'norm_study.json')
    print(f'[study] {len(specs)} runs, preset {preset_name!r}, {workers} worker(s)', flush=True)
    ctx = mp.get_context('spawn')
    with ctx.Pool(workers, initializer=_init_worker, initargs=(data_dir,)) as pool:
        for rec in pool.imap_unordered(_run, specs):
            result['runs'].append(rec)
            write_json_atomic(out_json, result)
            state = (f"diverged at iter {rec['diverged_at']['iter']}" if rec['diverged']
                     else f"val {rec['best_val_top1']:.2f} test {rec['test_top1']:.2f}")
            print(f"[study] {len(result['runs'])}/{len(specs)} {rec['variant']} lr {rec['lr']} "
                  f"b{rec['batch']} seed {rec['seed']}: {state} ({rec['seconds']} s)", flush=True)
    result['minutes'] = round((time.time() - result.pop('started')) / 60, 1)
    write_json_atomic(out_json, result)
    return result


def _mean_std(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return '-'
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def summarize(result: dict) -> List[dict]:
    """One row per (variant, batch, lr): seeds pooled."""
    groups = {}
    for rec in result['runs']:
        groups.setdefault((rec['variant'], rec['batch'], rec['lr']), []).append(rec)
    order = {v: i for i, v in enumerate(VARIANTS)}
    rows = []
    for (variant, batch, lr), recs in sorted(groups.items(),
                                             key=lambda kv: (order[kv[0][0]], -kv[0][1], kv[0][2])):
        trained = [r for r in recs if r['trained']]
        gnorm = [max((g for g in r['sc_grad_norm_max'] if g is not None), default=None)
                 for r in recs]
        rows.append(dict(
            variant=variant, batch=batch, lr=lr, seeds=len(recs),
            diverged=sum(r['diverged'] for r in recs),
            not_trained=sum(not r['trained'] for r in recs),
            val=_mean_std(r['best_val_top1'] for r in trained),
            test=_mean_std(r['test_top1'] for r in trained),
            loss=_mean_std(r['final_train_loss'] for r in trained),
            sc_grad_max=max((g for g in gnorm if g is not None), default=None)))
    return rows


def largest_stable_lr(result: dict) -> dict:
    """Per variant: the largest batch-64 lr at which every seed trained (None: none)."""
    ok = {}
    for rec in result['runs']:
        if rec['batch'] == 64:
            ok.setdefault(rec['variant'], {}).setdefault(rec['lr'], []).append(rec['trained'])
    return {v: max((lr for lr, t in lrs.items() if all(t)), default=None) for v, lrs in ok.items()}


def markdown(result: dict) -> str:
    stable = largest_stable_lr(result)
    lines = ['| variant | batch | lr | seeds | diverged | not trained | best val top-1 | '
             'test top-1 | final train loss | max SC grad norm |',
             '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|']
    for r in summarize(result):
        g = '-' if r['sc_grad_max'] is None else f"{r['sc_grad_max']:.3g}"
        lines.append(f"| {r['variant']} | {r['batch']} | {r['lr']} | {r['seeds']} | "
                     f"{r['diverged']} | "
                     f"{r['not_trained']} | {r['val']} | {r['test']} | {r['loss']} | {g} |")
    lines += ['', '| variant | largest lr (batch 64) at which every seed trained |', '|---|---:|']
    lines += [f'| {v} | {stable[v] if stable[v] is not None else "none"} |'
              for v in VARIANTS if v in stable]
    return '\n'.join(lines)


def plot(result: dict, out: str) -> str:
    """Test top-1 vs lr at batch 64 (mean, min-max over seeds; x: diverged), and batch 8 vs 64."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5), gridspec_kw=dict(width_ratios=[3, 2]))
    variants = [v for v in VARIANTS if any(r['variant'] == v for r in result['runs'])]
    b8_lr = result['preset'].get('batch8_lr')
    for i, v in enumerate(variants):
        recs = [r for r in result['runs'] if r['variant'] == v and r['batch'] == 64]
        lrs = sorted({r['lr'] for r in recs})
        means, lows, highs = [], [], []
        for lr in lrs:
            accs = [r['test_top1'] if r['trained'] else 0.0 for r in recs if r['lr'] == lr]
            means.append(statistics.mean(accs))
            lows.append(min(accs))
            highs.append(max(accs))
        line, = ax1.plot(lrs, means, marker='o', label=v)
        ax1.fill_between(lrs, lows, highs, alpha=0.15, color=line.get_color())
        bad = [r['lr'] for r in recs if r['diverged']]
        if bad:
            ax1.scatter(bad, [0] * len(bad), marker='x', s=60, color=line.get_color())
        for j, batch in enumerate((64, 8)):
            accs = [r['test_top1'] if r['trained'] else 0.0 for r in result['runs']
                    if r['variant'] == v and r['batch'] == batch and r['lr'] == b8_lr]
            if accs:
                ax2.bar(i + 0.4 * j, statistics.mean(accs), width=0.38,
                        yerr=statistics.stdev(accs) if len(accs) > 1 else 0,
                        color=line.get_color(), alpha=1.0 if batch == 64 else 0.5)
    ax1.set(xscale='log', xlabel='lr (batch 64)', ylabel='test top-1 (%) of the best-val epoch',
            title='lr sweep (x at 0: diverged; not trained counts as 0)')
    ax1.axhline(100.0 / 10, color='grey', lw=0.8, ls=':')
    ax1.legend(fontsize=7)
    ax2.set_xticks([i + 0.2 for i in range(len(variants))], variants, rotation=35, ha='right',
                   fontsize=7)
    ax2.set(ylabel='test top-1 (%)', title=f'batch 64 (solid) vs batch 8 (light), lr {b8_lr}')
    fig.suptitle(f"MobileNetV2 on Fashion-MNIST, preset {result['preset']['name']!r}: "
                 'mean over seeds', fontsize=9)
    try:
        save_figure_atomic(fig, out)
    finally:
        plt.close(fig)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data', default='data/fashion_mnist_raw',
                        help='folder of the 4 Fashion-MNIST idx .gz files')
    parser.add_argument('--preset', default='cpu', help=f'one of {sorted(PRESETS)}')
    parser.add_argument('--quick', action='store_true', help='same as --preset quick (seconds)')
    parser.add_argument('--out', default='work_dirs/norm_study')
    parser.add_argument('--workers', type=int, default=2, help='runs side by side (1 thread each)')
    parser.add_argument('--variants', nargs='+', help=f'a subset of {list(VARIANTS)}')
    parser.add_argument('--device', default='cpu',
                        help="'cpu' or 'cuda' (with --preset gpu: more data, as README says)")
    parser.add_argument('--report-only', action='store_true',
                        help='re-print the table and re-draw the plot from <out>/norm_study.json')
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f'--workers must be >= 1, got {args.workers}')
    try:
        if args.report_only:
            import json
            with open(os.path.join(args.out, 'norm_study.json')) as f:
                result = json.load(f)
        else:
            result = run_study(args.data, 'quick' if args.quick else args.preset, args.out,
                               args.workers, variants=args.variants, device=args.device)
    except (StudyError, OSError) as e:
        raise SystemExit(f'error: {e}')
    png = plot(result, os.path.join(args.out, 'norm_study.png'))
    print(markdown(result))
    print(f"[study] {len(result['runs'])} runs: {os.path.join(args.out, 'norm_study.json')}, {png}")
    return result
