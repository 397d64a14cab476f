"""The norm study's command line, its summary table and its plot (``make study``).

    python tools/analysis_tools/norm_study.py --data data/fashion_mnist_raw \
        --preset screen|converge [--out DIR] [--workers 2] [--quick]
    # with a GPU: --preset gpu --device cuda --workers 1 (the converge design at full size)

Writes ``<out>/norm_study.json`` (the preset and every run's record, rewritten
atomically after each run: a study stopped part-way continues where it stopped
when run again with the same ``--out``, and a finished run is never run again),
``<out>/norm_study.png`` (the map: mean test top-1 per variant and lr, and the
per-seed differences to BN) and prints the summary as markdown tables: per
variant and lr, mean +- std over the seeds that trained, the per-seed difference
to BN, the runs that diverged (non-finite loss) or did not train; the largest lr
at which every seed trained; and the ranking of :func:`rank`, the study's
decision rule.
"""
import argparse
import json
import math
import multiprocessing as mp
import os
import statistics
import time
from typing import List, Optional

from ..utils import save_figure_atomic, write_json_atomic
from .norm_study import (
    PRESETS,
    QUICK_SIZES,
    QUICK_VARIANTS,
    SIZE_KEYS,
    VARIANTS,
    StudyError,
    load_fashion_mnist,
    plan,
    run_key,
    train_one,
)

_DATA = None


def _init_worker(data_dir: str) -> None:
    global _DATA
    _DATA = load_fashion_mnist(data_dir)


def _run(spec: dict) -> dict:
    return train_one(spec, _DATA)


def study_preset(preset_name: str, quick: bool = False,
                 variants: Optional[List[str]] = None) -> dict:
    """The preset ``preset_name`` (at ``QUICK_SIZES`` with ``quick``), on ``variants`` if given."""
    if preset_name not in PRESETS:
        raise StudyError(f'--preset must be one of {sorted(PRESETS)}, got {preset_name!r}')
    preset = dict(PRESETS[preset_name], name=preset_name, quick=quick)
    if quick:
        preset.update(QUICK_SIZES, variants=QUICK_VARIANTS)
    if variants:
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            raise StudyError(f'--variants: unknown {unknown}; valid: {list(VARIANTS)}')
        preset['variants'] = tuple(variants)
    return preset


def read_previous(out_json: str, preset: dict) -> List[dict]:
    """The finished runs of an earlier, interrupted or smaller study in ``out_json``.

    They are kept and not run again; a file from another preset or size is refused
    rather than mixed in.
    """
    if not os.path.exists(out_json):
        return []
    try:
        with open(out_json) as f:
            previous = json.load(f)
        old = previous['preset']
        runs = previous['runs']
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise StudyError(f'{out_json} is not a norm study result ({e}); move it away to start '
                         'a new study there') from e
    mismatch = [k for k in ('name', 'quick') + SIZE_KEYS if old.get(k) != preset[k]]
    if mismatch:
        raise StudyError(f'{out_json} holds a study of another preset or size (differs in '
                         f'{", ".join(mismatch)}): use another --out, or move it away')
    return runs


def run_study(data_dir: str, preset_name: str, out_dir: str, workers: int = 2,
              variants: Optional[List[str]] = None, device: str = 'cpu',
              quick: bool = False) -> dict:
    """Run the preset's runs that ``<out_dir>/norm_study.json`` does not hold yet.

    The JSON is rewritten (atomically) after each run, so an interrupted study
    continues where it stopped and a finished run is never run again.
    """
    preset = study_preset(preset_name, quick, variants)
    load_fashion_mnist(data_dir)  # fail early, in this process, on bad data
    out_json = os.path.join(out_dir, 'norm_study.json')
    runs = read_previous(out_json, preset)
    done = {run_key(r) for r in runs}
    specs = [dict(spec, device=device) for spec in plan(preset) if run_key(spec) not in done]
    result = dict(preset=preset, runs=runs, minutes=0.0)
    if runs:
        with open(out_json) as f:
            result['minutes'] = json.load(f).get('minutes', 0.0)
    print(f'[study] preset {preset["name"]!r}{" (quick)" if quick else ""}: {len(specs)} runs to '
          f'go, {len(runs)} done before, {workers} worker(s)', flush=True)
    started = time.time()
    if specs:
        ctx = mp.get_context('spawn')
        with ctx.Pool(min(workers, len(specs)), initializer=_init_worker,
                      initargs=(data_dir,)) as pool:
            for i, rec in enumerate(pool.imap_unordered(_run, specs), 1):
                result['runs'].append(rec)
                result['minutes'] = round(result['minutes'] + (time.time() - started) / 60, 2)
                started = time.time()
                write_json_atomic(out_json, result)
                state = (f"diverged at iter {rec['diverged_at']['iter']}" if rec['diverged']
                         else f"val {rec['best_val_top1']:.2f} test {rec['test_top1']:.2f}")
                print(f"[study] {i}/{len(specs)} {rec['variant']} lr {rec['lr']} "
                      f"seed {rec['seed']}: {state} ({rec['seconds']} s)", flush=True)
    write_json_atomic(out_json, result)
    return result


def _mean_std(values) -> str:
    values = [v for v in values if v is not None]
    if not values:
        return '-'
    if len(values) == 1:
        return f'{values[0]:.2f}'
    return f'{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}'


def _baseline(result: dict, baseline: str = 'BN') -> dict:
    """(lr, seed) -> the baseline's run."""
    return {(r['lr'], r['seed']): r for r in result['runs'] if r['variant'] == baseline}


def paired_differences(result: dict, variant: str, lr: float) -> List[Optional[float]]:
    """Per seed (in order), test top-1 of ``variant`` minus BN's at the same lr and seed.

    None where either run did not train (diverged or stayed near chance) or BN
    has no such run.
    """
    bn = _baseline(result)
    diffs = []
    for rec in sorted((r for r in result['runs'] if r['variant'] == variant and r['lr'] == lr),
                      key=lambda r: r['seed']):
        base = bn.get((lr, rec['seed']))
        ok = rec['trained'] and base is not None and base['trained']
        diffs.append(rec['test_top1'] - base['test_top1'] if ok else None)
    return diffs


def summarize(result: dict) -> List[dict]:
    """One row per (variant, lr): seeds pooled, and the paired differences to BN."""
    groups = {}
    for rec in result['runs']:
        groups.setdefault((rec['variant'], rec['lr']), []).append(rec)
    order = {v: i for i, v in enumerate(VARIANTS)}
    rows = []
    for (variant, lr), recs in sorted(groups.items(), key=lambda kv: (order[kv[0][0]], kv[0][1])):
        trained = [r for r in recs if r['trained']]
        gnorm = [max((g for g in r['sc_grad_norm_max'] if g is not None), default=None)
                 for r in recs]
        diffs = paired_differences(result, variant, lr) if variant != 'BN' else []
        rows.append(dict(
            variant=variant, batch=recs[0]['batch'], lr=lr, seeds=len(recs),
            diverged=sum(r['diverged'] for r in recs),
            not_trained=sum(not r['trained'] for r in recs),
            val=_mean_std(r['best_val_top1'] for r in trained),
            test=_mean_std(r['test_top1'] for r in trained),
            test_mean=(statistics.mean(r['test_top1'] for r in trained) if trained else None),
            vs_bn=diffs,
            loss=_mean_std(r['final_train_loss'] for r in trained),
            sc_grad_max=max((g for g in gnorm if g is not None), default=None)))
    return rows


def largest_stable_lr(result: dict) -> dict:
    """Per variant: the largest lr at which every seed trained (None: none)."""
    ok = {}
    for rec in result['runs']:
        ok.setdefault(rec['variant'], {}).setdefault(rec['lr'], []).append(rec['trained'])
    return {v: max((lr for lr, t in lrs.items() if all(t)), default=None) for v, lrs in ok.items()}


def rank(result: dict, lr: Optional[float] = None) -> List[dict]:
    """The study's decision rule, best first: the variants other than BN ranked by

    1. runs that diverged where BN (same lr and seed) did not: fewest first;
    2. the share of runs that trained where BN trained (same lr and seed; a share, so that a
       study stopped part-way ranks fairly): largest first. Where BN itself
       did not train (the screen's short runs at lr >= 0.2), training is left to chance;
    3. mean paired difference to BN in test top-1 at ``lr`` (default: the preset's first
       lr, the paper's 0.05), over the seeds where both trained: largest first.
    """
    lr = result['preset']['lrs'][0] if lr is None else lr
    bn = _baseline(result)
    rows = {}
    for rec in result['runs']:
        if rec['variant'] == 'BN':
            continue
        row = rows.setdefault(rec['variant'], dict(variant=rec['variant'], runs=0,
                                                   diverged_not_bn=0, trained=0))
        base = bn.get((rec['lr'], rec['seed']))
        if base is not None and base['trained']:
            row['runs'] += 1
            row['trained'] += rec['trained']
        row['diverged_not_bn'] += rec['diverged'] and base is not None and not base['diverged']
    for row in rows.values():
        diffs = [d for d in paired_differences(result, row['variant'], lr) if d is not None]
        row['lr'] = lr
        row['vs_bn_mean'] = statistics.mean(diffs) if diffs else None
        row['vs_bn_seeds'] = len(diffs)
    return sorted(rows.values(), key=lambda r: (
        r['diverged_not_bn'], -r['trained'] / max(r['runs'], 1),
        -(r['vs_bn_mean'] if r['vs_bn_mean'] is not None else -math.inf)))


def _signed(values) -> str:
    return ', '.join('x' if v is None else f'{v:+.2f}' for v in values) or '-'


def markdown(result: dict) -> str:
    """The summary table (mean +- std over the seeds that trained), then the largest stable lr."""
    stable = largest_stable_lr(result)
    lines = ['| variant | batch | lr | seeds | diverged | not trained | test top-1 | '
             'vs BN per seed (x: not trained) | best val top-1 | final train loss | '
             'max SC grad norm |',
             '|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|']
    for r in summarize(result):
        g = '-' if r['sc_grad_max'] is None else f"{r['sc_grad_max']:.3g}"
        lines.append(f"| {r['variant']} | {r['batch']} | {r['lr']} | {r['seeds']} | "
                     f"{r['diverged']} | {r['not_trained']} | {r['test']} | "
                     f"{_signed(r['vs_bn']) if r['variant'] != 'BN' else ''} | {r['val']} | "
                     f"{r['loss']} | {g} |")
    lines += ['', '| variant | largest lr at which every seed trained |', '|---|---:|']
    lines += [f'| {v} | {stable[v] if stable[v] is not None else "none"} |'
              for v in VARIANTS if v in stable]
    lines += ['', '| rank | variant | diverged where BN did not | trained where BN trained | '
              'test top-1 minus BN at the first lr (mean over seeds) |',
              '|---:|---|---:|---:|---:|']
    for i, r in enumerate(rank(result), 1):
        diff = '-' if r['vs_bn_mean'] is None else f"{r['vs_bn_mean']:+.2f} ({r['vs_bn_seeds']})"
        lines.append(f"| {i} | {r['variant']} | {r['diverged_not_bn']} | {r['trained']} / "
                     f"{r['runs']} | {diff} |")
    return '\n'.join(lines)


def plot(result: dict, out: str) -> str:
    """Left: the map, mean test top-1 per variant and lr (a run that did not train counts 0;
    the cell says how many seeds trained). Right: per-seed test top-1 minus BN's."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    variants = [v for v in VARIANTS if any(r['variant'] == v for r in result['runs'])]
    lrs = sorted({r['lr'] for r in result['runs']})
    grid = np.full((len(variants), len(lrs)), np.nan)
    notes = {}
    for i, v in enumerate(variants):
        for j, lr in enumerate(lrs):
            recs = [r for r in result['runs'] if r['variant'] == v and r['lr'] == lr]
            if recs:
                grid[i, j] = statistics.mean(r['test_top1'] if r['trained'] else 0.0 for r in recs)
                diverged = sum(r['diverged'] for r in recs)
                notes[i, j] = (f"{grid[i, j]:.0f}\n{sum(r['trained'] for r in recs)}/{len(recs)}"
                               + (f' d{diverged}' if diverged else ''))
    height = 1.2 + 0.38 * len(variants)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, height),
                                   gridspec_kw=dict(width_ratios=[2, 3]))
    ax1.imshow(grid, cmap='viridis', vmin=0, vmax=100, aspect='auto')
    for (i, j), text in notes.items():
        ax1.text(j, i, text, ha='center', va='center', fontsize=6,
                 color='white' if grid[i, j] < 60 else 'black')
    ax1.set_xticks(range(len(lrs)), [str(lr) for lr in lrs])
    ax1.set_yticks(range(len(variants)), variants, fontsize=7)
    ax1.set(xlabel='lr', title='mean test top-1 (not trained = 0); seeds trained; dN: N diverged')
    markers = 'o^sDv<>'
    for j, lr in enumerate(lrs):
        for i, v in enumerate(variants):
            if v == 'BN':
                continue
            diffs = [d for d in paired_differences(result, v, lr) if d is not None]
            ax2.scatter(diffs, [i + (j - (len(lrs) - 1) / 2) * 0.2] * len(diffs), s=14,
                        marker=markers[j % len(markers)], color=f'C{j}',
                        label=f'lr {lr}' if i == 1 else None)
    ax2.axvline(0, color='grey', lw=0.8)
    ax2.set_yticks(range(len(variants)), variants, fontsize=7)
    ax2.set_ylim(len(variants) - 0.5, -0.5)
    ax2.set(xlabel='test top-1 minus BN (same lr and seed; runs that trained)',
            title='paired difference to BN')
    ax2.legend(fontsize=7)
    preset = result['preset']
    fig.suptitle(f"MobileNetV2 x{preset['widen']} on Fashion-MNIST, preset {preset['name']!r}: "
                 f"batch {preset['batch']}, {preset['images']} images x {preset['epochs']} "
                 f"epoch(s), seeds {list(preset['seeds'])}", fontsize=9)
    fig.tight_layout()
    save_figure_atomic(fig, out)
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data', default='data/fashion_mnist_raw',
                        help='folder of the 4 Fashion-MNIST idx .gz files')
    parser.add_argument('--preset', default='screen', help=f'one of {sorted(PRESETS)}')
    parser.add_argument('--quick', action='store_true',
                        help="the preset's lrs at a size that runs in seconds (one seed, "
                             f"variants {list(QUICK_VARIANTS)} unless --variants)")
    parser.add_argument('--out', default=None, help='default: work_dirs/norm_study/<preset>')
    parser.add_argument('--workers', type=int, default=2, help='runs side by side (1 thread each)')
    parser.add_argument('--variants', nargs='+', help=f'a subset of {list(VARIANTS)}')
    parser.add_argument('--device', default='cpu',
                        help="'cpu' or 'cuda' (with --preset gpu: full size, see docs/study.md)")
    parser.add_argument('--report-only', action='store_true',
                        help='re-print the table and re-draw the plot from <out>/norm_study.json')
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error(f'--workers must be >= 1, got {args.workers}')
    out = args.out or os.path.join('work_dirs', 'norm_study', args.preset)
    try:
        if args.report_only:
            with open(os.path.join(out, 'norm_study.json')) as f:
                result = json.load(f)
        else:
            result = run_study(args.data, args.preset, out, args.workers,
                               variants=args.variants, device=args.device, quick=args.quick)
    except (StudyError, OSError) as e:
        raise SystemExit(f'error: {e}')
    png = plot(result, os.path.join(out, 'norm_study.png'))
    print(markdown(result))
    print(f"[study] {len(result['runs'])} runs: {os.path.join(out, 'norm_study.json')}, {png}")
    return result
