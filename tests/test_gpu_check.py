"""benchmarks/gpu_check.py in its CPU dry run: every part that can run without a GPU runs, so
the script a GPU machine runs (``make gpu-check``) cannot rot here."""
import json

import pytest
import torch
from helpers import run_tool


def test_gpu_check_dry_run_on_cpu(tmp_path, fmnist_dir):
    data, _ = fmnist_dir
    out = run_tool('benchmarks/gpu_check.py', '--device', 'cpu', '--data', data,
                   '--out', tmp_path / 'check', timeout=300)
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    report = json.loads((tmp_path / 'check' / 'gpu_check.json').read_text())
    parts = report['parts']
    assert report['device'] == 'cpu (dry run)'
    assert parts['layers']['status'] == 'passed', parts['layers']
    # 5 cases x 2 modes x (float32, bf16 autocast, channels-last)
    assert len(parts['layers']['errors']) == 30
    assert parts['sync_bn'] == dict(status='not run', why='needs 2 CUDA devices, found 0')
    for part in ('benchmark', 'study'):
        assert parts[part]['status'] == 'passed', parts[part]['tail']
    bench = (tmp_path / 'check' / 'benchmark.md').read_text()
    assert 'MobileNetV2-0.5 | batch 8, 32x32 | eager | bf16 | training step' in bench
    study = json.loads((tmp_path / 'check' / 'study' / 'norm_study.json').read_text())
    assert study['preset']['name'] == 'gpu-check' and study['runs']
    assert '| layers | passed |' in out.stdout and '| sync_bn | not run |' in out.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has a CUDA device')
def test_gpu_check_refuses_cuda_without_a_gpu(tmp_path):
    out = run_tool('benchmarks/gpu_check.py', '--device', 'cuda', '--out', tmp_path)
    assert out.returncode == 2 and '--device cuda: no CUDA device here' in out.stderr
