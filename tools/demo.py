#!/usr/bin/env python
"""The main job on the embedded demo data (`make demo`): BN vs DN-B, end to end.

1. ImageNet-style pretraining of MobileNetV2 BN and DN-B (r=16, g=oup) on the
   Fashion-MNIST demo data (configs/demo/mobilenet-v2_*_fmnist.py), each
   tested on its best checkpoint as the paper does;
2. their backbones exported (tools/model_converters/export_backbone.py) and
   SSDLite BN vs DN-B trained from them on the NEON tree-crown demo data in
   COCO format (configs/demo/ssdlite_mobilenetv2-*_deepforest.py), evaluated
   with the COCO metric; each detector's val predictions dumped
   (tools/test.py --out);
3. one table: norm, params, Mult-Adds, top-1, bbox mAP, mAP50, and the mAP50
   after the first epoch beside the final one; and pictures beside it: val
   top-1 and val mAP50 per epoch (BN vs DN-B), a grid of val tiles with the
   ground truth and both detectors' boxes, and the DN-B classifier's generated
   affine parameters (paper Figure 5).

Every number comes from the files the runs write (``epoch_metrics.json``,
``paper_report.json``, the dumped predictions), never from log lines. Every
run is seeded, so the table is the same on every run on the same machine.
Logs, checkpoints and pictures go to work_dirs/demo/. ``--draw-only`` redraws
the table and pictures from an earlier run without training.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from dn_mm.engine.paper_report import read_epoch_metrics

ROOT = Path(__file__).resolve().parents[1]
DEMO_CFGS = ROOT / 'configs' / 'demo'

RUNS = [  # (label, classification config, detection config, work dir key)
    ('BN', 'mobilenet-v2_bn_1xb32-10e_fmnist.py',
     'ssdlite_mobilenetv2-bn_1xb8-36e_deepforest.py', 'bn'),
    ('DN-B (16, oup)', 'mobilenet-v2_dnb-r16-goup_1xb32-10e_fmnist.py',
     'ssdlite_mobilenetv2-dnb-r16-goup_1xb8-36e_deepforest.py', 'dnb'),
]
CLS_KEY, DET_KEY = 'val/accuracy/top1', 'val/coco/bbox_mAP_50'
PREDICTIONS = 'val_predictions.pkl'
# Fashion-MNIST labels for the affine maps: T-shirt/top, Trouser, Sandal, Ankle boot
AFFINE_CLASSES = ('0', '1', '5', '9')


def read_json(path: Path) -> dict:
    import json
    if not path.is_file():
        raise SystemExit(f'{path} is missing: run the demo without --draw-only first')
    return json.loads(path.read_text())


def new_progress_lines(work_dir: Path, key: str, seen: set) -> list:
    """Lines for what ``work_dir`` reports that was not printed yet: each epoch's ``key``
    (``epoch_metrics.json``) and, at the end, the test top-1 (``paper_report.json``)."""
    lines = []
    try:
        epochs = read_epoch_metrics(str(work_dir))
    except (OSError, ValueError):  # not written yet (the files are written atomically)
        epochs = {}
    for epoch in sorted(epochs, key=int):
        if key in epochs[epoch] and epoch not in seen:
            seen.add(epoch)
            lines.append(f'epoch {epoch}: {key} {epochs[epoch][key]:.4g}')
    report = work_dir / 'paper_report.json'
    if report.is_file() and 'report' not in seen:
        seen.add('report')
        best = read_json(report)
        lines.append(f"test top-1 {best['test_top1']:.2f} "
                     f"(checkpoint of epoch {best['best_epoch']})")
    return lines


def run_side_by_side(jobs, threads: int, key=None) -> None:
    """Run each ``(label, argv, log, work_dir)`` at once, each on its share of the cores.

    On a small CPU two single-threaded runs side by side finish well before two
    2-thread ones run one after the other, and single-threaded runs are
    reproducible. With ``key``, each new epoch's metrics are printed from the
    run's ``epoch_metrics.json`` as it is written.
    """
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    procs = []
    for label, argv, log_path, work_dir in jobs:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, 'w')
        procs.append((label, log, work_dir, set(),
                      subprocess.Popen([sys.executable, *map(str, argv)], cwd=ROOT, env=env,
                                       stdout=log, stderr=subprocess.STDOUT)))
    start = time.time()
    while True:
        running = any(p.poll() is None for *_, p in procs)
        for label, _, work_dir, seen, _ in procs:
            for line in (new_progress_lines(work_dir, key, seen) if key else []):
                print(f'  [{time.time() - start:4.0f}s {label}] {line}', flush=True)
        if not running:
            break
        time.sleep(2)
    for label, log, _, _, proc in procs:
        log.close()
        if proc.returncode != 0:
            raise SystemExit(f'{label}: {proc.args[1]} failed (exit {proc.returncode}); '
                             f'log: {log.name}')


def data_options(data_root: Path, det: bool) -> dict:
    """Config overrides pointing a demo config at ``data_root``."""
    root = data_root / ('deepforest_coco' if det else 'fashion_mnist_imagenet')
    opts = {f'{split}_dataloader.dataset.data_root': str(root)
            for split in ('train', 'val', 'test')}
    if det:
        ann = str(root / 'annotations' / 'instances_val.json')
        opts.update({'val_evaluator.ann_file': ann, 'test_evaluator.ann_file': ann})
    return opts


def cfg_options(options: dict) -> list:
    """``options`` as ``--cfg-options key=value ...`` arguments."""
    return ['--cfg-options'] + [f'{k}={v}' for k, v in options.items()]


def train(work: Path, data_root: Path, threads: int) -> None:
    from dn_mm.models.backbone_export import export_backbone
    for _, _, _, key in RUNS:
        for task in ('cls', 'det'):
            if (work / f'{task}_{key}').exists():
                shutil.rmtree(work / f'{task}_{key}')  # a fresh, seeded run every time
    print('[demo] 1/3 ImageNet-style pretraining, BN and DN-B side by side: '
          + ', '.join(cls for _, cls, _, _ in RUNS), flush=True)
    run_side_by_side([(label, ['tools/train.py', DEMO_CFGS / cls, '--work-dir', work / f'cls_{key}',
                               *cfg_options(data_options(data_root, det=False))],
                       work / f'cls_{key}.log', work / f'cls_{key}')
                      for label, cls, _, key in RUNS], threads, CLS_KEY)
    for _, _, _, key in RUNS:
        report = read_json(work / f'cls_{key}' / 'paper_report.json')
        export_backbone(report['best_checkpoint'], str(work / f'cls_{key}' / 'backbone.pth'))
    print('[demo] 2/3 SSDLite from those backbones, side by side: '
          + ', '.join(det for _, _, det, _ in RUNS), flush=True)
    run_side_by_side([(label, ['tools/train.py', DEMO_CFGS / det, '--work-dir', work / f'det_{key}',
                               *cfg_options({**data_options(data_root, det=True),
                                             'model.backbone.init_cfg.checkpoint':
                                             work / f'cls_{key}' / 'backbone.pth'})],
                       work / f'det_{key}.log', work / f'det_{key}')
                      for label, _, det, key in RUNS], threads, DET_KEY)


def predict(work: Path, data_root: Path, threads: int) -> None:
    """Each detector's predictions on the val tiles (tools/test.py --out), for the box grid."""
    jobs = []
    for label, _, det, key in RUNS:
        run = work / f'det_{key}'
        if (run / PREDICTIONS).is_file():
            continue
        if not (run / 'last_checkpoint').is_file():
            raise SystemExit(f'{run}: no checkpoint (last_checkpoint missing): run the demo '
                             'without --draw-only first')
        ckpt = (run / 'last_checkpoint').read_text().strip()
        jobs.append((label, ['tools/test.py', DEMO_CFGS / det, ckpt, '--work-dir', run / 'predict',
                             '--out', run / PREDICTIONS,
                             *cfg_options(data_options(data_root, det=True))],
                     work / f'det_{key}_predict.log', None))
    if jobs:
        print('[demo] 3/3 val predictions of both detectors (tools/test.py --out)', flush=True)
        run_side_by_side(jobs, threads)


def draw(work: Path, data_root: Path, score_thr: float) -> list:
    """The demo's pictures, written beside its table; returns their paths."""
    from dn_mm.analysis.detection_grid import detection_grid
    from dn_mm.analysis.plot_curves import plot_curves
    from dn_mm.analysis.visualize_affine import visualize_affine
    labels = [label for label, *_ in RUNS]
    outs = [work / 'cls_val_top1.png', work / 'det_val_mAP50.png', work / 'det_val_boxes.png',
            work / 'cls_dnb_affine.png']
    plot_curves([str(work / f'cls_{key}') for *_, key in RUNS], [CLS_KEY], str(outs[0]),
                title='MobileNetV2, Fashion-MNIST demo: val top-1 (%)', legends=labels)
    plot_curves([str(work / f'det_{key}') for *_, key in RUNS], [DET_KEY], str(outs[1]),
                title='SSDLite, NEON tree crowns: val mAP50', legends=labels)
    detection_grid([str(work / f'det_{key}' / PREDICTIONS) for *_, key in RUNS],
                   str(data_root / 'deepforest_coco' / 'annotations' / 'instances_val.json'),
                   str(outs[2]), legends=labels, tiles=4, score_thr=score_thr,
                   title=f'val tiles: ground truth and boxes scoring >= {score_thr:g}')
    label, cls_cfg, _, key = RUNS[1]
    report = read_json(work / f'cls_{key}' / 'paper_report.json')
    visualize_affine(str(DEMO_CFGS / cls_cfg), report['best_checkpoint'], list(AFFINE_CLASSES),
                     str(outs[3]), cfg_options=data_options(data_root, det=False),
                     title=f'{label} classifier: generated affine parameters (test images)')
    return [str(p) for p in outs]


def complexity(config: Path, shape):
    """Params and Mult-Adds in the paper's convention (tools/analysis_tools/get_flops.py)."""
    from dn_mm.analysis.complexity import count_config
    return count_config(str(config), shape)


def table(work: Path) -> str:
    """The demo's table, from each run's paper_report.json and epoch_metrics.json."""
    def pct(v):
        return '-' if v is None else f'{100 * v:.1f}'

    lines = ['| norm | cls params | cls Mult-Adds | top-1 (test) | det params | det Mult-Adds '
             '| bbox mAP | mAP50 | mAP50 after epoch 1 |', '|' + '---|' * 9]
    for label, cls_cfg, det_cfg, key in RUNS:
        cls = read_json(work / f'cls_{key}' / 'paper_report.json')
        epochs = read_json(work / f'det_{key}' / 'epoch_metrics.json')
        last = epochs[str(max(int(e) for e in epochs))]
        first = epochs.get('1', {})
        cls_c = complexity(DEMO_CFGS / cls_cfg, (64, 64))
        det_c = complexity(DEMO_CFGS / det_cfg, (320, 320))
        lines.append(
            f"| {label} | {cls_c['params'] / 1e6:.2f}M | {cls_c['mult_adds'] / 1e6:.1f}M | "
            f"{cls['test_top1']:.2f} | {det_c['params'] / 1e6:.2f}M | "
            f"{det_c['mult_adds'] / 1e9:.2f}G | {pct(last.get('val/coco/bbox_mAP'))} | "
            f"{pct(last.get(DET_KEY))} | {pct(first.get(DET_KEY))} |")
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', default='data', help='demo data (make data)')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--draw-only', action='store_true',
                        help='no training: the table and pictures of an earlier run in --work-dir')
    parser.add_argument('--score-thr', type=float, default=0.3,
                        help='boxes drawn in the val grid score at least this (default 0.3)')
    args = parser.parse_args(argv)
    data_root, work = Path(args.data_root).resolve(), Path(args.work_dir).resolve()
    for need in ('fashion_mnist_imagenet/in100/meta/train.txt',
                 'deepforest_coco/annotations/instances_train.json'):
        if not (data_root / need).is_file():
            raise SystemExit(f'--data-root: {data_root / need} is missing: run `make data`')
    threads = max(1, (os.cpu_count() or 2) // len(RUNS))
    t0 = time.time()
    if not args.draw_only:
        train(work, data_root, threads)
    predict(work, data_root, threads)
    pictures = draw(work, data_root, args.score_thr)
    print(f'\n[demo] done in {(time.time() - t0) / 60:.1f} min. Classification: Fashion-MNIST '
          'demo (64x64, 10 classes); detection: NEON tree crowns (320x320, COCO mAP in %).')
    print(table(work))
    print('[demo] One seed, 300 test images and 20 val tiles: this shows that the pipeline works '
          'end to end (data, pretraining, export, detection, evaluation), not which norm is '
          'better; for that see the norm study (make study, README "Does DN-B hold up?").')
    print('\n[demo] pictures:\n' + '\n'.join(f'  {p}' for p in pictures))


if __name__ == '__main__':
    main()
