"""The paper's per-run summary: Train (last epoch), Val (best epoch), Test (best ckpt)."""
import json
import os

from ..utils import write_json_atomic

#: what :class:`~dn_mm.engine.hooks.EpochMetricsHook` writes in the work dir, one entry per epoch
FILENAME = 'epoch_metrics.json'


def read_epoch_metrics(work_dir: str) -> dict:
    with open(os.path.join(work_dir, FILENAME)) as f:
        return json.load(f)


def best_epoch(epochs: dict, key: str = 'val/accuracy/top1'):
    scored = [(m[key], int(e)) for e, m in epochs.items() if key in m]
    if not scored:
        return None
    return max(scored, key=lambda t: (t[0], -t[1]))[1]


def paper_report(work_dir: str, test_metrics: dict, best_ckpt=None, logger=None) -> dict:
    epochs = read_epoch_metrics(work_dir)
    last = max(int(e) for e in epochs)
    best = best_epoch(epochs)
    train = epochs[str(last)]
    report = {
        'train_top1_last_epoch': train.get('train/accuracy_top-1'),
        'best_epoch': best,
        'val_top1_best': epochs[str(best)].get('val/accuracy/top1') if best else None,
        'val_top5_best': epochs[str(best)].get('val/accuracy/top5') if best else None,
        'test_top1': test_metrics.get('accuracy/top1'),
        'test_top5': test_metrics.get('accuracy/top5'),
        'best_checkpoint': best_ckpt,
    }
    write_json_atomic(os.path.join(work_dir, 'paper_report.json'), report)

    def fmt(v):
        return '-' if v is None else f'{v:.2f}'
    lines = ['Train (last epoch) | Val top-1/top-5 (best epoch) | Test top-1/top-5 (best ckpt)',
             f"{fmt(report['train_top1_last_epoch'])} | {fmt(report['val_top1_best'])}/"
             f"{fmt(report['val_top5_best'])} (epoch {best}) | {fmt(report['test_top1'])}/"
             f"{fmt(report['test_top5'])}"]
    text = '\n'.join(lines)
    if logger is not None:
        logger.info('paper report:\n' + text)
    else:
        print(text)
    return report
