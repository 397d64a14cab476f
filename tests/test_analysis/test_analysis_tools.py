"""tools/analysis_tools: get_flops / complexity, paper_tables, plot_curves, visualize_affine.

Each tool is exercised as functions and once through its command line.
"""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from helpers import ROOT as HELPERS_ROOT
from helpers import assert_png, run_tool
from PIL import Image
from torch import nn

from dn_mm import DNB, DNC, SEBN
from dn_mm.analysis import complexity, get_flops, paper_tables, plot_curves, visualize_affine

ROOT = str(HELPERS_ROOT)
TOOLS = osp.join(ROOT, 'tools', 'analysis_tools')

MV2 = osp.join(ROOT, 'configs', 'mobilenet_v2', 'mobilenet-v2_{}_1xb64-240e_in100.py')
# paper Tables 1/2: (#params in millions, Mult-Adds in millions)
PAPER_MV2 = {
    'bn': (2.35, 299.62),
    'dnb-r16-g1': (3.03, 300.34),
    'dnb-r16-goup': (4.36, 301.66),
    'sebn-r16': (3.73, 300.98),
}


def run_cli(tool, *args, check=True):
    return run_tool(osp.join(TOOLS, tool), *args, check=check, timeout=300)


# --------------------------------------------------------------------------- complexity


def test_count_convention_on_small_model():
    """Every counted term by hand: conv, FC, SC-Module (DN-B per sample, DN-C2 per call), SE."""
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=True)
    dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False)
    dnb, dnc, se = DNB(8, r=2, g=1), DNC(8, r=2, g='oup', fuse='fc2'), SEBN(8, r=4)
    model = nn.Sequential(conv, dnb, nn.ReLU(), dw, dnc, se, nn.AdaptiveAvgPool2d(1),
                          nn.Flatten(), nn.Linear(8, 5))
    result = complexity.count(model, (10, 10))
    assert result['conv'] == 8 * 10 * 10 * 3 * 9 + 8 * 5 * 5 * 1 * 9
    assert result['fc'] == 8 * 5
    # DN-B (8, r=2, g=1): fc1 4x8, fc2 16x1; DN-C2 runs FC1 and FC2 on E[X] and on Std[X]
    assert dnb.sc.mult_adds() == 4 * 8 + 16 * 1
    assert result['sc'] == dnb.sc.mult_adds() + 2 * (4 * 8 + 16 * 4)
    assert result['se'] == 8 * 2 + 2 * 8
    assert result['mult_adds'] == sum(result[k] for k in ('conv', 'fc', 'sc', 'se'))
    total = sum(p.numel() for p in model.parameters())
    assert result['params'] == total
    assert result['params_paper'] == total - 4 * 8  # DN-B and DN-C gamma/beta; SE-BN keeps BN's
    assert model.training  # mode restored
    # DN-C1 sums the branches after FC1: FC2 runs once
    dnc.fuse = 'fc1'
    assert complexity.count(model, (10, 10))['sc'] == 48 + 2 * 32 + 16 * 4


@pytest.mark.parametrize('name', list(PAPER_MV2))
def test_get_flops_mobilenet_v2_matches_paper(name):
    params, madds = PAPER_MV2[name]
    result = complexity.count_config(MV2.format(name))
    assert result['shape'] == (3, 224, 224)
    assert abs(result['params_paper'] / (params * 1e6) - 1) < 0.005, result
    assert abs(result['mult_adds'] / (madds * 1e6) - 1) < 0.005, result
    if name == 'bn':
        assert result['params'] == result['params_paper']
        assert result['sc'] == result['se'] == 0
        assert result['mult_adds'] == 299_622_272
    elif name.startswith('dnb'):
        # the paper's layer (form='paper'): the model as built has the paper's count
        assert result['params'] == result['params_paper'] and result['se'] == 0 and result['sc'] > 0
    else:
        assert result['params'] == result['params_paper'] and result['sc'] == 0
        assert result['se'] > 0


def test_get_flops_cli():
    proc = run_cli('get_flops.py', MV2.format('dnb-r16-g1'))
    out = proc.stdout
    assert 'Mult-Adds:  300.34M' in out, out
    assert 'Params:     3.03M (3,032,612)  model as built' in out, out  # form='paper'
    residual = run_cli('get_flops.py', MV2.format('dnb-r16-g1'), '--cfg-options',
                       'model.backbone.norm_cfg.form=residual').stdout
    assert 'Params:     3.07M' in residual and '3.03M (3,032,612)  without' in residual, residual
    with pytest.raises(SystemExit, match='no such file'):
        get_flops.main([osp.join(ROOT, 'configs', 'nope.py')])


# --------------------------------------------------------------------------- paper_tables


def test_paper_tables_function_and_skip(tmp_path):
    (table,) = paper_tables.compute_tables([2])
    assert table['skipped'] is None
    assert [r['module'] for r in table['rows']] == ['BN', 'SE', 'DN-B', 'DN-B']
    for row in table['rows']:
        assert abs(row['params_ratio'] - 1) < 0.005, row
        assert abs(row['madds_ratio'] - 1) < 0.005, row
    md = paper_tables.render([table], markdown=True)
    rows = [ln for ln in md.splitlines() if ln.startswith('| ')]
    assert len(rows) == 5 and 'ratio' in rows[0] and '300.98M' in rows[2]
    # Table 5 without the SSDLite configs (a root without them) is skipped with a note
    (t5,) = paper_tables.compute_tables([5], root=str(tmp_path))
    assert t5['skipped'] and 'skipped' in paper_tables.render([t5])
    with pytest.raises(ValueError):
        paper_tables.compute_tables([4])


def test_paper_tables_cli():
    out = run_cli('paper_tables.py', '--tables', '6', '--markdown').stdout
    lines = [ln for ln in out.splitlines() if ln.startswith('| ')]
    assert lines[0].startswith('| Module | r | g |'), out
    assert len(lines) == 4, out  # header + r = 8, 16, 32
    assert '| 8 | 1 |' in lines[1] and '301.02M | 301.02M' in lines[1], out


# --------------------------------------------------------------------------- plot_curves


def write_scalars(path, epochs, acc_offset, iters_per_epoch=2, coco=False):
    os.makedirs(osp.dirname(path), exist_ok=True)
    step = 0
    with open(path, 'w') as f:
        for epoch in range(1, epochs + 1):
            for it in range(iters_per_epoch):
                step += 1
                f.write(json.dumps({'lr': 0.2, 'data_time': 0.01,
                                    'loss': 3.0 - epoch * 0.5 - it * 0.1,
                                    'time': 0.2, 'epoch': epoch, 'iter': step, 'memory': 100,
                                    'step': step}) + '\n')
            val = ({'coco/bbox_mAP': 0.01 * epoch + acc_offset, 'coco/bbox_mAP_50': 0.03 * epoch}
                   if coco else {'accuracy/top1': 10.0 * epoch + acc_offset,
                                 'accuracy/top5': 30.0 + epoch})
            f.write(json.dumps(dict(val, data_time=0.01, time=0.1, step=epoch)) + '\n')


@pytest.fixture()
def runs(tmp_path):
    """Run A: epoch_metrics.json + the config copy; run B: two scalars.json timestamps."""
    a = tmp_path / 'work_dirs' / 'bn_run'
    a.mkdir(parents=True)
    (a / 'mobilenet-v2_bn_1xb64-240e_in100.py').write_text("model = dict()\n")
    metrics = {str(e): {'train/accuracy_top-1': 50.0 + e, 'train/loss': 2.0 / e,
                        'val/accuracy/top1': 40.0 + 2 * e, 'val/accuracy/top5': 70.0 + e}
               for e in (1, 2, 3)}
    (a / 'epoch_metrics.json').write_text(json.dumps(metrics))
    write_scalars(str(a / '20240101_000000' / 'vis_data' / 'scalars.json'), 3, -99.0)
    b = tmp_path / 'work_dirs' / 'dnb_run'
    write_scalars(str(b / '20240101_000000' / 'vis_data' / 'scalars.json'), 2, -50.0)
    write_scalars(str(b / '20240202_120000' / 'vis_data' / 'scalars.json'), 4, 1.0)
    c = tmp_path / 'work_dirs' / 'ssdlite_run'
    write_scalars(str(c / '20240303_000000' / 'vis_data' / 'scalars.json'), 3, 0.1, coco=True)
    return str(a), str(b), str(c)


def test_plot_curves_function(runs, tmp_path):
    a, b, c = runs
    out = str(tmp_path / 'fig' / 'curves.png')
    curves = plot_curves.plot_curves([a, b], ['val/accuracy/top1', 'train/loss'], out,
                                     title='Figure 1')
    assert_png(out)
    by = {(cv['name'], cv['key']): cv for cv in curves}
    assert set(by) == {('mobilenet-v2_bn_1xb64-240e_in100', 'val/accuracy/top1'),
                       ('mobilenet-v2_bn_1xb64-240e_in100', 'train/loss'),
                       ('dnb_run', 'val/accuracy/top1'), ('dnb_run', 'train/loss')}
    # run A: epoch_metrics.json wins over its scalars.json
    bn = by[('mobilenet-v2_bn_1xb64-240e_in100', 'val/accuracy/top1')]
    assert bn['epochs'] == [1, 2, 3] and bn['values'] == [42.0, 44.0, 46.0]
    # run B: the latest timestamp, val step = epoch, train values averaged per epoch
    dn = by[('dnb_run', 'val/accuracy/top1')]
    assert dn['epochs'] == [1, 2, 3, 4] and dn['values'] == [11.0, 21.0, 31.0, 41.0]
    loss = by[('dnb_run', 'train/loss')]
    assert loss['epochs'] == [1, 2, 3, 4]
    assert np.allclose(loss['values'], [2.45, 1.95, 1.45, 0.95])
    # Figure 3: detection mAP, custom legends
    out3 = str(tmp_path / 'map.png')
    (cv,) = plot_curves.plot_curves([c], ['val/coco/bbox_mAP'], out3, legends=['SSDLite BN'])
    assert_png(out3)
    assert cv['label'] == 'SSDLite BN' and np.allclose(cv['values'], [0.11, 0.12, 0.13])


def test_plot_curves_errors(runs, tmp_path):
    a, b, _ = runs
    empty = tmp_path / 'empty'
    empty.mkdir()
    with pytest.raises(plot_curves.CurveError, match='no logs'):
        plot_curves.collect([str(empty)], ['val/accuracy/top1'])
    with pytest.raises(plot_curves.CurveError, match='not found'):
        plot_curves.collect([str(tmp_path / 'missing')], ['val/accuracy/top1'])
    with pytest.raises(plot_curves.CurveError) as e:
        plot_curves.collect([b], ['val/accuracy/top9'])
    assert 'val/accuracy/top9' in str(e.value) and 'val/accuracy/top1' in str(e.value)
    assert 'train/loss' in str(e.value)
    with pytest.raises(plot_curves.CurveError, match='--legend'):
        plot_curves.collect([a, b], ['val/accuracy/top1'], legends=['one'])
    out = tmp_path / 'x.png'
    with pytest.raises(SystemExit, match='available'):
        plot_curves.main([a, '--keys', 'val/nope', '--out', str(out)])
    assert not out.exists()


def test_plot_curves_cli(runs, tmp_path):
    a, b, _ = runs
    out = tmp_path / 'cli.png'
    proc = run_cli('plot_curves.py', a, b, '--keys', 'train/accuracy_top-1', 'val/accuracy/top1',
                   '--out', out, '--legend', 'BN', 'DN-B', '--title', 'MobileNetV2',
                   check=False)
    # run B (scalars.json only) has no train/accuracy_top-1: a clear error, nothing written
    assert proc.returncode != 0 and 'train/accuracy_top-1' in proc.stderr
    assert 'available' in proc.stderr and not out.exists()
    proc = run_cli('plot_curves.py', a, b, '--keys', 'val/accuracy/top1', '--out', out,
                   '--legend', 'BN', 'DN-B', '--title', 'MobileNetV2')
    assert_png(str(out))
    assert 'BN: 3 epochs, last 46' in proc.stdout and 'DN-B: 4 epochs, last 41' in proc.stdout


# --------------------------------------------------------------------------- visualize_affine


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope='module')
def tiny_dn(tmp_path_factory):
    """3 classes x 3 JPEGs, a 32x32 config of MobileNetV2 DN-B (16, 1), a checkpoint with a
    random SC-Module FC2 (alpha varies with the image)."""
    from mmengine.config import Config
    root = tmp_path_factory.mktemp('tiny_in')
    rng = np.random.RandomState(0)
    lines = []
    for label, wnid in enumerate(['n01', 'n02', 'n03']):
        (root / wnid).mkdir()
        for i in range(3):
            tint = np.array([[60, 120, 200], [200, 90, 40], [90, 200, 120]][label])
            img = np.clip(tint + rng.randn(40, 48, 3) * 50, 0, 255).astype(np.uint8)
            Image.fromarray(img).save(root / wnid / f'{i}.JPEG', quality=90)
            lines.append(f'{wnid}/{i}.JPEG {label}\n')
    (root / 'test.txt').write_text(''.join(lines))
    cfg = Config.fromfile(MV2.format('dnb-r16-g1'))
    cfg.model.backbone.norm_cfg.form = 'residual'  # alpha = gamma (1) + a random-FC2 part
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(32, 32)),
                dict(type='PackInputs')]
    cfg.test_dataloader.dataset.update(data_root=str(root), ann_file='test.txt',
                                       pipeline=pipeline, classes=['n01', 'n02', 'n03'])
    cfg.test_dataloader.update(batch_size=4, num_workers=2, persistent_workers=True)
    config = str(root / 'tiny_dnb.py')
    cfg.dump(config)
    torch.manual_seed(0)
    model = complexity.build_model(Config.fromfile(config))
    dn = [m for m in model.modules() if isinstance(m, DNB)]
    for layer in dn:
        nn.init.normal_(layer.sc.fc2, std=0.5)
    # calibrate the running statistics on random images, as training would: without it the
    # untrained network's activations vanish by the last layer and alpha stays at gamma
    for layer in dn:
        layer.norm.reset_running_stats()
        layer.norm.momentum = None  # cumulative average
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, 32, 32), mode='tensor')
    for layer in dn:
        layer.norm.momentum = 0.1
    ckpt = str(root / 'random_dnb.pth')
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, ckpt)
    return config, ckpt, root


def test_visualize_affine_function(tiny_dn, tmp_path):
    config, ckpt, _ = tiny_dn
    out = str(tmp_path / 'affine.png')
    result = visualize_affine.visualize_affine(config, ckpt, ['0', 'n03'], out,
                                               max_channels=320, batch_size=2)
    assert_png(out)
    assert result['classes'] == ['n01', 'n03'] and result['labels'] == [0, 2]
    assert result['counts'] == {'n01': 3, 'n03': 3}
    for name in result['classes']:
        acc = result['accuracy'][name]
        assert 0.0 <= acc <= 100.0
        assert acc == pytest.approx(100.0 * result['correct'][name] / 3)
    first, last = result['layers']
    assert first['name'] == 'backbone.conv1.bn' and first['num_channels'] == 32
    assert len(first['channels']) == 32 and first['alpha']['n01'].shape == (3, 32)
    assert last['name'] == 'backbone.conv2.bn' and last['num_channels'] == 1280
    assert len(last['channels']) == 320 and np.array_equal(last['channels'][:3], [0, 4, 8])
    for entry in (first, last):
        for key in ('alpha', 'lambda'):
            for values in entry[key].values():
                assert values.shape == (3, len(entry['channels']))
                assert np.isfinite(values).all()
    # the random SC-Module makes alpha vary across images (gamma alone would be 1 everywhere)
    alpha = np.concatenate([last['alpha'][n] for n in result['classes']])
    assert alpha.std(0).max() > 1e-3 and not np.allclose(alpha, 1.0)
    table = visualize_affine.accuracy_table(result)
    assert '| n01 | 3 |' in table and '| n03 | 3 |' in table
    with pytest.raises(visualize_affine.AffineError, match='unknown class'):
        visualize_affine.collect(config, ckpt, ['n99'])
    with pytest.raises(visualize_affine.AffineError, match='no DN layer'):
        visualize_affine.collect(config, ckpt, ['0'], layers=['backbone.nope'])


def test_visualize_affine_cli(tiny_dn, tmp_path):
    config, ckpt, _ = tiny_dn
    out = tmp_path / 'cli_affine.png'
    proc = run_cli('visualize_affine.py', config, ckpt, '--classes', 'n02', '1', '2',
                   '--layers', 'first', '-1', '--max-channels', '100', '--batch-size', '4',
                   '--out', out)
    assert_png(str(out))
    assert 'backbone.conv2.bn: 1280 channels, 100 plotted' in proc.stdout, proc.stdout
    rows = [ln for ln in proc.stdout.splitlines() if ln.startswith('| n0')]
    assert [r.split('|')[1].strip() for r in rows] == ['n02', 'n03'], proc.stdout
    for r in rows:
        assert 0.0 <= float(r.split('|')[4]) <= 100.0
