"""Bad checkpoint files give one error naming the file and the fault, wherever they are loaded:
tools/test.py, --resume, load_from, the Pretrained init, the converters. A malicious pickle is
still refused, its code never run."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from helpers import ROOT, CodeRunningPickle, make_tiny_png_set
from mmengine.runner import load_checkpoint

import dn_mm
from dn_mm.engine.runner_cli import load_checked_checkpoint
from dn_mm.utils.checkpoint_file import (
    CheckpointFileError,
    check_checkpoint_kind,
    check_resumable,
    load_checkpoint_file,
)

CLS = 'configs/demo/mobilenet-v2_dnb-r16-goup_1xb32-10e_fmnist.py'


def bad_files(tmp_path: Path) -> dict:
    """name -> (path, words the error must contain)."""
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.arange(4000.)}, 'meta': {}}, good)
    data = good.read_bytes()
    files = {
        'truncated': (data[:len(data) // 2], 'is truncated'),
        'corrupt': (data[:len(data) // 3] + bytes(b ^ 0xFF for b in data[len(data) // 3:
                                                                          len(data) // 3 + 64])
                    + data[len(data) // 3 + 64:], 'is corrupt'),
        'empty': (b'', 'is empty'),
        'text': (b'not a checkpoint at all', 'is not a PyTorch checkpoint'),
    }
    out = {}
    for name, (content, words) in files.items():
        (tmp_path / f'{name}.pth').write_bytes(content)
        out[name] = (tmp_path / f'{name}.pth', words)
    evil = {'state_dict': {'w': CodeRunningPickle(tmp_path / 'pwned')}}
    torch.save(evil, tmp_path / 'evil.pth')
    out['malicious'] = (tmp_path / 'evil.pth', 'refused by safe loading')
    out['missing'] = (tmp_path / 'nope.pth', 'no such file')
    return out


def test_every_fault_is_named_with_its_file_by_every_loader(tmp_path):
    model = torch.nn.Linear(2, 2)
    for name, (path, words) in bad_files(tmp_path).items():
        for load in (lambda p: load_checkpoint_file(p),  # tools, converters
                     lambda p: load_checkpoint(model, str(p))):  # load_from, Pretrained
            with pytest.raises(CheckpointFileError) as info:
                load(path)
            assert str(path) in str(info.value) and words in str(info.value), name
            # no zipfile / pickle error chained to it
            assert info.value.__cause__ is None and (info.value.__context__ is None
                                                     or info.value.__suppress_context__)
    assert not (tmp_path / 'pwned').exists()  # the malicious pickle never ran


def test_pretrained_init_names_the_bad_file(tmp_path):
    from mmengine.model import BaseModule

    class Net(BaseModule):
        def __init__(self, init_cfg):
            super().__init__(init_cfg)
            self.fc = torch.nn.Linear(2, 2)

    path, words = bad_files(tmp_path)['truncated']
    for init_cfg in (dict(type='Pretrained', checkpoint=str(path)),
                     dict(type='Pretrained', checkpoint=str(path), prefix='backbone.')):
        with pytest.raises(CheckpointFileError, match=f'{path}: {words}'):
            Net(init_cfg).init_weights()


def test_converters_name_the_bad_file(tmp_path, capsys):
    from dn_mm.models.backbone_export import export_backbone
    path, words = bad_files(tmp_path)['empty']
    with pytest.raises(CheckpointFileError, match=words):
        export_backbone(str(path), str(tmp_path / 'out.pth'))
    spec = importlib.util.spec_from_file_location(
        'bn_to_dn_tool', ROOT / 'tools' / 'model_converters' / 'bn_to_dn.py')
    bn_to_dn = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bn_to_dn)
    with pytest.raises(SystemExit):
        bn_to_dn.main([str(path), str(tmp_path / 'dn.pth')])
    assert f'{path}: {words}' in capsys.readouterr().err
    assert not (tmp_path / 'out.pth').exists() and not (tmp_path / 'dn.pth').exists()


def classifier(norm):
    from mmengine.config import Config
    cfg = Config.fromfile(str(ROOT / CLS))
    cfg.model.backbone.norm_cfg = dict(type=norm, r=16, g='oup') if norm == 'DNB' else \
        dict(type='BN')
    return dn_mm.build_model(cfg.model, 'mmpretrain')


def test_wrong_kind_is_refused_but_bn_into_dn_is_not():
    dn_model = classifier('DNB')
    bn_ckpt = {'state_dict': classifier('BN').state_dict()}
    check_checkpoint_kind(dn_model, bn_ckpt, 'bn.pth')  # BN -> DN: the same kind of model
    backbone_only = {'state_dict': {k: v for k, v in bn_ckpt['state_dict'].items()
                                    if k.startswith('backbone.')}}
    check_checkpoint_kind(dn_model, backbone_only, 'backbone.pth')
    detector = {'state_dict': {'backbone.conv1.conv.weight': torch.zeros(1),
                               'neck.extra_layers.0.weight': torch.zeros(1),
                               'bbox_head.cls_convs.0.weight': torch.zeros(1)}}
    with pytest.raises(CheckpointFileError, match=r"det.pth: is for another kind of model: it has "
                       r"\['bbox_head', 'neck'\].*lacks \['head'\]"):
        check_checkpoint_kind(dn_model, detector, 'det.pth')
    with pytest.raises(CheckpointFileError, match=r"x.pth: is for another kind.*\['fc'\]"):
        check_checkpoint_kind(dn_model, {'state_dict': {'fc.weight': torch.zeros(1)}}, 'x.pth')
    with pytest.raises(CheckpointFileError, match='holds a Tensor'):
        check_checkpoint_kind(dn_model, torch.zeros(1), 't.pth')
    with pytest.raises(CheckpointFileError, match=r'cannot be resumed from: it has no meta'):
        check_resumable(backbone_only, 'backbone.pth')


def test_resume_from_a_truncated_checkpoint_names_it(tmp_path):
    from types import MethodType

    from mmengine.runner import Runner
    from test_non_finite_guard import Data, Toy
    path, words = bad_files(tmp_path)['truncated']
    runner = Runner(model=Toy(), work_dir=str(tmp_path / 'w'), resume=True, load_from=str(path),
                    train_dataloader=dict(dataset=Data(), batch_size=2,
                                          collate_fn=dict(type='default_collate'),
                                          sampler=dict(type='DefaultSampler')),
                    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
                    train_cfg=dict(by_epoch=True, max_epochs=1), default_scope='mmengine',
                    experiment_name='resume_truncated')
    runner.load_checkpoint = MethodType(load_checked_checkpoint, runner)
    with pytest.raises(CheckpointFileError, match=f'{path}: {words}'):
        runner.train()


def test_test_tool_exits_with_one_line_on_a_bad_checkpoint(tmp_path):
    make_tiny_png_set(tmp_path / 'data', n_train=1, n_val=2)
    path, words = bad_files(tmp_path)['truncated']
    env = dict(os.environ, OMP_NUM_THREADS='1')
    out = subprocess.run([sys.executable, 'tools/test.py', CLS, str(path), '--work-dir',
                          str(tmp_path / 'w'), '--cfg-options',
                          f'test_dataloader.dataset.data_root={tmp_path / "data"}',
                          'test_dataloader.dataset.ann_file=meta/val.txt'],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert f'error: checkpoint {path}: {words}' in out.stderr
    assert 'Traceback' not in out.stderr and 'zipfile' not in out.stderr, out.stderr[-2000:]


def test_checked_load_keeps_the_steps_of_the_installed_runner():
    """load_checked_checkpoint copies mmengine's Runner.load_checkpoint: the installed version
    still reads, calls the hook, loads into the unwrapped model and marks the load, in order."""
    import inspect

    from mmengine.runner import Runner
    steps = ['_load_checkpoint(filename, map_location=map_location)',
             "call_hook('after_load_checkpoint', checkpoint=checkpoint)",
             '_load_checkpoint_to_model(', '_has_loaded = True']

    def order(source):
        source = ' '.join(source.split())
        return [source.find(' '.join(step.split())) for step in steps]

    upstream = order(inspect.getsource(Runner.load_checkpoint))
    ours = order(inspect.getsource(load_checked_checkpoint))
    assert all(i >= 0 for i in upstream + ours) and upstream == sorted(upstream)
    assert ours == sorted(ours)
