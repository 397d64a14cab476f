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
sys.path.insert(0, str(ROOT))

RUNS = [  # (label, classification config, detection config)
    ('BN', 'mobilenet-v2_bn_1xb32-10e_fmnist.py', 'ssdlite_mobilenetv2-bn_1xb16-12e_deepforest.py', 'bn'),
    ('DN-B (16, oup)', 'mobilenet-v2_dnb-r16-goup_1xb32-10e_fmnist.py',
     'ssdlite_mobilenetv2-dnb-r16-goup_1xb16-12e_deepforest.py', 'dnb'),
]


def train(config: Path, work_dir: Path, step: str) -> None:
    """Run tools/train.py, showing one progress line per epoch."""
    if work_dir.exists():
        shutil.rmtree(work_dir)  # a fresh, seeded run every time
    cmd = [sys.executable, str(ROOT / 'tools' / 'train.py'), str(config), '--work-dir', str(work_dir)]
    start = time.time()
    log_path = work_dir.parent / (work_dir.name + '.log')
    work_dir.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, bufsize=1)
        for line in proc.stdout:
            log.write(line)
            if 'Epoch(val)' in line or 'Epoch(test)' in line and '[' in line:
                metrics = line.split('mmengine - INFO - ')[-1].strip()
                print(f'  [{step} {time.time() - start:5.0f}s] {metrics[:110]}', flush=True)
        if proc.wait() != 0:
            raise SystemExit(f'{step}: training failed (exit {proc.returncode}); log: {log_path}')


def complexity(config: Path, shape):
    from mmengine.config import Config
    try:
        sys.path.insert(0, str(ROOT / 'tools' / 'analysis_tools'))
        from complexity import count_config
    except ImportError:
        count_config = None
    if count_config is not None:
        return count_config(Config.fromfile(str(config)), shape)
    return {}


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
    rows = []
    n_steps = 2 * len(RUNS)
    t0 = time.time()
    for i, (label, cls_cfg, det_cfg, key) in enumerate(RUNS):
        step = f'{i + 1}/{n_steps} classification {label}'
        print(f'[demo] {step}: {cls_cfg}', flush=True)
        cls_dir = work / f'cls_{key}'
        train(demo_cfgs / cls_cfg, cls_dir, step)
        report = json.loads((cls_dir / 'paper_report.json').read_text())
        from tools.model_converters.export_backbone import export_backbone
        export_backbone(report['best_checkpoint'], str(cls_dir / 'backbone.pth'))
        rows.append(dict(label=label, cls_cfg=cls_cfg, det_cfg=det_cfg, cls=report, key=key))
    for i, row in enumerate(rows):
        step = f'{len(RUNS) + i + 1}/{n_steps} detection {row["label"]}'
        print(f'[demo] {step}: {row["det_cfg"]}', flush=True)
        det_dir = work / f'det_{row["key"]}'
        train(demo_cfgs / row['det_cfg'], det_dir, step)
        row['det'] = json.loads((det_dir / 'epoch_metrics.json').read_text())
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
