"""The README's command lines, run as a user runs them, on demo-sized data made here.

One chain, each step feeding the next as in the README (and `make demo`):
fashion_mnist_to_imagenet.py -> prepare_imagenet100.py -> train.py (MobileNetV2 BN, the demo
config at 32x32, 1 epoch) -> test.py --out --show-dir, --out-item metrics; bn_to_dn.py ->
test.py of the DN-B config --batch-size 1 --out (the same predictions) -> export_backbone.py;
deepforest_to_coco.py (a fake wheel) -> dist_train.sh with 2 processes (SSDLite DN-B from that
backbone) -> dist_test.sh with 2 processes --out; test.py --show-dir --out --batch-size 1 (the
same boxes) -> demo.py --draw-only (plot_curves, detection_grid, visualize_affine on those runs).
Tools the README names whose command line another test already runs the same way (with data
of its own) are listed in README_COVERAGE with that test; test_every_readme_tool_is_covered
keeps the list complete.
"""
import json
import os
import pickle
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from helpers import (
    ROOT,
    assert_png,
    detection_overrides,
    make_deepforest_data,
    make_deepforest_wheel,
    run_tool,
    write_idx,
)

CLS_BN = 'configs/demo/mobilenet-v2_bn_1xb32-10e_fmnist.py'
CLS_DNB = 'configs/demo/mobilenet-v2_dnb-r16-goup_1xb32-10e_fmnist.py'
DET_DNB = 'configs/demo/ssdlite_mobilenetv2-dnb-r16-goup_1xb8-36e_deepforest.py'
PORT = 29500 + os.getpid() % 1000  # this session's ports (other sessions may share the host)

# README tools whose command line runs, the same way, in another test file
README_COVERAGE = {
    'tools/analysis_tools/plot_curves.py':
        'test_analysis/test_analysis_tools.py::test_plot_curves_cli',
    'tools/analysis_tools/visualize_affine.py':
        'test_analysis/test_analysis_tools.py::test_visualize_affine_cli',
    'tools/analysis_tools/detection_grid.py':
        'test_analysis/test_detection_grid.py::test_detection_grid_cli',
    'tools/analysis_tools/get_flops.py':
        'test_analysis/test_analysis_tools.py::test_get_flops_cli',
    'tools/analysis_tools/paper_tables.py':
        'test_analysis/test_analysis_tools.py::test_paper_tables_cli',
    'tools/analysis_tools/norm_study.py': 'test_analysis/test_norm_study.py',
    'tools/analysis_tools/norm_trace.py':
        'test_analysis/test_norm_study.py::test_trace_cli_writes_json_and_figure',
    'tools/dataset_converters/fetch_fashion_mnist.sh':
        'test_dataset_tools/test_fashion_mnist_tool.py::test_fetch_script',
    'tools/slurm_train.sh': None,  # needs a Slurm cluster
    'tools/install_stack.sh': None,  # installs the stack (make setup)
    'tools/dataset_converters/fetch_deepforest.sh': None,  # downloads the wheel (make data)
    'tools/prepare_demo_data.py': None,  # make data: the converters run here one by one
    # thin scripts over a main() that these tests call with the README's arguments
    'tools/deployment/fuse_for_inference.py':
        'test_deployment/test_deployment.py::test_tools_fuse_then_export',
    'tools/deployment/pytorch2onnx.py':
        'test_deployment/test_deployment.py::test_tools_fuse_then_export',
    'tools/misc/verify_dataset.py':
        'test_dataset_tools/test_verify_dataset.py::'
        'test_classification_data_problems_are_all_listed',
    'tools/misc/update_model_index.py':
        'test_packaging.py::test_model_index_counts_are_the_built_models',
}


def run_together(*commands):
    """Run several tools at once (the machine has 2 cores); all must succeed."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    procs = [subprocess.Popen([sys.executable, *map(str, cmd)], cwd=ROOT, env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
             for cmd in commands]
    outs = [p.communicate(timeout=600)[0] for p in procs]
    for proc, out in zip(procs, outs):
        assert proc.returncode == 0, out[-4000:]
    return outs


def cls_overrides(data):
    """The classification demo config on ``data`` at 32x32, 1 epoch of 2 iterations."""
    return ['--cfg-options', *[f'{s}_dataloader.dataset.data_root={data}'
                               for s in ('train', 'val', 'test')],
            'train_dataloader.dataset.pipeline.1.scale=32',
            'val_dataloader.dataset.pipeline.1.scale=(32,32)',
            'test_dataloader.dataset.pipeline.1.scale=(32,32)',
            'train_cfg.max_epochs=1', 'train_dataloader.batch_size=5']


def det_overrides(data, backbone):
    """The detection demo config on ``data``: 1 epoch, 1 iteration per process."""
    return detection_overrides(data, backbone) + ['train_dataloader.batch_size=5']


# --------------------------------------------------------------------------- the chain


@pytest.fixture(scope='module')
def work(tmp_path_factory):
    return tmp_path_factory.mktemp('e2e')


@pytest.fixture(scope='module')
def datasets(work):
    """Fashion-MNIST-like idx files (a texture per class) and a fake deepforest wheel, through
    the dataset converters: an ImageNet-style tree with in100/meta, and COCO 32x32 tiles."""
    raw = work / 'fashion_mnist_raw'
    raw.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (('train', 4), ('t10k', 3)):
        labels = np.tile(np.arange(10, dtype=np.uint8), n)
        images = np.clip(20 * labels[:, None, None] + rng.normal(0, 40, (len(labels), 28, 28)),
                         0, 255)
        write_idx(str(raw / f'{prefix}-images-idx3-ubyte'), images)
        write_idx(str(raw / f'{prefix}-labels-idx1-ubyte'), labels)
    wheel = make_deepforest_wheel(make_deepforest_data(work / 'deepforest_src'),
                                  work / 'deepforest-9.9.9-py3-none-any.whl')
    tree, coco = work / 'fashion_mnist_imagenet', work / 'deepforest_coco'
    _, det_log = run_together(
        ['tools/dataset_converters/fashion_mnist_to_imagenet.py', raw, tree,
         '--per-class-train', 2, '--per-class-val', 1],
        ['tools/dataset_converters/deepforest_to_coco.py', wheel, coco, '--tile', 32,
         '--overlap', 0, '--split', 'tile', '--val-ratio', 0.25])
    assert 'split by tile' in det_log
    assert len(json.loads((coco / 'annotations' / 'instances_val.json').read_text())['images'])
    out = run_tool('tools/dataset_converters/prepare_imagenet100.py', tree, tree / 'in100',
                   '--classes', 'tools/dataset_converters/fashion_mnist_classes.txt', check=True)
    assert '10 classes: train 10, val 10, test 10' in out.stdout, out.stdout
    return tree, coco


@pytest.fixture(scope='module')
def cls_data(datasets):
    return datasets[0]


@pytest.fixture(scope='module')
def det_data(datasets):
    return datasets[1]


@pytest.fixture(scope='module')
def cls_run(work, cls_data):
    run_dir = work / 'cls_bn'
    out = run_tool('tools/train.py', CLS_BN, '--work-dir', run_dir, *cls_overrides(cls_data),
                   check=True)
    return run_dir, out.stdout + out.stderr


@pytest.fixture(scope='module')
def dnb_checkpoint(work, cls_run):
    run_dir, _ = cls_run
    dst = work / 'dnb_from_bn.pth'
    out = run_tool('tools/model_converters/bn_to_dn.py', run_dir / 'epoch_1.pth', dst,
                   '--r', 16, '--g', 'oup', check=True)
    assert 'converted 52 BN layers to DN-B (r=16, g=oup)' in out.stdout, out.stdout
    return dst


@pytest.fixture(scope='module')
def backbone(work, dnb_checkpoint):
    dst = work / 'dnb_backbone.pth'
    out = run_tool('tools/model_converters/export_backbone.py', dnb_checkpoint, dst, check=True)
    assert out.stdout.startswith('exported ') and dst.is_file()
    assert all(k.startswith('backbone.') for k in torch.load(dst)['state_dict'])
    return dst


@pytest.fixture(scope='module')
def det_run(work, det_data, backbone):
    run_dir = work / 'det_dnb'
    out = run_tool('tools/dist_train.sh', DET_DNB, 2, '--work-dir', run_dir,
                   *det_overrides(det_data, backbone), port=PORT, check=True)
    return run_dir, out.stdout + out.stderr


@pytest.fixture(scope='module')
def det_predictions(work, det_data, backbone, det_run):
    run_dir, _ = det_run
    preds = work / 'det_dist.pkl'
    out = run_tool('tools/dist_test.sh', DET_DNB, run_dir / 'epoch_1.pth', 2, '--work-dir',
                   work / 'det_dist_test', '--out', preds, *det_overrides(det_data, backbone),
                   port=PORT + 1, check=True)
    log = out.stdout + out.stderr
    assert 'Distributed training: True' in log and 'coco/bbox_mAP:' in log
    return preds


def load(path):
    with open(path, 'rb') as f:
        return pickle.load(f)


def by_image(results):
    return {r['img_id']: r['pred_instances'] for r in results}


def load_json(path):
    return json.loads(path.read_text())


# --------------------------------------------------------------------------- tests


def test_train_classifier_writes_checkpoints_and_paper_report(cls_run):
    run_dir, log = cls_run
    assert (run_dir / 'epoch_1.pth').is_file()
    report = load_json(run_dir / 'paper_report.json')
    assert report['best_epoch'] == 1 and os.path.isfile(report['best_checkpoint'])
    assert 0 <= report['test_top1'] <= 100
    assert 'val/accuracy/top1' in load_json(run_dir / 'epoch_metrics.json')['1']
    assert 'paper report:' in log


def test_test_classifier_out_show_dir_and_converted_twin(work, cls_data, cls_run, dnb_checkpoint):
    """test.py --out --show-dir on the BN classifier, --out-item metrics; its DN-B twin made by
    bn_to_dn.py, tested one image per batch, predicts the same scores."""
    run_dir, _ = cls_run
    vis = work / 'cls_vis'
    bn_out, dnb_out, _ = run_together(
        ['tools/test.py', CLS_BN, run_dir / 'epoch_1.pth', '--work-dir', work / 'cls_test_bn',
         '--out', work / 'bn.pkl', '--show-dir', vis, *cls_overrides(cls_data)],
        ['tools/test.py', CLS_DNB, dnb_checkpoint, '--work-dir', work / 'cls_test_dnb',
         '--batch-size', 1, '--out', work / 'dnb.pkl', *cls_overrides(cls_data)],
        ['tools/test.py', CLS_BN, run_dir / 'epoch_1.pth', '--work-dir', work / 'cls_test_m',
         '--out', work / 'metrics.json', '--out-item', 'metrics', *cls_overrides(cls_data)])
    # the metrics of the checkpoint train.py tested after training (its best, epoch 1)
    report = load_json(run_dir / 'paper_report.json')
    metrics = load_json(work / 'metrics.json')
    assert metrics['accuracy/top1'] == pytest.approx(report['test_top1'])
    assert metrics['accuracy/top5'] == pytest.approx(report['test_top5'])
    assert f'painted images: {vis}' in bn_out
    test_images = (cls_data / 'in100' / 'meta' / 'test.txt').read_text().split('\n')
    test_images = [ln.split()[0] for ln in test_images if ln.strip()]
    painted = sorted(os.listdir(vis))
    assert painted == sorted(f'{os.path.basename(p)}_0.png' for p in test_images)
    assert_png(str(vis / painted[0]))
    assert 'Epoch(test) [10/10]' in dnb_out  # batch size 1: one iteration per test image
    bn, dnb = load(work / 'bn.pkl'), load(work / 'dnb.pkl')
    assert len(bn) == len(dnb) == len(test_images)
    torch.testing.assert_close(torch.stack([r['pred_score'] for r in dnb]),
                               torch.stack([r['pred_score'] for r in bn]), atol=1e-5, rtol=1e-4)


def test_dist_train_two_processes(det_run):
    run_dir, log = det_run
    # mmengine reports the world size as 'GPU number' whatever the device
    assert 'GPU number: 2' in log and 'Distributed training: True' in log
    assert 'Epoch(train) [1][1/1]' in log  # 10 tiles, 5 per batch, over 2 processes
    assert (run_dir / 'epoch_1.pth').is_file()
    assert 'val/coco/bbox_mAP' in load_json(run_dir / 'epoch_metrics.json')['1']


def test_test_detector_show_dir_out_batch_size(work, det_data, backbone, det_run,
                                               det_predictions):
    """The README user's command: test.py DET_CONFIG CKPT --show-dir vis paints every val tile
    (it crashed on mmdet configs); one process, batch 1, boxes as with 2 processes."""
    run_dir, _ = det_run
    preds = work / 'det_single.pkl'
    out = run_tool('tools/test.py', DET_DNB, run_dir / 'epoch_1.pth', '--work-dir',
                   work / 'det_test', '--show-dir', 'vis', '--out', preds, '--batch-size', 1,
                   *det_overrides(det_data, backbone), check=True)
    log = out.stdout + out.stderr
    painted_line = re.search(r'painted images: (\S+)', log)
    assert painted_line, log[-3000:]
    vis = painted_line.group(1)
    assert vis.startswith(str(work / 'det_test')) and vis.endswith('vis')
    val_images = [im['file_name'] for im in
                  load_json(det_data / 'annotations' / 'instances_val.json')['images']]
    assert sorted(os.listdir(vis)) == sorted(val_images)
    single, dist = by_image(load(preds)), by_image(load(det_predictions))
    assert sorted(single) == sorted(dist) and len(single) == len(val_images)
    for img_id, inst in single.items():
        top = inst['scores'].argsort(descending=True)[:20]
        top_dist = dist[img_id]['scores'].argsort(descending=True)[:20]
        torch.testing.assert_close(inst['scores'][top], dist[img_id]['scores'][top_dist],
                                   atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(inst['bboxes'][top], dist[img_id]['bboxes'][top_dist],
                                   atol=1e-3, rtol=1e-4)


def test_demo_draw_only(work, cls_data, det_data, cls_run, det_run, det_predictions,
                        dnb_checkpoint):
    """tools/demo.py --draw-only: the demo's table and pictures from an earlier run's files
    (the runs above, laid out as the demo lays out its work dir), the missing val predictions
    made by test.py."""
    (cls_dir, _), (det_dir, _) = cls_run, det_run
    data, demo = work / 'demo_data', work / 'demo_work'
    data.mkdir()
    (data / 'fashion_mnist_imagenet').symlink_to(cls_data)
    (data / 'deepforest_coco').symlink_to(det_data)
    for key in ('bn', 'dnb'):
        (demo / f'cls_{key}').mkdir(parents=True)
        (demo / f'det_{key}').mkdir(parents=True)
        for task, src in (('cls', cls_dir), ('det', det_dir)):
            shutil.copy(src / 'epoch_metrics.json', demo / f'{task}_{key}')
    # BN's val predictions as if made already; DN-B's made by demo.py (tools/test.py --out)
    shutil.copy(det_predictions, demo / 'det_bn' / 'val_predictions.pkl')
    shutil.copy(det_dir / 'last_checkpoint', demo / 'det_dnb')
    report = load_json(cls_dir / 'paper_report.json')
    (demo / 'cls_bn' / 'paper_report.json').write_text(json.dumps(report))
    (demo / 'cls_dnb' / 'paper_report.json').write_text(
        json.dumps(dict(report, best_checkpoint=str(dnb_checkpoint))))
    out = run_tool('tools/demo.py', '--draw-only', '--data-root', data, '--work-dir', demo,
                   '--score-thr', 0.05, check=True).stdout
    assert '[demo] 3/3 val predictions' in out
    assert len(load(demo / 'det_dnb' / 'val_predictions.pkl')) == len(load(det_predictions))
    pictures = out.split('[demo] pictures:')[1].split()
    assert [os.path.basename(p) for p in pictures] == [
        'cls_val_top1.png', 'det_val_mAP50.png', 'det_val_boxes.png', 'cls_dnb_affine.png']
    for p in pictures:
        assert_png(p)
    rows = [ln for ln in out.splitlines() if ln.startswith('| BN |') or ln.startswith('| DN-B')]
    assert len(rows) == 2, out
    assert f"| {report['test_top1']:.2f} |" in rows[0]


def test_every_readme_tool_is_covered():
    """Each tool the README names runs in this file or in the test README_COVERAGE names."""
    readmes = sorted(ROOT.glob('README*.md')) + sorted(ROOT.glob('docs/*.md'))  # and the docs
    text = ''.join(p.read_text() for p in readmes)
    named = set(re.findall(r'(?<![\w/])tools/[\w/.-]+\.(?:py|sh)', text))
    here = (ROOT / 'tests' / 'test_cli_e2e.py').read_text()
    missing = []
    for tool in sorted(named):
        assert (ROOT / tool).is_file(), f'README names {tool}, which does not exist'
        if f"'{tool}'" in here.replace(f"'{tool}':", ''):
            continue  # run above
        if tool not in README_COVERAGE:
            missing.append(tool)
            continue
        where = README_COVERAGE[tool]
        if where is not None:
            path, _, name = where.partition('::')
            text = (ROOT / 'tests' / path).read_text()
            assert not name or f'def {name}(' in text, f'{tool}: {where} does not exist'
    assert not missing, f'README tools no test runs: {missing}'
