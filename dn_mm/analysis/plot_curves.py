#!/usr/bin/env python
"""Plot per-epoch metrics of several runs in one PNG (paper Figures 1 and 3).

    python tools/analysis_tools/plot_curves.py WORK_DIR [WORK_DIR ...] \\
        --keys train/accuracy_top-1 val/accuracy/top1 --out curves.png \\
        [--title TITLE] [--legend NAME ...]

Figure 1 (accuracy vs epoch, BN vs DN-B): keys ``train/accuracy_top-1``,
``val/accuracy/top1``; Figure 3 (SSDLite mAP vs epoch): ``val/coco/bbox_mAP``.

A run's metrics come from ``WORK_DIR/epoch_metrics.json`` (written by
dn_mm's EpochMetricsHook: ``{"1": {"train/loss": .., "val/accuracy/top1": ..}}``)
when present, else from mmengine's ``WORK_DIR/<timestamp>/vis_data/scalars.json``
of the latest timestamp folder: validation lines (``step`` = epoch) give
``val/<key>``, training lines (with ``epoch``) give ``train/<key>`` averaged
over each epoch. Legends default to the config name (the ``.py`` mmengine
copies into the work dir), else the work dir's name. The PNG is written
atomically (temporary file, then rename).
"""
import argparse
import glob
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

from ..utils import save_figure_atomic

EPOCH_METRICS = 'epoch_metrics.json'
# bookkeeping fields of mmengine's scalars.json lines, not metrics
SCALAR_META = {'step', 'epoch', 'iter', 'data_time', 'time', 'memory', 'eta'}


class CurveError(Exception):
    """A work dir without logs, an unknown key, bad arguments."""


def latest_scalars(work_dir: str) -> Optional[str]:
    """``<work_dir>/<timestamp>/vis_data/scalars.json`` of the latest timestamp."""
    found = sorted(glob.glob(osp.join(glob.escape(work_dir), '*', 'vis_data', 'scalars.json')))
    return found[-1] if found else None


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)  # NaN kept: DN-C diverges


def read_scalars(path: str) -> Dict[str, Dict[int, float]]:
    sums: Dict[str, Dict[int, List[float]]] = defaultdict(lambda: defaultdict(list))
    series: Dict[str, Dict[int, float]] = defaultdict(dict)
    with open(path) as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as e:
                raise CurveError(f'{path}:{lineno}: not a JSON line ({e})') from None
            if not isinstance(record, dict):
                continue
            metrics = {k: v for k, v in record.items() if k not in SCALAR_META and _is_number(v)}
            if 'epoch' in record:  # training iteration line
                epoch = int(record['epoch'])
                for k, v in metrics.items():
                    sums[f'train/{k}'][epoch].append(float(v))
            elif 'step' in record:  # validation line: step = epoch
                epoch = int(record['step'])
                for k, v in metrics.items():
                    series[f'val/{k}'][epoch] = float(v)
    for key, per_epoch in sums.items():
        series[key] = {e: sum(vs) / len(vs) for e, vs in per_epoch.items()}
    return dict(series)


def read_run(work_dir: str) -> Dict[str, Dict[int, float]]:
    """``{key: {epoch: value}}`` of one run (see module doc for the sources)."""
    if not osp.isdir(work_dir):
        raise CurveError(f'work dir not found: {work_dir}')
    path = osp.join(work_dir, EPOCH_METRICS)
    if osp.isfile(path):
        try:
            with open(path) as f:
                epochs = json.load(f)
        except (OSError, json.JSONDecodeError) as e:
            raise CurveError(f'{path}: cannot read ({e})') from None
        if not isinstance(epochs, dict):
            raise CurveError(f'{path}: expected {{"epoch": {{key: value}}}}')
        series: Dict[str, Dict[int, float]] = defaultdict(dict)
        for epoch, metrics in epochs.items():
            if not isinstance(metrics, dict):
                continue
            for k, v in metrics.items():
                if _is_number(v):
                    series[k][int(epoch)] = float(v)
        return dict(series)
    scalars = latest_scalars(work_dir)
    if scalars is None:
        raise CurveError(f'no logs in {work_dir}: neither {EPOCH_METRICS} nor '
                         '<timestamp>/vis_data/scalars.json')
    return read_scalars(scalars)


def run_name(work_dir: str) -> str:
    """The config name mmengine copied into the work dir, else the dir's name."""
    configs = [p for p in glob.glob(osp.join(glob.escape(work_dir), '*.py')) if osp.isfile(p)]
    if configs:
        newest = max(configs, key=lambda p: (osp.getmtime(p), p))
        return osp.splitext(osp.basename(newest))[0]
    return osp.basename(osp.normpath(osp.abspath(work_dir)))


def collect(work_dirs: Sequence[str], keys: Sequence[str],
            legends: Optional[Sequence[str]] = None) -> List[dict]:
    """One dict per (run, key): ``label``, ``run``, ``key``, ``epochs``, ``values``."""
    if not work_dirs:
        raise CurveError('give at least one work dir')
    if not keys:
        raise CurveError('give at least one key (--keys)')
    if legends and len(legends) != len(work_dirs):
        raise CurveError(f'--legend: {len(legends)} names for {len(work_dirs)} work dirs')
    curves = []
    for i, work_dir in enumerate(work_dirs):
        run = read_run(work_dir)
        unknown = [k for k in keys if k not in run]
        if unknown:
            raise CurveError(f"{work_dir}: unknown key(s) {', '.join(unknown)}; available: "
                             + (', '.join(sorted(run)) or 'none'))
        name = legends[i] if legends else run_name(work_dir)
        for key in keys:
            epochs = sorted(run[key])
            curves.append(dict(label=name if len(keys) == 1 else f'{name}: {key}', run=work_dir,
                               name=name, key=key, epochs=epochs,
                               values=[run[key][e] for e in epochs]))
    return curves


def _linestyle(key: str) -> str:
    return '--' if key.startswith('train') else ':' if key.startswith('test') else '-'


def _ylabel(keys: Sequence[str]) -> str:
    if len(keys) == 1:
        return keys[0]
    if all('accuracy' in k for k in keys):
        return 'accuracy (%)'
    if all('mAP' in k for k in keys):
        return 'bbox mAP'
    return 'value'


def plot(curves: List[dict], out: str, title: Optional[str] = None) -> str:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    keys = list(dict.fromkeys(c['key'] for c in curves))
    names = list(dict.fromkeys(c['name'] for c in curves))
    colors = plt.rcParams['axes.prop_cycle'].by_key()['color']
    fig, ax = plt.subplots(figsize=(7, 4.5))
    try:
        for c in curves:
            color = colors[names.index(c['name']) % len(colors)]
            ax.plot(c['epochs'], c['values'], _linestyle(c['key']), color=color, label=c['label'],
                    marker='o' if len(c['epochs']) < 20 else None, markersize=3)
        ax.set_xlabel('epoch')
        ax.set_ylabel(_ylabel(keys))
        if title:
            ax.set_title(title)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize='small')
        save_figure_atomic(fig, out)
    finally:
        plt.close(fig)
    return out


def plot_curves(work_dirs: Sequence[str], keys: Sequence[str], out: str,
                title: Optional[str] = None, legends: Optional[Sequence[str]] = None) -> List[dict]:
    """Read the runs, plot ``keys`` vs epoch into ``out``; returns the curves plotted."""
    curves = collect(work_dirs, keys, legends)
    plot(curves, out, title)
    return curves


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dirs', nargs='+', metavar='WORK_DIR')
    parser.add_argument('--keys', nargs='+', required=True,
                        help='metrics to plot, e.g. val/accuracy/top1 train/accuracy_top-1 '
                        'val/coco/bbox_mAP')
    parser.add_argument('--out', required=True, help='PNG file to write')
    parser.add_argument('--title', default=None)
    parser.add_argument('--legend', nargs='+', default=None, metavar='NAME',
                        help='one legend name per work dir (default: config names)')
    return parser.parse_args(argv)


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    try:
        curves = plot_curves(args.work_dirs, args.keys, args.out, args.title, args.legend)
    except CurveError as e:
        raise SystemExit(f'error: {e}')
    for c in curves:
        last = f'{c["values"][-1]:.4g}' if c['values'] else '-'
        print(f"{c['label']}: {len(c['epochs'])} epochs, last {last}")
    print(f'saved {args.out}')
    return curves


if __name__ == '__main__':
    main()
