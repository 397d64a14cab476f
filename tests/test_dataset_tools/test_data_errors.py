"""An image the data pipeline cannot read stops training with one line naming it."""
import os
import subprocess
import sys

import pytest
from helpers import ROOT, make_tiny_imagenet, tiny_classifier_options

from dn_mm.engine.runner_cli import unreadable_image

DEMO_CLS = 'configs/demo/mobilenet-v2_bn_1xb32-10e_fmnist.py'


@pytest.mark.parametrize('fault', ['corrupt', 'missing'])
def test_unreadable_training_image_stops_the_run_naming_it(tmp_path, fault):
    data = make_tiny_imagenet(tmp_path / 'data', per_split=1)
    bad = data / 'n02' / 'train_0.JPEG'
    if fault == 'corrupt':
        bad.write_bytes(b'not a jpeg at all')
    else:
        bad.unlink()
    out = subprocess.run(
        [sys.executable, 'tools/train.py', DEMO_CLS, '--work-dir', str(tmp_path / 'w'),
         *tiny_classifier_options(data, workers=2)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert out.returncode == 1, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    what = 'cannot be decoded' if fault == 'corrupt' else 'is missing'
    assert last.startswith(f'error: image {bad} {what}; the run stopped'), last
    assert 'Traceback' not in out.stderr


def test_other_errors_are_not_called_image_faults():
    assert unreadable_image(FileNotFoundError("No such file or directory: 'configs/x.py'")) is None
    assert unreadable_image(AssertionError('something else')) is None
