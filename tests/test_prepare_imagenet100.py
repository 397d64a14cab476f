"""tools/dataset_converters/prepare_imagenet100.py: split, layouts, errors."""
import importlib.util
import io
import os
import random
import re
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL_DIR = os.path.join(REPO, 'tools', 'dataset_converters')
TOOL = os.path.join(TOOL_DIR, 'prepare_imagenet100.py')


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


pi = _load('prepare_imagenet100_under_test', TOOL)
FIG4 = ['n11939491', 'n01770081', 'n03179701', 'n02088466']

_buf = io.BytesIO()
Image.new('RGB', (4, 4), (120, 30, 200)).save(_buf, 'JPEG')
JPEG = _buf.getvalue()

# class -> (number of train images, number of val images)
SPEC = {'n00000003': (10, 3), 'n00000001': (7, 2), 'n00000002': (5, 1)}
CLASSES = ['n00000003', 'n00000001', 'n00000002']   # deliberately unsorted


def _touch(path, data=JPEG):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def make_tree(root, spec=SPEC, val_layout='folders', gt='txt'):
    """ImageNet-like tree; flat val images are numbered like ILSVRC2012."""
    gt_rows = []
    k = 0
    for wnid, (n_train, n_val) in sorted(spec.items()):
        for i in range(n_train):
            _touch(os.path.join(root, 'train', wnid, f'{wnid}_{i}.JPEG'))
        for i in range(n_val):
            if val_layout == 'folders':
                _touch(os.path.join(root, 'val', wnid, f'val_{wnid}_{i}.JPEG'))
            else:
                k += 1
                name = f'ILSVRC2012_val_{k:08d}'
                _touch(os.path.join(root, 'val', name + '.JPEG'))
                gt_rows.append((name, wnid))
    # a non-image file is ignored
    _write(os.path.join(root, 'train', sorted(spec)[0], 'notes.txt'), 'x')
    if val_layout == 'flat' and gt == 'txt':
        _write(os.path.join(root, 'val_gt.txt'), '# comment\n' + ''.join(
            f'{n}.JPEG {w}\n' for n, w in gt_rows))
    elif val_layout == 'flat' and gt == 'csv':
        _write(os.path.join(root, 'LOC_val_solution.csv'),
               'ImageId,PredictionString\n' + ''.join(
                   f'{n},{w} 1 2 30 40 {w} 5 6 7 8\n' for n, w in gt_rows))
    return root


def classes_file(tmp_path, wnids, name='classes.txt'):
    path = tmp_path / name
    path.write_text('# header comment\n\n' + ''.join(w + '\n' for w in wnids))
    return str(path)


def read_meta(out):
    res = {}
    for k in ('train', 'val', 'test', 'classes'):
        with open(os.path.join(out, 'meta', f'{k}.txt'), 'rb') as f:
            res[k] = f.read()
    return res


def parse(lines_bytes):
    rows = []
    for line in lines_bytes.decode().splitlines():
        path, label = line.rsplit(' ', 1)
        rows.append((path, int(label)))
    return rows


@pytest.fixture
def folder_tree(tmp_path):
    return make_tree(str(tmp_path / 'in')), classes_file(tmp_path, CLASSES)


# ---------------------------------------------------------------- basics
def test_folder_layout_counts_labels_and_paths(folder_tree, tmp_path):
    root, cls = folder_tree
    out = str(tmp_path / 'out')
    s = pi.prepare(root, out, classes_file=cls)
    # round(n * 0.2) clamped to [1, n-1]: 10->2, 7->1, 5->1
    assert (s['train'], s['val'], s['test']) == (8 + 6 + 4, 2 + 1 + 1, 6)
    assert s['num_classes'] == 3 and s['val_layout'] == 'folders'
    meta = read_meta(out)
    assert meta['classes'].decode() == ''.join(w + '\n' for w in CLASSES)
    for split in ('train', 'val', 'test'):
        rows = parse(meta[split])
        assert rows, split
        for path, label in rows:
            wnid = CLASSES[label]
            assert os.path.isfile(os.path.join(root, path))
            prefix = 'val' if split == 'test' else 'train'
            assert path.startswith(f'{prefix}/{wnid}/') and '\\' not in path
        labels = [lab for _, lab in rows]
        assert labels == sorted(labels)
    test_counts = {}
    for _, label in parse(meta['test']):
        test_counts[CLASSES[label]] = test_counts.get(CLASSES[label], 0) + 1
    assert test_counts == {w: SPEC[w][1] for w in CLASSES}
    assert not [p for p, _ in parse(meta['train'])
                if not p.endswith('.JPEG')]  # notes.txt ignored
    assert sorted(os.listdir(os.path.join(out, 'meta'))) == [
        'classes.txt', 'test.txt', 'train.txt', 'val.txt']


def test_train_val_disjoint_and_union_is_all_train_images(folder_tree, tmp_path):
    root, cls = folder_tree
    out = str(tmp_path / 'out')
    pi.prepare(root, out, classes_file=cls, seed=3, val_ratio=0.4)
    meta = read_meta(out)
    tr, va = set(parse(meta['train'])), set(parse(meta['val']))
    assert not tr & va
    every = {(f'train/{w}/{n}', CLASSES.index(w))
             for w in CLASSES for n in os.listdir(os.path.join(root, 'train', w))
             if n.endswith('.JPEG')}
    assert tr | va == every
    assert len(parse(meta['train'])) == len(tr)  # no duplicate lines


def test_stratified_ratio_per_class(tmp_path):
    spec = {f'n1000000{k}': (40 + 10 * k, 1) for k in range(5)}
    root = make_tree(str(tmp_path / 'in'), spec)
    cls = classes_file(tmp_path, sorted(spec))
    out = str(tmp_path / 'out')
    pi.prepare(root, out, classes_file=cls, val_ratio=0.3)
    val_rows = parse(read_meta(out)['val'])
    for k, w in enumerate(sorted(spec)):
        n_val = sum(1 for _, lab in val_rows if lab == k)
        assert n_val == round(spec[w][0] * 0.3)


@pytest.mark.parametrize('n,ratio,expected_val', [
    (1, 0.5, 0), (2, 0.01, 1), (2, 0.99, 1), (3, 0.2, 1), (10, 0.25, 3),
    (10, 0.2, 2), (100, 0.5, 50)])
def test_split_class_sizes(n, ratio, expected_val):
    names = [f'img{i:03d}.JPEG' for i in range(n)]
    tr, va = pi.split_class(names, 'n01234567', 0, ratio)
    assert len(va) == expected_val and len(tr) == n - expected_val
    assert tr == sorted(tr) and va == sorted(va)


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 60), ratio=st.floats(0.001, 0.999), seed=st.integers(0, 99))
def test_split_class_property(n, ratio, seed):
    names = [f'x{i}.JPEG' for i in range(n)]
    shuffled = list(names)
    random.Random(seed).shuffle(shuffled)
    tr, va = pi.split_class(shuffled, 'n07654321', seed, ratio)
    assert sorted(tr + va) == sorted(names) and not set(tr) & set(va)
    if n >= 2:
        assert len(va) == min(n - 1, max(1, int(n * ratio + 0.5)))
    else:
        assert va == []
    # independent of the input order
    assert pi.split_class(names, 'n07654321', seed, ratio) == (tr, va)


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
    root = make_tree(str(tmp_path / 'in'), spec)
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
    root = make_tree(str(tmp_path / 'in'), spec)
    few = classes_file(tmp_path, ['n30000001'], 'few.txt')
    many = classes_file(tmp_path, ['n30000000', 'n30000001', 'n30000002'],
                        'many.txt')
    pi.prepare(root, str(tmp_path / 'a'), classes_file=few)
    pi.prepare(root, str(tmp_path / 'b'), classes_file=many)

    def val_of(out, wnid):
        return sorted(p for p, _ in parse(read_meta(out)['val'])
                      if f'/{wnid}/' in p)

    assert val_of(str(tmp_path / 'a'), 'n30000001') == \
        val_of(str(tmp_path / 'b'), 'n30000001')


# ---------------------------------------------------------------- flat val
@pytest.mark.parametrize('gt', ['txt', 'csv'])
def test_flat_val_with_default_gt_file(tmp_path, gt):
    root = make_tree(str(tmp_path / 'in'), val_layout='flat', gt=gt)
    cls = classes_file(tmp_path, CLASSES)
    out = str(tmp_path / 'out')
    s = pi.prepare(root, out, classes_file=cls)
    assert s['val_layout'] == 'flat'
    assert os.path.basename(s['val_gt']) == (
        'val_gt.txt' if gt == 'txt' else 'LOC_val_solution.csv')
    rows = parse(read_meta(out)['test'])
    assert len(rows) == sum(v for _, v in SPEC.values())
    for path, label in rows:
        assert re.fullmatch(r'val/ILSVRC2012_val_\d{8}\.JPEG', path)
        assert os.path.isfile(os.path.join(root, path))
    # flat and folder layouts give identical train/val splits
    root2 = make_tree(str(tmp_path / 'in2'))
    pi.prepare(root2, str(tmp_path / 'out2'), classes_file=cls)
    assert read_meta(out)['val'] == read_meta(str(tmp_path / 'out2'))['val']
    # labels match the ground truth
    gt_rows = {}
    k = 0
    for wnid, (_, n_val) in sorted(SPEC.items()):
        for _ in range(n_val):
            k += 1
            gt_rows[f'val/ILSVRC2012_val_{k:08d}.JPEG'] = CLASSES.index(wnid)
    assert dict(rows) == gt_rows


def test_flat_val_explicit_gt_and_subset_of_classes(tmp_path):
    root = make_tree(str(tmp_path / 'in'), val_layout='flat')
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
    assert s['test'] == SPEC['n00000002'][1] and s['val_gt'] == gt
    assert {lab for _, lab in parse(read_meta(out)['test'])} == {0}


# ---------------------------------------------------------------- errors
def assert_fails(match, *args, **kwargs):
    with pytest.raises(pi.PrepareError, match=match):
        pi.prepare(*args, **kwargs)


def no_output(out):
    return not os.path.exists(os.path.join(out, 'meta'))


def test_error_missing_root_train_val(tmp_path, folder_tree):
    root, cls = folder_tree
    out = str(tmp_path / 'out')
    assert_fails('IMAGENET_ROOT', str(tmp_path / 'nope'), out, classes_file=cls)
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert_fails(re.escape(os.path.join(str(empty), 'train')), str(empty), out,
                 classes_file=cls)
    (empty / 'train').mkdir()
    assert_fails(re.escape(os.path.join(str(empty), 'val')), str(empty), out,
                 classes_file=cls)
    assert no_output(out)


def test_error_class_not_in_train(tmp_path, folder_tree):
    root, _ = folder_tree
    cls = classes_file(tmp_path, CLASSES + ['n99999999'], 'more.txt')
    out = str(tmp_path / 'out')
    assert_fails(r'n99999999.*train', root, out, classes_file=cls)
    assert no_output(out)


def test_error_empty_class(tmp_path, folder_tree):
    root, cls = folder_tree
    os.makedirs(os.path.join(root, 'train', 'n00000009'))
    _touch(os.path.join(root, 'val', 'n00000009', 'a.JPEG'))
    cls = classes_file(tmp_path, CLASSES + ['n00000009'], 'more.txt')
    out = str(tmp_path / 'out')
    assert_fails(r'n00000009 is empty.*' + re.escape(
        os.path.join(root, 'train', 'n00000009')), root, out, classes_file=cls)
    assert no_output(out)


def test_error_class_missing_in_val_folders(tmp_path, folder_tree):
    root, cls = folder_tree
    import shutil
    shutil.rmtree(os.path.join(root, 'val', 'n00000002'))
    assert_fails(r'n00000002.*val', root, str(tmp_path / 'out'), classes_file=cls)


@pytest.mark.parametrize('ratio', [0, 1, -0.1, 1.5, float('nan'), 'abc'])
def test_error_bad_val_ratio(folder_tree, tmp_path, ratio):
    root, cls = folder_tree
    out = str(tmp_path / 'out')
    assert_fails('--val-ratio', root, out, classes_file=cls, val_ratio=ratio)
    assert no_output(out)


@pytest.mark.parametrize('content,match', [
    ('# only comments\n\n', 'lists no class'),
    ('', 'lists no class'),
    ('n00000001\nn00000002\nn00000001\n', r'duplicate class n00000001 .*:3 '
                                          r'\(first listed at line 1\)'),
    ('n00000001\ncat\n', r"invalid entry 'cat' at .*:2"),
    ('n0000001\n', r"invalid entry 'n0000001'"),
    ('n00000001 n00000002\n', 'invalid entry'),
])
def test_error_bad_classes_file(folder_tree, tmp_path, content, match):
    root, _ = folder_tree
    path = tmp_path / 'bad_classes.txt'
    path.write_text(content)
    out = str(tmp_path / 'out')
    assert_fails('--classes.*' + match, root, out, classes_file=str(path))
    assert_fails(re.escape(str(path)), root, out, classes_file=str(path))
    assert no_output(out)


def test_error_classes_file_missing(folder_tree, tmp_path):
    root, _ = folder_tree
    assert_fails(r'--classes.*missing\.txt', root, str(tmp_path / 'out'),
                 classes_file=str(tmp_path / 'missing.txt'))


def _flat(tmp_path, gt='txt'):
    root = make_tree(str(tmp_path / 'in'), val_layout='flat', gt=gt)
    return root, classes_file(tmp_path, CLASSES), str(tmp_path / 'out')


@pytest.mark.parametrize('text,match', [
    ('ILSVRC2012_val_00000001.JPEG\n', 'expected 2 fields'),
    ('ILSVRC2012_val_00000001.JPEG 65\n', "label '65' is not a wnid"),
    ('a b c\n', 'expected 2 fields'),
    ('# nothing\n', 'has no entries'),
])
def test_error_malformed_gt_txt(tmp_path, text, match):
    root, cls, out = _flat(tmp_path)
    _write(os.path.join(root, 'val_gt.txt'), text)
    assert_fails('--val-gt.*' + match, root, out, classes_file=cls)
    assert_fails(re.escape(os.path.join(root, 'val_gt.txt')), root, out,
                 classes_file=cls)
    assert no_output(out)


@pytest.mark.parametrize('text,match', [
    ('ImageId,PredictionString\nILSVRC2012_val_00000001,dog 1 2 3 4\n',
     'does not start with a wnid'),
    ('ImageId,PredictionString\nILSVRC2012_val_00000001\n', 'expected 2 columns'),
    ('ImageId,PredictionString\nILSVRC2012_val_00000001,\n',
     'does not start with a wnid'),
])
def test_error_malformed_gt_csv(tmp_path, text, match):
    root, cls, out = _flat(tmp_path, gt='csv')
    _write(os.path.join(root, 'LOC_val_solution.csv'), text)
    assert_fails(r'--val-gt.*LOC_val_solution\.csv:2: .*' + match, root, out,
                 classes_file=cls)
    assert no_output(out)


def test_error_gt_unreadable_or_missing(tmp_path):
    root, cls, out = _flat(tmp_path)
    with open(os.path.join(root, 'val_gt.txt'), 'wb') as f:
        f.write(b'\xff\xfe\x00bad\x80\x81')
    assert_fails(r'--val-gt: cannot read ground-truth file .*val_gt\.txt', root,
                 out, classes_file=cls)
    assert_fails(r'--val-gt.*nowhere\.txt.*does not exist', root, out,
                 classes_file=cls, val_gt=str(tmp_path / 'nowhere.txt'))
    os.remove(os.path.join(root, 'val_gt.txt'))
    assert_fails(r'val_gt\.txt.*LOC_val_solution\.csv.*--val-gt', root, out,
                 classes_file=cls)
    assert no_output(out)


def test_error_gt_inconsistent_with_files(tmp_path):
    root, cls, out = _flat(tmp_path)
    gt = os.path.join(root, 'val_gt.txt')
    with open(gt) as f:
        good = f.read()
    # an image in val/ without a ground-truth entry
    _touch(os.path.join(root, 'val', 'ILSVRC2012_val_00000099.JPEG'))
    assert_fails(r"no entry .*ILSVRC2012_val_00000099\.JPEG", root, out,
                 classes_file=cls)
    os.remove(os.path.join(root, 'val', 'ILSVRC2012_val_00000099.JPEG'))
    # a listed image of a selected class that does not exist
    _write(gt, good + 'ILSVRC2012_val_00000077.JPEG n00000001\n')
    assert_fails(r"val_gt\.txt:\d+: image 'ILSVRC2012_val_00000077\.JPEG' of "
                 r"class n00000001 not found", root, out, classes_file=cls)
    # a duplicate entry
    first = good.splitlines()[1]
    _write(gt, good + first + '\n')
    assert_fails('listed twice', root, out, classes_file=cls)
    # a selected class without any test image
    _write(gt, '\n'.join(ln.replace('n00000002', 'n00000001')
                         for ln in good.splitlines()) + '\n')
    assert_fails(r'n00000002 is empty in the test set', root, out,
                 classes_file=cls)
    assert no_output(out)


def test_error_ambiguous_or_mismatched_val_layout(tmp_path, folder_tree):
    root, cls = folder_tree
    out = str(tmp_path / 'out')
    assert_fails(r'--val-gt .*per-class folders', root, out, classes_file=cls,
                 val_gt=str(tmp_path / 'x.txt'))
    _touch(os.path.join(root, 'val', 'loose.JPEG'))
    assert_fails(r'ambiguous val layout', root, out, classes_file=cls)
    assert no_output(out)


def test_error_keeps_previous_output_untouched(folder_tree, tmp_path):
    root, cls = folder_tree
    out = str(tmp_path / 'out')
    pi.prepare(root, out, classes_file=cls)
    before = read_meta(out)
    assert_fails('--val-ratio', root, out, classes_file=cls, val_ratio=2)
    bad = classes_file(tmp_path, CLASSES + ['n77777777'], 'bad.txt')
    assert_fails('n77777777', root, out, classes_file=bad)
    assert read_meta(out) == before


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
    root = make_tree(str(tmp_path / 'in'), {w: (2, 1) for w in wnids})
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
