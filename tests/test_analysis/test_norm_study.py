"""The norm study (make study): its --quick run end to end, its summary, its errors."""
import json
import os
import subprocess
import sys

import pytest
from helpers import FILES, ROOT, make_split, write_idx

from dn_mm.analysis import norm_study, norm_study_report


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


def run_tool(*args, timeout=300):
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, OMP_NUM_THREADS='1'))


@pytest.mark.parametrize('preset', ['screen', 'converge'])
def test_quick_study_runs_and_writes_json_plot_and_table(study_data, tmp_path, preset):
    out = tmp_path / 'study'
    proc = run_tool('tools/analysis_tools/norm_study.py', '--preset', preset, '--quick',
                    '--data', str(study_data), '--out', str(out), '--workers', '1')
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / 'norm_study.json').read_text())
    assert result['preset']['name'] == preset and result['preset']['quick']
    runs = result['runs']
    lrs = norm_study.PRESETS[preset]['lrs']
    assert sorted((r['variant'], r['lr']) for r in runs) == sorted(
        (v, lr) for v in norm_study.QUICK_VARIANTS for lr in lrs)
    for r in runs:
        assert r['epochs_run'] == 1 and r['batch'] == norm_study.PRESETS[preset]['batch']
        assert 0 <= r['best_val_top1'] <= 100 and 0 <= r['test_top1'] <= 100
        assert r['final_train_loss'] > 0
    dn = next(r for r in runs if r['variant'] != 'BN')
    bn = next(r for r in runs if r['variant'] == 'BN')
    assert dn['sc_grad_norm_max'][0] > 0 and bn['sc_grad_norm_max'] == [None]
    assert dn['params'] > bn['params']
    assert (out / 'norm_study.png').stat().st_size > 1000
    assert f'| {norm_study.QUICK_VARIANTS[1]} | 8 | {lrs[0]} | 1 |' in proc.stdout


def test_study_resumes_where_it_stopped(study_data, tmp_path):
    """An interrupted study keeps its finished runs and runs only the missing ones."""
    out = tmp_path / 'study'
    args = (str(study_data), 'converge', str(out))
    first = norm_study_report.run_study(*args, workers=1, quick=True)
    assert len(first['runs']) == 6
    # as if stopped after four runs: the JSON holds what had finished
    kept = first['runs'][:4]
    path = out / 'norm_study.json'
    path.write_text(json.dumps(dict(first, runs=kept)))
    again = norm_study_report.run_study(*args, workers=1, quick=True)
    assert again['runs'][:4] == kept  # not run again: same records, timings included
    assert sorted(norm_study.run_key(r) for r in again['runs']) == sorted(
        norm_study.run_key(r) for r in first['runs'])
    # the rerun ran the same two runs to the same result (seeded)
    by_key = {norm_study.run_key(r): r for r in first['runs']}
    for r in again['runs'][4:]:
        assert r['test_top1'] == by_key[norm_study.run_key(r)]['test_top1']
    # a finished study runs nothing
    mtime = path.stat().st_mtime_ns
    assert norm_study_report.run_study(*args, workers=1, quick=True)['runs'] == again['runs']
    assert path.stat().st_mtime_ns >= mtime


def test_study_refuses_to_mix_presets(study_data, tmp_path):
    out = tmp_path / 'study'
    out.mkdir()
    (out / 'norm_study.json').write_text(json.dumps(dict(
        preset=dict(norm_study_report.study_preset('screen', quick=True)), runs=[])))
    with pytest.raises(norm_study.StudyError, match='another preset or size .*name'):
        norm_study_report.run_study(str(study_data), 'converge', str(out), quick=True)
    (out / 'norm_study.json').write_text('{"runs": 3')
    with pytest.raises(norm_study.StudyError, match='is not a norm study result'):
        norm_study_report.run_study(str(study_data), 'converge', str(out), quick=True)


def test_screen_crosses_every_option_of_the_layer():
    screen = norm_study.PRESETS['screen']
    combos = [v for v in screen['variants'] if v.startswith('DN-B')]
    assert len(combos) == len(set(combos)) == 16
    for label in combos:
        cfg = norm_study.VARIANTS[label]
        assert label == norm_study.dn_label(cfg['form'], cfg['act_cfg']['type'],
                                            cfg['sc_input'], cfg['bound'])
    assert {'BN', 'SE-BN'} <= set(screen['variants'])
    assert screen['lrs'] == (0.05, 0.2, 0.5, 1.0) and screen['batch'] == 8
    assert len(screen['seeds']) >= 3


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
        norm_study_report.run_study(str(study_data), 'screen', str(tmp_path), variants=['GN'])


def fake_run(variant, lr, seed, diverged=False, val=80.0, batch=8):
    trained = not diverged and val > norm_study.TRAINED_ABOVE
    return dict(variant=variant, lr=lr, batch=batch, seed=seed, diverged=diverged,
                trained=trained, best_val_top1=None if diverged else val,
                test_top1=None if diverged else val - 1, final_train_loss=None if diverged else 0.5,
                sc_grad_norm_max=[1.0, 3.0] if variant != 'BN' else [None])


def test_summary_counts_divergence_pairs_seeds_and_finds_largest_stable_lr():
    dn = 'DN-C1 paper'
    runs = [fake_run('BN', 0.2, 0, val=80), fake_run('BN', 0.2, 1, val=84),
            fake_run('BN', 1.0, 0, diverged=True), fake_run('BN', 1.0, 1, val=70),
            fake_run(dn, 0.2, 0, val=10.0), fake_run(dn, 0.2, 1, diverged=True),
            fake_run(dn, 1.0, 0, val=75), fake_run(dn, 1.0, 1, val=72.5)]
    result = dict(preset=dict(name='t', lrs=(0.2, 1.0)), runs=runs)
    rows = {(r['variant'], r['lr']): r for r in norm_study_report.summarize(result)}
    assert rows['BN', 0.2]['test'] == '81.00 ± 2.83' and rows['BN', 0.2]['diverged'] == 0
    assert rows['BN', 1.0]['diverged'] == 1 and rows['BN', 1.0]['test'] == '69.00'
    assert rows[dn, 0.2]['not_trained'] == 2 and rows[dn, 0.2]['test'] == '-'
    assert rows[dn, 0.2]['sc_grad_max'] == 3.0
    # per seed, minus BN at the same lr and seed; None where either did not train
    assert rows[dn, 0.2]['vs_bn'] == [None, None]
    assert rows[dn, 1.0]['vs_bn'] == [None, 2.5]
    assert norm_study_report.largest_stable_lr(result) == {'BN': 0.2, dn: 1.0}
    table = norm_study_report.markdown(result)
    assert f'| {dn} | 8 | 1.0 | 2 | 0 | 0 | 72.75 ± 1.77 | x, +2.50 |' in table


def test_trace_records_every_layer_and_iteration(study_data, tmp_path):
    from dn_mm.analysis import norm_trace_report
    variant = norm_study.OLD_DEFAULT
    result = norm_trace_report.trace_runs(str(study_data), [variant, 'BN'], lr=0.2, iters=4,
                                          widen=0.25, images=32)
    dn, bn = result['runs'][variant], result['runs']['BN']
    assert dn['iterations'] == bn['iterations'] == 4 and not dn['diverged']
    assert dn['layers'] == bn['layers'] and len(dn['layers']) > 10  # every norm, same names
    for run in (dn, bn):
        for metric in ('x_rms', 'sc_in_rms', 'sc_grad'):
            rows = run['series'][metric]
            assert len(rows) == 4 and all(len(r) == len(run['layers']) for r in rows)
            assert all(v >= 0 for r in rows for v in r) and max(max(r) for r in rows) > 0
        assert all(v > 0 for r in run['series']['x_rms'] for v in r)
    # an SC-Module whose few ReLU units are all off has no gradient; most have one
    assert sum(v > 0 for v in dn['series']['sc_grad'][-1]) > len(dn['layers']) / 2
    grads = [v for r in dn['series']['grad_alpha_rms'] for v in r]
    assert all(v >= 0 for v in grads) and sum(v > 0 for v in grads) > len(grads) / 2
    # the residual form starts at alpha = gamma = 1 (mmpretrain's init), lambda = beta = 0
    assert all(abs(v - 1) < 1e-6 for v in dn['series']['alpha_max'][0])
    out = norm_trace_report.plot(result, str(tmp_path / 'trace.png'))
    assert os.path.getsize(out) > 1000
    assert 'BN at lr 0.2, seed 0: 4 iterations' in norm_trace_report.describe(result)


def test_first_failure_names_the_first_layer_out_of_bound():
    from dn_mm.analysis.norm_trace import METRICS, first_failure
    nan = float('nan')

    def step(alpha, grad=1.0):
        return {m: ([1.0, 1.0, 1.0] if m != 'alpha_max' else alpha) for m in METRICS} | dict(
            grad_alpha_rms=[nan, grad, 1.0])

    steps = [step([1.0, 1.0, 1.0]), step([2.0, 5.0, 1.0]), step([3.0, 1.0, 11.0]),
             step([50.0, 1.0, 1.0])]
    trace = dict(layers=['a', 'b', 'c'], series={m: [s[m] for s in steps] for m in METRICS})
    fail = first_failure(trace, alpha_limit=10.0)
    assert (fail['iteration'], fail['layer']) == (3, 'c')
    # a non-finite gradient counts, where the metric is traced (layer a has none)
    steps[1] = step([1.0, 1.0, 1.0], grad=float('inf'))
    trace = dict(layers=['a', 'b', 'c'], series={m: [s[m] for s in steps] for m in METRICS})
    assert (first_failure(trace)['iteration'], first_failure(trace)['layer']) == (2, 'b')
    assert first_failure(dict(layers=['a'], series={m: [[1.0]] for m in METRICS})) is None


def test_rank_orders_by_divergence_then_trained_runs_then_gain_over_bn():
    runs = [fake_run('BN', 0.05, s, val=80) for s in (0, 1)] + [
        fake_run('BN', 0.5, s, val=15) for s in (0, 1)]
    runs += [fake_run('A', 0.05, s, val=v) for s, v in ((0, 90), (1, 90))]
    runs += [fake_run('A', 0.5, 0, diverged=True), fake_run('A', 0.5, 1, val=15)]
    runs += [fake_run('B', 0.05, s, val=v) for s, v in ((0, 78), (1, 80))]
    runs += [fake_run('B', 0.5, s, val=15) for s in (0, 1)]
    runs += [fake_run('C', 0.05, 0, val=79), fake_run('C', 0.05, 1, val=15)]
    runs += [fake_run('C', 0.5, s, val=40) for s in (0, 1)]  # where BN did not train
    runs += [fake_run('D', 0.05, s, val=v) for s, v in ((0, 70), (1, 70))]
    runs += [fake_run('D', 0.5, s, val=15) for s in (0, 1)]
    result = dict(preset=dict(name='t', lrs=(0.05, 0.5)), runs=runs)
    ranked = norm_study_report.rank(result)
    # A gains most over BN but diverged where BN did not; C trained in more runs than B or D,
    # but not where BN trained; B beats D on the paired difference
    assert [r['variant'] for r in ranked] == ['B', 'D', 'C', 'A']
    assert (ranked[0]['trained'], ranked[0]['runs'], ranked[0]['vs_bn_mean']) == (2, 2, -1.0)
    assert ranked[1]['vs_bn_mean'] == -10.0 and ranked[2]['trained'] == 1
    assert ranked[3]['diverged_not_bn'] == 1


def test_trace_cli_writes_json_and_figure(study_data, tmp_path):
    out = tmp_path / 'trace'
    proc = run_tool('tools/analysis_tools/norm_trace.py', '--data', str(study_data), '--lr', '0.5',
                    '--iters', '3', '--out', str(out), '--variant', norm_study.OLD_DEFAULT,
                    norm_study.dn_label('residual', 'ReLU', 'normalized', 'tanh'))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads((out / 'norm_trace.json').read_text())
    assert result['variants'] == [norm_study.OLD_DEFAULT, norm_study.dn_label(
        'residual', 'ReLU', 'normalized', 'tanh'), 'BN']
    assert sorted(result['runs']) == sorted(result['variants'])
    assert all(run['iterations'] == 3 for run in result['runs'].values())
    assert (out / 'norm_trace.png').stat().st_size > 1000
    assert 'BN at lr 0.5, seed 0: 3 iterations' in proc.stdout
    bad = run_tool('tools/analysis_tools/norm_trace.py', '--data', str(study_data),
                   '--variant', 'GN', '--out', str(out))
    assert bad.returncode != 0 and "unknown ['GN']" in bad.stderr
