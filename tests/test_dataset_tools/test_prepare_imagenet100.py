"""dn_mm.dataset_tools.imagenet100 (tools/dataset_converters/prepare_imagenet100.py): split,
layouts."""
import os
import random
import re
import subprocess
import sys

import pytest
from helpers import (
    IMAGENET_CLASSES,
    IMAGENET_SPEC,
    classes_file,
    make_imagenet_tree,
    parse_meta,
    read_meta,
)
from helpers import ROOT as HELPERS_ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from dn_mm.dataset_tools import imagenet100 as pi
from dn_mm.dataset_tools import split_class

REPO = str(HELPERS_ROOT)
TOOL_DIR = os.path.join(REPO, 'tools', 'dataset_converters')
TOOL = os.path.join(TOOL_DIR, 'prepare_imagenet100.py')


FIG4 = ['n11939491', 'n01770081', 'n03179701', 'n02088466']

# ---------------------------------------------------------------- basics
def test_folder_layout_counts_labels_and_paths(folder_tree, tmp_path):
    root, cls = folder_tree
    out = str(tmp_path / 'out')
    s = pi.prepare(root, out, classes_file=cls)
    # round(n * 0.2) clamped to [1, n-1]: 10->2, 7->1, 5->1
    assert (s['train'], s['val'], s['test']) == (8 + 6 + 4, 2 + 1 + 1, 6)
    assert s['num_classes'] == 3 and s['val_layout'] == 'folders'
    meta = read_meta(out)
    assert meta['classes'].decode() == ''.join(w + '\n' for w in IMAGENET_CLASSES)
    for split in ('train', 'val', 'test'):
        rows = parse_meta(meta[split])
        assert rows, split
        for path, label in rows:
            wnid = IMAGENET_CLASSES[label]
            assert os.path.isfile(os.path.join(root, path))
            prefix = 'val' if split == 'test' else 'train'
            assert path.startswith(f'{prefix}/{wnid}/') and '\\' not in path
        labels = [lab for _, lab in rows]
        assert labels == sorted(labels)
    test_counts = {}
    for _, label in parse_meta(meta['test']):
        test_counts[IMAGENET_CLASSES[label]] = test_counts.get(IMAGENET_CLASSES[label], 0) + 1
    assert test_counts == {w: IMAGENET_SPEC[w][1] for w in IMAGENET_CLASSES}
    assert not [p for p, _ in parse_meta(meta['train'])
                if not p.endswith('.JPEG')]  # notes.txt ignored
    assert sorted(os.listdir(os.path.join(out, 'meta'))) == [
        'classes.txt', 'test.txt', 'train.txt', 'val.txt']


def test_train_val_disjoint_and_union_is_all_train_images(folder_tree, tmp_path):
    root, cls = folder_tree
    out = str(tmp_path / 'out')
    pi.prepare(root, out, classes_file=cls, seed=3, val_ratio=0.4)
    meta = read_meta(out)
    tr, va = set(parse_meta(meta['train'])), set(parse_meta(meta['val']))
    assert not tr & va
    every = {(f'train/{w}/{n}', IMAGENET_CLASSES.index(w))
             for w in IMAGENET_CLASSES for n in os.listdir(os.path.join(root, 'train', w))
             if n.endswith('.JPEG')}
    assert tr | va == every
    assert len(parse_meta(meta['train'])) == len(tr)  # no duplicate lines


def test_stratified_ratio_per_class(tmp_path):
    spec = {f'n1000000{k}': (40 + 10 * k, 1) for k in range(5)}
    root = make_imagenet_tree(str(tmp_path / 'in'), spec)
    cls = classes_file(tmp_path, sorted(spec))
    out = str(tmp_path / 'out')
    pi.prepare(root, out, classes_file=cls, val_ratio=0.3)
    val_rows = parse_meta(read_meta(out)['val'])
    for k, w in enumerate(sorted(spec)):
        n_val = sum(1 for _, lab in val_rows if lab == k)
        assert n_val == round(spec[w][0] * 0.3)


@pytest.mark.parametrize('n,ratio,expected_val', [
    (1, 0.5, 0), (2, 0.01, 1), (2, 0.99, 1), (3, 0.2, 1), (10, 0.25, 3),
    (10, 0.2, 2), (100, 0.5, 50)])
def test_split_class_sizes(n, ratio, expected_val):
    names = [f'img{i:03d}.JPEG' for i in range(n)]
    tr, va = split_class(names, 'n01234567', 0, ratio)
    assert len(va) == expected_val and len(tr) == n - expected_val
    assert tr == sorted(tr) and va == sorted(va)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), ratio=st.floats(0.001, 0.999), seed=st.integers(0, 99))
def test_split_class_property(n, ratio, seed):
    names = [f'x{i}.JPEG' for i in range(n)]
    shuffled = list(names)
    random.Random(seed).shuffle(shuffled)
    tr, va = split_class(shuffled, 'n07654321', seed, ratio)
    assert sorted(tr + va) == sorted(names) and not set(tr) & set(va)
    if n >= 2:
        assert len(va) == min(n - 1, max(1, int(n * ratio + 0.5)))
    else:
        assert va == []
    # independent of the input order
    assert split_class(names, 'n07654321', seed, ratio) == (tr, va)


# ---------------------------------------------------------------- determinism
def test_deterministic_and_idempotent(folder_tree, tmp_path):
    root, cls = folder_tree
    out1, out2 = str(tmp_path / 'o1'), str(tmp_path / 'o2')
    pi.prepare(root, out1, classes_file=cls, seed=7)
    first = read_meta(out1)
    pi.prepare(root, out1, classes_file=cls, seed=7)
    assert read_meta(out1) == first
    pi.prepare(root, out2, classes_file=cls, seed=7)
    assert read_meta(out2) == first
    leftovers = [n for n in os.listdir(os.path.join(out1, 'meta'))
                 if n.endswith('.tmp')]
    assert leftovers == []


def test_seed_changes_split(tmp_path):
    spec = {'n20000000': (50, 1), 'n20000001': (50, 1)}
    root = make_imagenet_tree(str(tmp_path / 'in'), spec)
    cls = classes_file(tmp_path, sorted(spec))
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    pi.prepare(root, a, classes_file=cls, seed=0)
    pi.prepare(root, b, classes_file=cls, seed=1)
    ma, mb = read_meta(a), read_meta(b)
    assert ma['val'] != mb['val'] and ma['train'] != mb['train']
    assert ma['test'] == mb['test'] and ma['classes'] == mb['classes']
    assert len(ma['val'].splitlines()) == len(mb['val'].splitlines())


def test_adding_a_class_keeps_other_splits(tmp_path):
    spec = {'n30000000': (30, 1), 'n30000001': (30, 1), 'n30000002': (30, 1)}
    root = make_imagenet_tree(str(tmp_path / 'in'), spec)
    few = classes_file(tmp_path, ['n30000001'], 'few.txt')
    many = classes_file(tmp_path, ['n30000000', 'n30000001', 'n30000002'],
                        'many.txt')
    pi.prepare(root, str(tmp_path / 'a'), classes_file=few)
    pi.prepare(root, str(tmp_path / 'b'), classes_file=many)

    def val_of(out, wnid):
        return sorted(p for p, _ in parse_meta(read_meta(out)['val'])
                      if f'/{wnid}/' in p)

    assert val_of(str(tmp_path / 'a'), 'n30000001') == \
        val_of(str(tmp_path / 'b'), 'n30000001')


# ---------------------------------------------------------------- flat val
@pytest.mark.parametrize('gt', ['txt', 'csv'])
def test_flat_val_with_default_gt_file(tmp_path, gt):
    root = make_imagenet_tree(str(tmp_path / 'in'), val_layout='flat', gt=gt)
    cls = classes_file(tmp_path, IMAGENET_CLASSES)
    out = str(tmp_path / 'out')
    s = pi.prepare(root, out, classes_file=cls)
    assert s['val_layout'] == 'flat'
    assert os.path.basename(s['val_gt']) == (
        'val_gt.txt' if gt == 'txt' else 'LOC_val_solution.csv')
    rows = parse_meta(read_meta(out)['test'])
    assert len(rows) == sum(v for _, v in IMAGENET_SPEC.values())
    for path, label in rows:
        assert re.fullmatch(r'val/ILSVRC2012_val_\d{8}\.JPEG', path)
        assert os.path.isfile(os.path.join(root, path))
    # flat and folder layouts give identical train/val splits
    root2 = make_imagenet_tree(str(tmp_path / 'in2'))
    pi.prepare(root2, str(tmp_path / 'out2'), classes_file=cls)
    assert read_meta(out)['val'] == read_meta(str(tmp_path / 'out2'))['val']
    # labels match the ground truth
    gt_rows = {}
    k = 0
    for wnid, (_, n_val) in sorted(IMAGENET_SPEC.items()):
        for _ in range(n_val):
            k += 1
            gt_rows[f'val/ILSVRC2012_val_{k:08d}.JPEG'] = IMAGENET_CLASSES.index(wnid)
    assert dict(rows) == gt_rows


def test_flat_val_explicit_gt_and_subset_of_classes(tmp_path):
    root = make_imagenet_tree(str(tmp_path / 'in'), val_layout='flat')
    gt = str(tmp_path / 'elsewhere.txt')
    os.replace(os.path.join(root, 'val_gt.txt'), gt)
    # gt without extensions must also work
    with open(gt) as f:
        text = f.read().replace('.JPEG', '')
    with open(gt, 'w') as f:
        f.write(text)
    cls = classes_file(tmp_path, ['n00000002'])
    out = str(tmp_path / 'out')
    s = pi.prepare(root, out, classes_file=cls, val_gt=gt)
    assert s['test'] == IMAGENET_SPEC['n00000002'][1] and s['val_gt'] == gt
    assert {lab for _, lab in parse_meta(read_meta(out)['test'])} == {0}


# ---------------------------------------------------------------- shipped list
def test_default_class_list():
    wnids = pi.read_classes_file(pi.DEFAULT_CLASSES_FILE)
    assert len(wnids) == 100 and len(set(wnids)) == 100
    assert wnids == sorted(wnids)
    assert all(re.fullmatch(r'n\d{8}', w) for w in wnids)
    assert set(FIG4) <= set(wnids)
    with open(pi.DEFAULT_CLASSES_FILE) as f:
        header = ''.join(ln for ln in f if ln.startswith('#'))
    assert 'random.Random(0).sample' in header and 'Figure 4' in header


def test_default_class_list_used_without_classes_arg(tmp_path):
    wnids = pi.read_classes_file(pi.DEFAULT_CLASSES_FILE)
    root = make_imagenet_tree(str(tmp_path / 'in'), {w: (2, 1) for w in wnids})
    s = pi.prepare(root, str(tmp_path / 'out'))
    assert (s['num_classes'], s['train'], s['val'], s['test']) == (100, 100, 100, 100)
    assert read_meta(str(tmp_path / 'out'))['classes'].decode().split() == wnids


# ---------------------------------------------------------------- CLI
def test_cli_subprocess(folder_tree, tmp_path):
    root, cls = folder_tree
    out = str(tmp_path / 'cli_out')
    cmd = [sys.executable, TOOL, root, out, '--classes', cls, '--seed', '5',
           '--val-ratio', '0.3']
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert '3 classes' in res.stdout
    pi.prepare(root, str(tmp_path / 'api_out'), classes_file=cls, seed=5,
               val_ratio=0.3)
    assert read_meta(out) == read_meta(str(tmp_path / 'api_out'))
    res = subprocess.run(cmd[:-1] + ['1.5'], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 2 and '--val-ratio' in res.stderr
    res = subprocess.run([sys.executable, TOOL, '--help'], capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0
    assert 'val/<wnid>/*.JPEG' in res.stdout and 'LOC_val_solution.csv' in res.stdout


def test_main_exit_code_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        pi.main([str(tmp_path / 'missing'), str(tmp_path / 'out')])
    assert e.value.code == 2
    assert 'IMAGENET_ROOT' in capsys.readouterr().err


def test_simple_progress_yields_everything(capsys):
    from dn_mm.utils.progress import _counter
    assert list(_counter(range(7), 7, 'scan')) == list(range(7))
    assert 'scan: 7/7' in capsys.readouterr().err
