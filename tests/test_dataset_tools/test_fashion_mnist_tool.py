"""dn_mm.dataset_tools.fashion_mnist and its CLI
tools/dataset_converters/fashion_mnist_to_imagenet.py (+ fetch script)."""
import os
import re
import shutil
import stat
import struct
import subprocess
import sys

import numpy as np
import pytest
from helpers import FILES, idx_bytes, write_idx
from helpers import ROOT as HELPERS_ROOT
from PIL import Image

from dn_mm.dataset_tools import fashion_mnist as fm
from dn_mm.dataset_tools import imagenet100 as pi

REPO = str(HELPERS_ROOT)
TOOL_DIR = os.path.join(REPO, 'tools', 'dataset_converters')
TOOL = os.path.join(TOOL_DIR, 'fashion_mnist_to_imagenet.py')
FETCH = os.path.join(TOOL_DIR, 'fetch_fashion_mnist.sh')
CLASSES_TXT = os.path.join(TOOL_DIR, 'fashion_mnist_classes.txt')


def tree_bytes(root):
    res = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            with open(p, 'rb') as f:
                res[os.path.relpath(p, root)] = f.read()
    return res


# ---------------------------------------------------------------- idx parsing
def test_parse_idx_roundtrip():
    a = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    np.testing.assert_array_equal(fm.parse_idx(idx_bytes(a)), a)
    b = np.array([3, 1, 4], dtype=np.uint8)
    np.testing.assert_array_equal(fm.parse_idx(idx_bytes(b)), b)


@pytest.mark.parametrize('data,match', [
    (b'\x00', 'bad magic'),
    (b'\x01\x00\x08\x01' + struct.pack('>I', 1) + b'\x00', 'bad magic'),
    (b'\x00\x00\x0d\x01' + struct.pack('>I', 1) + b'\x00' * 4, 'data type 0x0d'),
    (b'\x00\x00\x08\x03' + struct.pack('>I', 1), 'truncated header'),
    (b'\x00\x00\x08\x01' + struct.pack('>I', 5) + b'\x00' * 4, 'holds 4 bytes'),
    (b'\x00\x00\x08\x01' + struct.pack('>I', 2) + b'\x00' * 3, 'holds 3 bytes'),
])
def test_parse_idx_errors(data, match):
    with pytest.raises(fm.ConvertError, match=match):
        fm.parse_idx(data, 'some/file')


# ---------------------------------------------------------------- conversion
def test_tree_labels_and_images(fmnist_dir, tmp_path):
    raw, (tr_img, tr_lbl, te_img, te_lbl) = fmnist_dir
    out = str(tmp_path / 'out')
    s = fm.convert(raw, out, per_class_train=3, per_class_val=2, size=32)
    assert (s['train'], s['val'], s['written'], s['unchanged']) == (30, 20, 50, 0)
    assert sorted(os.listdir(out)) == ['train', 'val']
    for sub, img, lbl, n, prefix in (('train', tr_img, tr_lbl, 3, 'fmnist_train'),
                                     ('val', te_img, te_lbl, 2, 'fmnist_test')):
        assert sorted(os.listdir(os.path.join(out, sub))) == [
            f'n9000000{k}' for k in range(10)]
        for k in range(10):
            first = np.flatnonzero(lbl == k)[:n]
            names = sorted(os.listdir(os.path.join(out, sub, f'n9000000{k}')))
            assert names == [f'{prefix}_{i:05d}.JPEG' for i in first]
            for i, name in zip(first, names):
                im = Image.open(os.path.join(out, sub, f'n9000000{k}', name))
                assert im.format == 'JPEG' and im.mode == 'RGB'
                assert im.size == (32, 32)
                pix = np.asarray(im).astype(int)
                assert abs(pix.mean() - int(img[i].mean())) < 3
                assert np.ptp(pix.mean(axis=(0, 1))) < 3  # gray in 3 channels


def test_size_zero_keeps_original(fmnist_dir, tmp_path):
    raw, _ = fmnist_dir
    out = str(tmp_path / 'out')
    fm.convert(raw, out, per_class_train=1, per_class_val=1, size=0)
    im = Image.open(os.path.join(out, 'train', 'n90000000',
                                 os.listdir(os.path.join(out, 'train',
                                                         'n90000000'))[0]))
    assert im.size == (28, 28)


def test_all_images_and_uncompressed_files(fmnist_dir, tmp_path):
    raw, arrays = fmnist_dir
    plain = tmp_path / 'plain'
    plain.mkdir()
    for stem, arr in zip(FILES, arrays):
        write_idx(str(plain / stem), arr, gz=False)
    s = fm.convert(str(plain), str(tmp_path / 'o1'), None, None, size=28)
    assert (s['train'], s['val']) == (40, 30)
    fm.convert(raw, str(tmp_path / 'o2'), None, None, size=28)
    assert tree_bytes(str(tmp_path / 'o1')) == tree_bytes(str(tmp_path / 'o2'))


def test_deterministic_idempotent_and_stale_removal(fmnist_dir, tmp_path):
    raw, _ = fmnist_dir
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    fm.convert(raw, a, 3, 2)
    fm.convert(raw, b, 3, 2)
    first = tree_bytes(a)
    assert first == tree_bytes(b) and len(first) == 50
    s = fm.convert(raw, a, 3, 2)
    assert (s['written'], s['unchanged'], s['removed']) == (0, 50, 0)
    assert tree_bytes(a) == first
    # a corrupted output file is rewritten
    victim = sorted(first)[0]
    with open(os.path.join(a, victim), 'wb') as f:
        f.write(b'garbage')
    s = fm.convert(raw, a, 3, 2)
    assert (s['written'], s['unchanged']) == (1, 49)
    assert tree_bytes(a) == first
    # fewer images: stale files of ours are removed, foreign files kept
    foreign = os.path.join(a, 'train', 'n90000000', 'keep_me.JPEG')
    with open(foreign, 'wb') as f:
        f.write(b'x')
    s = fm.convert(raw, a, 2, 1)
    assert s['removed'] == 20 and os.path.exists(foreign)
    os.remove(foreign)
    fm.convert(raw, b, 2, 1)
    assert tree_bytes(a) == tree_bytes(b)
    assert not [p for p in tree_bytes(a) if '.tmp' in p]


def test_end_to_end_with_prepare(fmnist_dir, tmp_path):
    raw, _ = fmnist_dir
    root = str(tmp_path / 'imagenet_like')
    fm.convert(raw, root, per_class_train=4, per_class_val=3)
    s = pi.prepare(root, str(tmp_path / 'in'), classes_file=CLASSES_TXT)
    assert (s['num_classes'], s['train'], s['val'], s['test']) == (10, 30, 10, 30)
    with open(os.path.join(str(tmp_path / 'in'), 'meta', 'test.txt')) as f:
        for line in f:
            path, label = line.split()
            assert path.startswith(f'val/n9000000{label}/fmnist_test_')


def test_classes_file_matches_tool():
    wnids = pi.read_classes_file(CLASSES_TXT)
    assert wnids == [w for w, _ in fm.CLASSES]
    assert wnids == [f'n9000000{k}' for k in range(10)]
    with open(CLASSES_TXT) as f:
        text = f.read()
    for k, (w, name) in enumerate(fm.CLASSES):
        assert re.search(rf'#\s+{w}\s+{k}\s+{re.escape(name)}\n', text)
    assert 'MIT' in text and 'Zalando' in text


# ---------------------------------------------------------------- errors
def assert_fails(match, *args, **kwargs):
    with pytest.raises(fm.ConvertError, match=match):
        fm.convert(*args, **kwargs)


def test_error_missing_dir_and_files(fmnist_dir, tmp_path):
    raw, _ = fmnist_dir
    out = str(tmp_path / 'out')
    assert_fails(r'FMNIST_DIR .*nope', str(tmp_path / 'nope'), out)
    os.remove(os.path.join(raw, FILES[3] + '.gz'))
    assert_fails(r'FMNIST_DIR: missing t10k-labels-idx1-ubyte\.gz', raw, out)
    assert not os.path.exists(out)


def test_error_corrupt_files(fmnist_dir, tmp_path):
    raw, (tr_img, tr_lbl, _, te_lbl) = fmnist_dir
    out = str(tmp_path / 'out')
    lbl = os.path.join(raw, FILES[1] + '.gz')
    img = os.path.join(raw, FILES[0] + '.gz')
    with open(img, 'rb') as f:
        good_img = f.read()
    with open(img, 'wb') as f:
        f.write(b'not gzip at all')
    assert_fails(re.escape(img), raw, out)
    with open(img, 'wb') as f:
        f.write(good_img[:len(good_img) // 2])   # truncated gzip stream
    assert_fails(re.escape(img), raw, out)
    with open(img, 'wb') as f:
        f.write(good_img)
    write_idx(os.path.join(raw, FILES[1]), tr_lbl[:-1])      # count mismatch
    assert_fails(r'holds 40 images but .* holds 39 labels', raw, out)
    bad = tr_lbl.copy()
    bad[5] = 10
    write_idx(os.path.join(raw, FILES[1]), bad)
    assert_fails(r'unknown class in label file ' + re.escape(repr(lbl)) +
                 r' \(1 label\(s\) outside 0\.\.9\): index 5: 10$', raw, out)
    write_idx(os.path.join(raw, FILES[1]), tr_img)           # wrong ndim
    assert_fails(r'expected 1 dimension', raw, out)
    write_idx(os.path.join(raw, FILES[0]), tr_img[:0])       # no image at all
    write_idx(os.path.join(raw, FILES[1]), tr_lbl[:0])
    assert_fails(r'empty idx file: ' + re.escape(repr(img)) + ' holds 0 images', raw, out)
    assert not os.path.exists(out)


def test_error_bad_counts(fmnist_dir, tmp_path):
    raw, _ = fmnist_dir
    out = str(tmp_path / 'out')
    assert_fails(r'--per-class-train 5 is more than the 4 images', raw, out, 5, 1)
    assert_fails(r'--per-class-val 4 is more than the 3 images', raw, out, 1, 4)
    assert_fails(r'--per-class-train must be a positive integer', raw, out, 0, 1)
    assert_fails(r'--size must be', raw, out, 1, 1, size=-3)
    assert not os.path.exists(out)


# ---------------------------------------------------------------- CLI
def test_cli(fmnist_dir, tmp_path):
    raw, _ = fmnist_dir
    out = str(tmp_path / 'cli')
    cmd = [sys.executable, TOOL, raw, out, '--per-class-train', '2',
           '--per-class-val', 'all', '--size', '16']
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert 'train 20, val 30' in res.stdout
    assert Image.open(os.path.join(out, 'val', 'n90000004', sorted(os.listdir(
        os.path.join(out, 'val', 'n90000004')))[0])).size == (16, 16)
    for bad in (['--per-class-train', '0'], ['--per-class-val', 'x'],
                ['--per-class-train', '99']):
        res = subprocess.run(cmd[:3] + bad, capture_output=True, text=True,
                             timeout=60)
        assert res.returncode == 2 and bad[0] in res.stderr, res.stderr


# ---------------------------------------------------------------- fetch script
def _fake_apt(tmp_path, deb):
    """A fake apt-get on PATH: 'download' copies ``deb`` once 'update' ran."""
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    log = tmp_path / 'apt.log'
    script = bindir / 'apt-get'
    script.write_text(f"""#!/bin/sh
for a in "$@"; do last=$a; done
echo "$*" >> '{log}'
case " $* " in
  *" update "*) touch '{tmp_path}/updated'; exit 0;;
  *" download "*) [ -e '{tmp_path}/updated' ] || exit 100
                  cp '{deb}' "./${{last}}_1.0_all.deb"; exit 0;;
esac
exit 1
""")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    env = dict(os.environ, PATH=f'{bindir}{os.pathsep}{os.environ["PATH"]}')
    return env, log


def test_fetch_script(fmnist_dir, tmp_path):
    raw, _ = fmnist_dir
    pkg = tmp_path / 'pkg'
    data_dir = pkg / 'usr' / 'share' / 'datasets' / 'fashion-mnist'
    data_dir.mkdir(parents=True)
    for stem in FILES:
        shutil.copy(os.path.join(raw, stem + '.gz'), data_dir)
    (pkg / 'DEBIAN').mkdir()
    (pkg / 'DEBIAN' / 'control').write_text(
        'Package: dataset-fashion-mnist\nVersion: 1.0\nArchitecture: all\n'
        'Maintainer: test <t@example.org>\nDescription: test\n')
    deb = tmp_path / 'fake.deb'
    subprocess.run(['dpkg-deb', '-Zgzip', '--build', str(pkg), str(deb)],
                   check=True, capture_output=True, timeout=60)
    env, log = _fake_apt(tmp_path, deb)
    dest = tmp_path / 'dest'

    res = subprocess.run(['bash', FETCH, str(dest)], capture_output=True,
                         text=True, env=env, stdin=subprocess.DEVNULL,
                         timeout=60)
    if os.geteuid() == 0:   # 'download' fails until 'update' ran
        assert res.returncode == 0, res.stderr
        assert res.stdout.strip().splitlines()[-1] == str(dest)
        for stem in FILES:
            with open(dest / (stem + '.gz'), 'rb') as f, \
                    open(os.path.join(raw, stem + '.gz'), 'rb') as g:
                assert f.read() == g.read()
        assert 'update' in log.read_text()
        assert not [p for p in os.listdir(dest) if p.startswith('.fetch')]
    else:
        assert res.returncode == 2 and 'apt-get update' in res.stderr
        (tmp_path / 'updated').touch()
        res = subprocess.run(['bash', FETCH, str(dest)], capture_output=True,
                             text=True, env=env, timeout=60)
        assert res.returncode == 0, res.stderr
    # second call: complete -> no apt-get call at all
    calls = log.read_text()
    res = subprocess.run(['bash', FETCH, str(dest)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert res.returncode == 0 and res.stdout.strip() == str(dest)
    assert log.read_text() == calls
    # the fetched folder converts
    s = fm.convert(res.stdout.strip(), str(tmp_path / 'conv'), 1, 1)
    assert (s['train'], s['val']) == (10, 10)
    # a corrupt file triggers a fresh download
    with open(dest / (FILES[0] + '.gz'), 'wb') as f:
        f.write(b'broken')
    res = subprocess.run(['bash', FETCH, str(dest)], capture_output=True,
                         text=True, env=env, timeout=60)
    assert res.returncode == 0, res.stderr
    assert log.read_text() != calls
    fm.read_idx(str(dest / (FILES[0] + '.gz')))
    # usage error
    res = subprocess.run(['bash', FETCH], capture_output=True, text=True,
                         env=env, timeout=60)
    assert res.returncode == 2 and 'usage' in res.stderr
