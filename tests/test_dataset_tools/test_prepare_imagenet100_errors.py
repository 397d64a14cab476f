"""dn_mm.dataset_tools.imagenet100: bad input fails before anything is written, naming what is
wrong."""
import os
import re

import pytest
from helpers import (
    IMAGENET_CLASSES,
    TINY_JPEG,
    classes_file,
    make_imagenet_tree,
    read_meta,
    touch_image,
    write_text,
)

from dn_mm.dataset_tools import imagenet100 as pi


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
    cls = classes_file(tmp_path, IMAGENET_CLASSES + ['n99999999'], 'more.txt')
    out = str(tmp_path / 'out')
    assert_fails(r'n99999999.*train', root, out, classes_file=cls)
    assert no_output(out)


def test_error_empty_class(tmp_path, folder_tree):
    root, cls = folder_tree
    os.makedirs(os.path.join(root, 'train', 'n00000009'))
    touch_image(os.path.join(root, 'val', 'n00000009', 'a.JPEG'))
    cls = classes_file(tmp_path, IMAGENET_CLASSES + ['n00000009'], 'more.txt')
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
    root = make_imagenet_tree(str(tmp_path / 'in'), val_layout='flat', gt=gt)
    return root, classes_file(tmp_path, IMAGENET_CLASSES), str(tmp_path / 'out')


@pytest.mark.parametrize('text,match', [
    ('ILSVRC2012_val_00000001.JPEG\n', 'expected 2 fields'),
    ('ILSVRC2012_val_00000001.JPEG 65\n', "label '65' is not a wnid"),
    ('a b c\n', 'expected 2 fields'),
    ('# nothing\n', 'has no entries'),
])
def test_error_malformed_gt_txt(tmp_path, text, match):
    root, cls, out = _flat(tmp_path)
    write_text(os.path.join(root, 'val_gt.txt'), text)
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
    write_text(os.path.join(root, 'LOC_val_solution.csv'), text)
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
    touch_image(os.path.join(root, 'val', 'ILSVRC2012_val_00000099.JPEG'))
    assert_fails(r"no entry .*ILSVRC2012_val_00000099\.JPEG", root, out,
                 classes_file=cls)
    os.remove(os.path.join(root, 'val', 'ILSVRC2012_val_00000099.JPEG'))
    # a listed image of a selected class that does not exist
    write_text(gt, good + 'ILSVRC2012_val_00000077.JPEG n00000001\n')
    assert_fails(r"val_gt\.txt:\d+: image 'ILSVRC2012_val_00000077\.JPEG' of "
                 r"class n00000001 not found", root, out, classes_file=cls)
    # a duplicate entry
    first = good.splitlines()[1]
    write_text(gt, good + first + '\n')
    assert_fails('listed twice', root, out, classes_file=cls)
    # a selected class without any test image
    write_text(gt, '\n'.join(ln.replace('n00000002', 'n00000001')
                         for ln in good.splitlines()) + '\n')
    assert_fails(r'n00000002 is empty in the test set', root, out,
                 classes_file=cls)
    assert no_output(out)


def test_error_ambiguous_or_mismatched_val_layout(tmp_path, folder_tree):
    root, cls = folder_tree
    out = str(tmp_path / 'out')
    assert_fails(r'--val-gt .*per-class folders', root, out, classes_file=cls,
                 val_gt=str(tmp_path / 'x.txt'))
    touch_image(os.path.join(root, 'val', 'loose.JPEG'))
    assert_fails(r'ambiguous val layout', root, out, classes_file=cls)
    assert no_output(out)


def test_error_keeps_previous_output_untouched(folder_tree, tmp_path):
    root, cls = folder_tree
    out = str(tmp_path / 'out')
    pi.prepare(root, out, classes_file=cls)
    before = read_meta(out)
    assert_fails('--val-ratio', root, out, classes_file=cls, val_ratio=2)
    bad = classes_file(tmp_path, IMAGENET_CLASSES + ['n77777777'], 'bad.txt')
    assert_fails('n77777777', root, out, classes_file=bad)
    assert read_meta(out) == before


def test_error_names_every_unreadable_image(folder_tree, tmp_path, capsys):
    root, cls = folder_tree
    out = str(tmp_path / 'out')
    pi.prepare(root, out, classes_file=cls)
    before = read_meta(out)
    empty = os.path.join(root, 'train', 'n00000001', 'n00000001_3.JPEG')
    truncated = os.path.join(root, 'val', 'n00000002', 'val_n00000002_0.JPEG')
    text = os.path.join(root, 'train', 'n00000003', 'n00000003_0.JPEG')
    touch_image(empty, b'')
    touch_image(truncated, TINY_JPEG[:len(TINY_JPEG) // 2])
    touch_image(text, b'<html>not an image</html>')
    with pytest.raises(pi.PrepareError) as err:
        pi.prepare(root, out, classes_file=cls)
    lines = str(err.value).splitlines()
    assert lines[0] == f'3 bad entries in the images of {root}; nothing was written:'
    assert sorted(line.split(': unreadable image (')[0].strip() for line in lines[1:]) == \
        sorted([empty, truncated, text])
    assert 'truncated' in str(err.value).lower()
    assert read_meta(out) == before
    with pytest.raises(SystemExit) as exit_:  # the command line: every file, status 2
        pi.main([root, out, '--classes', cls])
    stderr = capsys.readouterr().err
    assert exit_.value.code == 2 and all(p in stderr for p in (empty, truncated, text))
    pi.prepare(root, out, classes_file=cls, image_check=False)  # the user's choice
    assert read_meta(out) == before
