"""Exact resume: a run SIGKILLed mid-epoch, or while writing a checkpoint, and restarted with
``tools/train.py CONFIG --resume`` ends with the same weights, bit for bit, as a run that was
never interrupted (CPU, deterministic settings, tiny data made here)."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from helpers import CLS_DEMO, DET_DEMO, ROOT, backbone_checkpoint, make_tiny_coco, make_tiny_png_set

import dn_mm  # noqa: F401  (safe loading of mmengine checkpoints)

# Imported by the training process (custom_imports): stops it with SIGSTOP after a given
# iteration, or inside the atomic rename of a given checkpoint file (the temp file is
# written, the final name not yet), so that the test can SIGKILL it at exactly that point.
FREEZE = '''
import os, signal
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

@HOOKS.register_module()
class FreezeAt(Hook):
    priority = 'LOWEST'

    def __init__(self, after_iter=0, in_rename_of=None):
        self.after_iter = after_iter
        if in_rename_of:
            replace = os.replace

            def frozen_replace(src, dst):
                if os.path.basename(dst) == in_rename_of:
                    os.kill(os.getpid(), signal.SIGSTOP)
                return replace(src, dst)
            os.replace = frozen_replace

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.after_iter:
            os.kill(os.getpid(), signal.SIGSTOP)
'''


def write_config(tmp_path: Path, name: str, base: Path, body: str, freeze: str = '') -> Path:
    (tmp_path / 'freeze_at.py').write_text(FREEZE)
    hooks = f'dict(type="FreezeAt", {freeze}), ' if freeze else ''
    cfg = tmp_path / f'{name}.py'
    cfg.write_text(f'_base_ = {str(base)!r}\n' + textwrap.dedent(body) + textwrap.dedent(f'''
        custom_imports = dict(imports=['dn_mm', 'mmpretrain.models', 'freeze_at'],
                              allow_failed_imports=False)
        custom_hooks = [dict(type='EpochMetricsHook'), dict(type='NonFiniteGuardHook'), {hooks}
                        dict(type='ExactResumeHook', interval=INTERVAL)]
        randomness = dict(seed=0, deterministic=True)
        '''))
    return cfg


def train(cfg: Path, work: Path, *extra, freeze=False):
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(cfg.parent), str(ROOT),
                                           os.environ.get('PYTHONPATH', '')]))
    cmd = [sys.executable, 'tools/train.py', str(cfg), '--work-dir', str(work), '--no-test',
           *extra]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    if freeze:  # wait until it stops itself, then kill it for real
        _, status = os.waitpid(proc.pid, os.WUNTRACED)
        assert os.WIFSTOPPED(status), proc.stdout.read()[-3000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        assert proc.returncode == -signal.SIGKILL
        return proc.stdout.read()
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    return out


def final_weights(path: Path) -> dict:
    return torch.load(path, map_location='cpu')['state_dict']


def assert_bit_equal(a: dict, b: dict):
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f'{len(different)} tensors differ, e.g. {different[:3]}'



CLS_BODY = '''
    INTERVAL = 3
    _data = dict(data_root={root!r}, ann_file={ann!r})
    train_dataloader = dict(batch_size=4, dataset=dict(data_root={root!r},
                                                       ann_file='meta/train.txt'))
    val_dataloader = dict(batch_size=4, dataset=dict(data_root={root!r}, ann_file='meta/val.txt'))
    test_dataloader = val_dataloader
    train_cfg = dict(max_epochs=2)
    param_scheduler = dict(T_max=2)
    default_hooks = dict(logger=dict(interval=1))
'''


def test_classifier_killed_mid_epoch_resumes_bit_exact(tmp_path):
    data = tmp_path / 'data'
    make_tiny_png_set(data)
    body = CLS_BODY.format(root=str(data), ann='meta/train.txt')
    # 16 images, batch 4: 4 iterations per epoch; mid-epoch checkpoints at iterations 3, 6
    train(write_config(tmp_path, 'ref', CLS_DEMO, body), tmp_path / 'ref')
    killed = write_config(tmp_path, 'killed', CLS_DEMO, body, freeze='after_iter=7')
    train(killed, tmp_path / 'run', freeze=True)
    assert (tmp_path / 'run' / 'last_checkpoint').read_text().endswith('iter_6.pth')
    assert not (tmp_path / 'run' / 'epoch_2.pth').exists()
    resumed = write_config(tmp_path, 'resumed', CLS_DEMO, body)
    log = train(resumed, tmp_path / 'run', '--resume')
    assert 'skipping the 2 batches of epoch 2 already trained' in log, log[-3000:]
    assert_bit_equal(final_weights(tmp_path / 'ref' / 'epoch_2.pth'),
                     final_weights(tmp_path / 'run' / 'epoch_2.pth'))



DET_BODY = '''
    INTERVAL = 1
    size = 160
    train_pipeline = [
        dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
        dict(type='Resize', scale=(size, size), keep_ratio=False),
        dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
        dict(type='PackDetInputs')]
    test_pipeline = [
        dict(type='LoadImageFromFile'), dict(type='Resize', scale=(size, size), keep_ratio=False),
        dict(type='LoadAnnotations', with_bbox=True),
        dict(type='PackDetInputs',
             meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'))]
    train_dataloader = dict(batch_size=2, dataset=dict(data_root={root!r},
                                                       pipeline=train_pipeline))
    val_dataloader = dict(batch_size=2, dataset=dict(data_root={root!r}, pipeline=test_pipeline))
    test_dataloader = val_dataloader
    val_evaluator = dict(ann_file={ann!r})
    test_evaluator = val_evaluator
    model = dict(backbone=dict(init_cfg=dict(checkpoint={backbone!r})))
    train_cfg = dict(max_epochs=2, val_interval=1, dynamic_intervals=None)
    default_hooks = dict(checkpoint=dict(interval=1), logger=dict(interval=1))
'''


def test_ssdlite_killed_while_saving_resumes_bit_exact(tmp_path):
    data = tmp_path / 'coco'
    make_tiny_coco(data)
    backbone_checkpoint(tmp_path / 'backbone.pth', dict(type='DNB', r=16, g='oup'))
    body = DET_BODY.format(root=str(data), ann=str(data / 'annotations/instances_val.json'),
                           backbone=str(tmp_path / 'backbone.pth'))
    # 4 images, batch 2: 2 iterations per epoch; checkpoints iter_1, epoch_1, iter_3, epoch_2
    train(write_config(tmp_path, 'ref', DET_DEMO, body), tmp_path / 'ref')
    # killed after epoch_1.pth was written to its temp file, before the rename
    killed = write_config(tmp_path, 'killed', DET_DEMO, body, freeze='in_rename_of="epoch_1.pth"')
    train(killed, tmp_path / 'run', freeze=True)
    work = tmp_path / 'run'
    assert not (work / 'epoch_1.pth').exists() and list(work.glob('.epoch_1.pth.*.tmp'))
    assert (work / 'last_checkpoint').read_text().endswith('iter_1.pth')
    torch.load(work / 'iter_1.pth')  # the previous checkpoint is whole
    log = train(write_config(tmp_path, 'resumed', DET_DEMO, body), work, '--resume')
    assert 'skipping the 1 batches of epoch 1 already trained' in log, log[-3000:]
    assert not list(work.glob('.*.tmp'))
    assert_bit_equal(final_weights(tmp_path / 'ref' / 'epoch_2.pth'),
                     final_weights(work / 'epoch_2.pth'))
