"""The norm study (make study): its --quick run end to end, its summary, its errors."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FILES, make_split, write_idx

from dn_mm.analysis import norm_study, norm_study_report

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def study_data(tmp_path):
    """Fashion-MNIST-format idx files with 200 train and 100 test images."""
    d = tmp_path / 'fmnist'
    d.mkdir()
    for (img_name, lbl_name), (per_class, seed) in zip(((FILES[0], FILES[1]), (FILES[2], FILES[3])),
                                                         ((20, 0), (10, 1))):
        images, labels = make_split(per_class, seed)
        write_idx(str(d / img_name), images)
        write_idx(str(d / lbl_name), labels)
    return d


def test_quick_study_runs_and_writes_json_plot_and_table(study_data, tmp_path):
    out = tmp_path / 'study'
    proc = subprocess.run(
        [sys.executable, 'tools/analysis_tools/norm_study.py', '--quick', '--data', str(study_data),
         '--out', str(out), '--workers', '1'],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / 'norm_study.json').read_text())
    assert result['preset']['name'] == 'quick'
    runs = result['runs']
    assert sorted(r['variant'] for r in runs) == sorted(norm_study.QUICK_VARIANTS)
    for r in runs:
        assert r['epochs_run'] == 1 and not r['diverged']
        assert 0 <= r['best_val_top1'] <= 100 and 0 <= r['test_top1'] <= 100
        assert r['final_train_loss'] > 0
    dn = next(r for r in runs if r['variant'] != 'BN')
    bn = next(r for r in runs if r['variant'] == 'BN')
    assert dn['sc_grad_norm_max'][0] > 0 and bn['sc_grad_norm_max'] == [None]
    assert dn['params'] > bn['params']
    assert (out / 'norm_study.png').stat().st_size > 1000
    assert '| DN-B paper (Sigmoid) | 64 | 0.2 | 1 |' in proc.stdout


def test_split_is_the_imagenet100_split(study_data):
    data = norm_study.load_fashion_mnist(str(study_data))
    n_train, n_val = len(data['train'][0]), len(data['val'][0])
    assert (n_train, n_val) == (160, 40)  # 80 / 20 per class, as prepare_imagenet100.py
    assert len(data['test'][0]) == 100


def test_missing_and_corrupt_data_name_the_file(tmp_path, study_data):
    with pytest.raises(norm_study.StudyError,
                       match='--data: .*train-images-idx3-ubyte.gz is missing'):
        norm_study.load_fashion_mnist(str(tmp_path))
    (study_data / (FILES[1] + '.gz')).write_bytes(b'not gzip')
    with pytest.raises(norm_study.StudyError, match='train-labels-idx1-ubyte.gz'):
        norm_study.load_fashion_mnist(str(study_data))


def test_bad_preset_and_variant_are_refused(study_data, tmp_path):
    with pytest.raises(norm_study.StudyError, match="--preset must be one of"):
        norm_study_report.run_study(str(study_data), 'huge', str(tmp_path))
    with pytest.raises(norm_study.StudyError, match="--variants: unknown \\['GN'\\]"):
        norm_study_report.run_study(str(study_data), 'quick', str(tmp_path), variants=['GN'])


def fake_run(variant, lr, seed, diverged=False, val=80.0, batch=64):
    trained = not diverged and val > norm_study.TRAINED_ABOVE
    return dict(variant=variant, lr=lr, batch=batch, seed=seed, diverged=diverged,
                trained=trained, best_val_top1=None if diverged else val,
                test_top1=None if diverged else val - 1, final_train_loss=None if diverged else 0.5,
                sc_grad_norm_max=[1.0, 3.0] if variant != 'BN' else [None])


def test_summary_counts_divergence_and_finds_largest_stable_lr():
    runs = [fake_run('BN', 0.2, 0, val=80), fake_run('BN', 0.2, 1, val=84),
            fake_run('BN', 1.0, 0, diverged=True), fake_run('BN', 1.0, 1, val=70),
            fake_run('DN-C1 paper', 0.2, 0, val=10.0),
            fake_run('DN-C1 paper', 0.2, 1, diverged=True)]
    result = dict(preset=dict(name='t', batch8_lr=None), runs=runs)
    rows = {(r['variant'], r['lr']): r for r in norm_study_report.summarize(result)}
    assert rows['BN', 0.2]['val'] == '82.00 ± 2.83' and rows['BN', 0.2]['diverged'] == 0
    assert rows['BN', 1.0]['diverged'] == 1 and rows['BN', 1.0]['val'] == '70.00'
    assert rows['DN-C1 paper', 0.2]['not_trained'] == 2 and rows['DN-C1 paper', 0.2]['val'] == '-'
    assert rows['DN-C1 paper', 0.2]['sc_grad_max'] == 3.0
    assert norm_study_report.largest_stable_lr(result) == {'BN': 0.2, 'DN-C1 paper': None}
