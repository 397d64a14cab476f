"""Installable the OpenMMLab way: the wheel ships configs and tools, model-index.yml,
mim train/test."""
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml
from helpers import ROOT, make_tiny_imagenet, tiny_classifier_options

BIN = Path(sys.executable).parent


def tracked_files():
    out = subprocess.run(['git', 'ls-files', '-co', '--exclude-standard'], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return [f for f in out if (ROOT / f).is_file()]


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    """The wheel built from a copy of the checkout (a build writes dn_mm/.mim into its tree)."""
    src = tmp_path_factory.mktemp('src')
    for rel in tracked_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, src / rel)
    out = tmp_path_factory.mktemp('wheel')
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '-q', '--no-deps', '--no-build-isolation',
                    str(src), '-w', str(out)], check=True, capture_output=True, timeout=300)
    (whl,) = out.glob('dn_mm-*.whl')
    return whl


def test_wheel_ships_every_config_and_tool(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [f for f in tracked_files() if f.startswith(('configs/', 'tools/'))
               and f.endswith(('.py', '.sh', '.txt', '.yml'))]
    assert len(shipped) > 50
    missing = [f for f in shipped if f'dn_mm/.mim/{f}' not in names]
    assert not missing, missing
    assert 'dn_mm/.mim/model-index.yml' in names
    assert 'dn_mm/models/layers/dnb.py' in names


def test_model_index_lists_every_config_and_only_existing_ones():
    index = yaml.safe_load((ROOT / 'model-index.yml').read_text())
    listed = []
    for metafile in index['Import']:
        models = yaml.safe_load((ROOT / metafile).read_text())['Models']
        for model in models:
            assert (ROOT / model['Config']).is_file(), model['Config']
            assert model['Metadata']['Parameters'] > 0 and model['Metadata']['FLOPs'] > 0
            listed.append(model['Config'])
    configs = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob('configs/*/*.py')
                     if p.parent.name != '_base_')
    assert sorted(listed) == configs


def test_model_index_counts_are_the_built_models():
    """Every metafile entry holds the counts of the model its config builds (counts are cached
    per distinct model, which the analysis tests count too)."""
    from dn_mm.analysis.model_index import metafiles
    for rel, data in metafiles(str(ROOT)).items():
        assert yaml.safe_load((ROOT / rel).read_text()) == data, (
            f'{rel} is out of date: python tools/misc/update_model_index.py')


def test_mim_train_and_test_from_the_installed_wheel(wheel, tmp_path):
    site = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '-q', '--no-deps', '--no-compile',
                    '--target', str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    data = make_tiny_imagenet(tmp_path / 'data', per_split=1)
    env = dict(os.environ, PYTHONPATH=str(site), OMP_NUM_THREADS='1')
    options = tiny_classifier_options(data)
    work = tmp_path / 'work'
    # by name: mim finds the config in the installed package's .mim/configs
    train = subprocess.run([str(BIN / 'mim'), 'train', 'dn_mm',
                            'mobilenet-v2_bn_1xb32-10e_fmnist.py',
                            '--work-dir', str(work), *options], cwd=tmp_path, env=env,
                           capture_output=True, text=True, timeout=300)
    assert train.returncode == 0, train.stdout[-3000:] + train.stderr[-3000:]
    assert str(site / 'dn_mm' / '.mim' / 'tools' / 'train.py') in train.stdout
    assert (work / 'epoch_1.pth').is_file() and (work / 'paper_report.json').is_file()
    test = subprocess.run([str(BIN / 'mim'), 'test', 'dn_mm', 'mobilenet-v2_bn_1xb32-10e_fmnist.py',
                           '--checkpoint', str(work / 'epoch_1.pth'), '--work-dir', str(work / 't'),
                           *options], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert test.returncode == 0, test.stdout[-3000:] + test.stderr[-3000:]
    assert 'accuracy/top1' in test.stdout + test.stderr
