#!/usr/bin/env python
"""The main job on the embedded demo data (`make demo`): BN vs DN-B, end to end.

1. ImageNet-style pretraining of MobileNetV2 BN and DN-B (r=16, g=oup) on the
   Fashion-MNIST demo data (configs/demo/mobilenet-v2_*_fmnist.py), each
   tested on its best checkpoint as the paper does;
2. their backbones exported (tools/model_converters/export_backbone.py) and
   SSDLite BN vs DN-B trained from them on the NEON tree-crown demo data in
   COCO format (configs/demo/ssdlite_mobilenetv2-*_deepforest.py), evaluated
   with the COCO metric every epoch;
3. one table: norm, params, Mult-Adds, top-1, bbox mAP, mAP50, and the mAP50
   after the first epoch beside the final one.

Every run is seeded, so the table is the same on every run on the same
machine. Logs and checkpoints go to work_dirs/demo/.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RUNS = [  # (label, classification config, detection config)
    ('BN', 'mobilenet-v2_bn_1xb32-10e_fmnist.py', 'ssdlite_mobilenetv2-bn_1xb8-36e_deepforest.py', 'bn'),
    ('DN-B (16, oup)', 'mobilenet-v2_dnb-r16-goup_1xb32-10e_fmnist.py',
     'ssdlite_mobilenetv2-dnb-r16-goup_1xb8-36e_deepforest.py', 'dnb'),
]


def train_side_by_side(jobs, threads: int) -> None:
    """Run tools/train.py for each (label, config, work_dir) at once, one progress line per eval.

    The BN and DN-B runs go side by side, each on its share of the cores: on a
    small CPU two single-threaded trainings finish well before two 2-thread
    ones run one after the other, and single-threaded runs are reproducible.
    """
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    procs = []
    for label, config, work_dir in jobs:
        if work_dir.exists():
            shutil.rmtree(work_dir)  # a fresh, seeded run every time
        work_dir.parent.mkdir(parents=True, exist_ok=True)
        log = open(work_dir.parent / (work_dir.name + '.log'), 'w')
        cmd = [sys.executable, str(ROOT / 'tools' / 'train.py'), str(config),
               '--work-dir', str(work_dir)]
        procs.append((label, log, subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log,
                                                   stderr=subprocess.STDOUT)))
    start, seen = time.time(), {}
    while any(p.poll() is None for _, _, p in procs):
        time.sleep(2)
        for label, log, _ in procs:
            log.flush()
            lines = Path(log.name).read_text(errors='replace').splitlines()
            evals = [ln.split('mmengine - INFO - ')[-1] for ln in lines
                     if ('Epoch(val)' in ln or 'Epoch(test)' in ln) and '/' in ln and ':' in ln
                     and 'eta' not in ln]
            for text in evals[seen.get(label, 0):]:
                print(f'  [{time.time() - start:4.0f}s {label}] {text[:100]}', flush=True)
            seen[label] = len(evals)
    for label, log, proc in procs:
        log.close()
        if proc.returncode != 0:
            raise SystemExit(f'{label}: training failed (exit {proc.returncode}); log: {log.name}')


def complexity(config: Path, shape):
    """Params and Mult-Adds in the paper's convention (tools/analysis_tools/get_flops.py)."""
    from dn_mm.analysis.complexity import count_config
    return count_config(str(config), shape)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data-root', default='data', help='demo data (make data)')
    parser.add_argument('--work-dir', default='work_dirs/demo')
    args = parser.parse_args(argv)
    for need in ('fashion_mnist_imagenet/in100/meta/train.txt',
                 'deepforest_coco/annotations/instances_train.json'):
        if not (Path(args.data_root) / need).is_file():
            raise SystemExit(f'--data-root: {Path(args.data_root) / need} is missing: run `make data`')
    work = Path(args.work_dir)
    demo_cfgs = ROOT / 'configs' / 'demo'
    from dn_mm.models.backbone_export import export_backbone
    threads = max(1, (os.cpu_count() or 2) // len(RUNS))
    t0 = time.time()
    print('[demo] 1/2 ImageNet-style pretraining, BN and DN-B side by side: '
          + ', '.join(cls for _, cls, _, _ in RUNS), flush=True)
    train_side_by_side([(label, demo_cfgs / cls, work / f'cls_{key}')
                        for label, cls, _, key in RUNS], threads)
    rows = []
    for label, cls_cfg, det_cfg, key in RUNS:
        report = json.loads((work / f'cls_{key}' / 'paper_report.json').read_text())
        export_backbone(report['best_checkpoint'], str(work / f'cls_{key}' / 'backbone.pth'))
        rows.append(dict(label=label, cls_cfg=cls_cfg, det_cfg=det_cfg, cls=report, key=key))
    print('[demo] 2/2 SSDLite from those backbones, side by side: '
          + ', '.join(det for _, _, det, _ in RUNS), flush=True)
    train_side_by_side([(row['label'], demo_cfgs / row['det_cfg'], work / f'det_{row["key"]}')
                        for row in rows], threads)
    for row in rows:
        row['det'] = json.loads((work / f'det_{row["key"]}' / 'epoch_metrics.json').read_text())
    print_table(rows, demo_cfgs, time.time() - t0)


def print_table(rows, demo_cfgs, seconds):
    def pct(v):
        return '-' if v is None else f'{100 * v:.1f}'

    header = ('| norm | cls params | cls Mult-Adds | top-1 (test) | det params | det Mult-Adds '
              '| bbox mAP | mAP50 | mAP50 after epoch 1 |')
    lines = [header, '|' + '---|' * 9]
    for row in rows:
        cls_c = complexity(demo_cfgs / row['cls_cfg'], (64, 64))
        det_c = complexity(demo_cfgs / row['det_cfg'], (320, 320))
        epochs = row['det']
        last = epochs[str(max(int(e) for e in epochs))]
        first = epochs.get('1', {})
        lines.append(
            f"| {row['label']} | {cls_c.get('params', 0) / 1e6:.2f}M | "
            f"{cls_c.get('mult_adds', 0) / 1e6:.1f}M | {row['cls']['test_top1']:.2f} | "
            f"{det_c.get('params', 0) / 1e6:.2f}M | {det_c.get('mult_adds', 0) / 1e9:.2f}G | "
            f"{pct(last.get('val/coco/bbox_mAP'))} | {pct(last.get('val/coco/bbox_mAP_50'))} | "
            f"{pct(first.get('val/coco/bbox_mAP_50'))} |")
    print(f'\n[demo] done in {seconds / 60:.1f} min. Classification: Fashion-MNIST demo (64x64, '
          '10 classes); detection: NEON tree crowns (320x320, COCO mAP in %).')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
