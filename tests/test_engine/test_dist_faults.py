"""Distributed faults: a 2-process gloo run (``tools/dist_train.sh CONFIG 2`` on CPU) whose
rank 1 is SIGKILLed mid-run ends within a minute with rank 1 named as the root cause, and
``tools/dist_train.sh CONFIG 2 --resume`` then finishes it from its last checkpoint."""
import datetime
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from helpers import CLS_DEMO, ROOT, make_tiny_png_set
from mmengine.config import Config

from dn_mm.engine import cpu_distributed

# Imported by the training processes (custom_imports): rank ``rank`` writes its pid to
# ``pid_file`` after iteration ``after_iter`` and stops itself (SIGSTOP), so that the test
# kills it at a known point; the other rank then waits for it in the next collective.
STOP_RANK = '''
import os, signal
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

@HOOKS.register_module()
class StopRankAt(Hook):
    priority = 'LOWEST'

    def __init__(self, rank, after_iter, pid_file):
        self.rank, self.after_iter, self.pid_file = rank, after_iter, pid_file

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.rank == self.rank and runner.iter + 1 == self.after_iter:
            with open(self.pid_file + '.tmp', 'w') as f:
                f.write(str(os.getpid()))
            os.replace(self.pid_file + '.tmp', self.pid_file)
            os.kill(os.getpid(), signal.SIGSTOP)
'''


def write_config(tmp_path: Path, name: str, data: Path, stop: str = '') -> Path:
    (tmp_path / 'stop_rank.py').write_text(STOP_RANK)
    cfg = tmp_path / f'{name}.py'
    cfg.write_text(f'_base_ = {str(CLS_DEMO)!r}\n' + textwrap.dedent(f'''
        # 16 images, 2 per rank and step: 4 iterations per epoch; checkpoints at 3, 4, 6, 8
        train_dataloader = dict(batch_size=2, dataset=dict(data_root={str(data)!r},
                                                           ann_file='meta/train.txt'))
        val_dataloader = dict(batch_size=4, dataset=dict(data_root={str(data)!r},
                                                         ann_file='meta/val.txt'))
        test_dataloader = val_dataloader
        train_cfg = dict(max_epochs=2)
        param_scheduler = dict(T_max=2)
        default_hooks = dict(logger=dict(interval=1))
        env_cfg = dict(dist_cfg=dict(timeout=120))
        custom_imports = dict(imports=['dn_mm', 'mmpretrain.models', 'stop_rank'],
                              allow_failed_imports=False)
        custom_hooks = [dict(type='EpochMetricsHook'), {stop}
                        dict(type='ExactResumeHook', interval=3)]
        '''))
    return cfg


def dist_train(cfg: Path, work: Path, *extra) -> subprocess.Popen:
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHON=sys.executable,
               PORT=str(28500 + os.getpid() % 1000),
               PYTHONPATH=os.pathsep.join([str(cfg.parent), str(ROOT)]))
    return subprocess.Popen(['bash', 'tools/dist_train.sh', str(cfg), '2', '--work-dir', str(work),
                             '--no-test', *extra], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_killed_worker_ends_job_naming_its_rank_then_resumes(tmp_path):
    data, work, pid_file = tmp_path / 'data', tmp_path / 'work', tmp_path / 'rank1.pid'
    make_tiny_png_set(data)
    stop = f'dict(type="StopRankAt", rank=1, after_iter=6, pid_file={str(pid_file)!r}),'
    proc = dist_train(write_config(tmp_path, 'killed', data, stop), work)
    try:
        while not pid_file.exists():
            assert proc.poll() is None, proc.stdout.read()[-4000:]
            time.sleep(0.1)
        rank1 = int(pid_file.read_text())
        environ = Path(f'/proc/{rank1}/environ').read_bytes().split(b'\0')
        assert b'RANK=1' in environ  # it is rank 1's worker, started by torchrun
        killed_at = time.monotonic()
        os.kill(rank1, signal.SIGKILL)
        log, _ = proc.communicate(timeout=60)
        ended_after = time.monotonic() - killed_at
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert ended_after < 60
    root_cause = log[log.index('Root Cause (first observed failure)'):]
    assert re.search(r'rank\s*: 1 \(local_rank: 1\)', root_cause), log[-3000:]
    assert 'Signal 9 (SIGKILL)' in root_cause
    assert (work / 'epoch_1.pth').is_file() and not (work / 'epoch_2.pth').exists()

    resumed = dist_train(write_config(tmp_path, 'resumed', data), work, '--resume')
    log, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, log[-4000:]
    found = re.search(r'resumed epoch: (\d+), iter: (\d+)', log)
    assert found and int(found.group(2)) >= 4, log[-3000:]  # from epoch_1.pth or later
    # it finished the run (no log line is asserted: a kill just after iter_8.pth, the last
    # iteration, leaves the resumed run nothing to train but the epoch's end to write)
    assert (work / 'epoch_2.pth').is_file()


def test_gloo_init_takes_the_configs_collective_timeout(monkeypatch):
    calls = []
    monkeypatch.setattr(cpu_distributed.dist, 'is_initialized', lambda: False)
    monkeypatch.setattr(cpu_distributed.dist, 'init_process_group',
                        lambda **kwargs: calls.append(kwargs))
    monkeypatch.setattr(cpu_distributed.torch.cuda, 'is_available', lambda: False)
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=90))))
    assert cpu_distributed.prepare_cpu_distributed(cfg, 'pytorch')
    assert calls == [dict(backend='gloo', timeout=datetime.timedelta(seconds=90))]
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    cpu_distributed.prepare_cpu_distributed(Config(dict()), 'pytorch')
    assert calls[-1] == dict(backend='gloo')  # torch's default when the config sets none
    with pytest.raises(ValueError, match='env_cfg.dist_cfg.timeout must be a positive number'):
        cpu_distributed.prepare_cpu_distributed(
            Config(dict(env_cfg=dict(dist_cfg=dict(timeout='10m')))), 'pytorch')
