"""tools/: train.py / test.py refusals, strict backbone loading, backbone export.

The tools run the way the README shows them in test_cli_e2e.py.
"""
import importlib.util
import os.path as osp

import pytest
import torch
from helpers import ROOT, backbone_checkpoint, detection_overrides, make_tiny_coco, run_tool

DET_DEMO = 'configs/demo/ssdlite_mobilenetv2-dnb-r16-goup_1xb8-36e_deepforest.py'




def test_strict_backbone_loading_fails_on_wrong_weights(tmp_path):
    data = tmp_path / 'coco'
    make_tiny_coco(data, n_train=2, n_val=1)
    # a BN backbone checkpoint for a DN-B detector: the SC-Module weights are missing
    backbone_checkpoint(tmp_path / 'bn_backbone.pth', dict(type='BN'))
    out = run_tool('tools/train.py', DET_DEMO, '--work-dir', tmp_path / 'w',
                   *detection_overrides(data, tmp_path / 'bn_backbone.pth'))
    assert out.returncode != 0
    log = out.stdout + out.stderr
    assert 'missing keys in source state_dict' in log and 'sc.fc1' in log


def test_train_and_test_refuse_bad_arguments(tmp_path):
    out = run_tool('tools/train.py', 'configs/nope.py')
    assert out.returncode != 0 and 'config: no such file: configs/nope.py' in out.stderr
    out = run_tool('tools/test.py', DET_DEMO, tmp_path / 'none.pth')
    assert out.returncode != 0 and 'checkpoint: no such file' in out.stderr


def test_export_backbone_keeps_only_backbone(tmp_path):
    from dn_mm.models.backbone_export import export_backbone
    src = tmp_path / 'cls.pth'
    torch.save({'state_dict': {'backbone.a': torch.ones(1), 'head.fc.weight': torch.ones(2)},
                'meta': {'epoch': 3}, 'optimizer': {}}, src)
    assert export_backbone(str(src), str(tmp_path / 'b.pth')) == 1
    out = torch.load(tmp_path / 'b.pth')
    assert list(out['state_dict']) == ['backbone.a'] and out['meta']['epoch'] == 3
    with pytest.raises(ValueError, match="prefix 'neck.'"):
        export_backbone(str(src), str(tmp_path / 'c.pth'), prefix='neck.')
    assert not (tmp_path / 'c.pth').exists()


# ------------------------------------------------------------- test.py --show / --show-dir

CLS_DEMO = 'configs/demo/mobilenet-v2_bn_1xb32-10e_fmnist.py'


def load_test_tool():
    spec = importlib.util.spec_from_file_location('dn_mm_tools_test', ROOT / 'tools' / 'test.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize('config,kind,keys', [
    (DET_DEMO, 'mmdet', dict(draw=True, test_out_dir='vis', show=False)),
    (CLS_DEMO, 'mmpretrain', dict(enable=True, out_dir='vis', show=False, interval=3)),
])
def test_show_dir_switches_on_each_library_hook(config, kind, keys, tmp_path):
    """mmdet's hook takes draw/test_out_dir, mmpretrain's enable/out_dir: each gets its own
    keys and is built as the runner builds it (the mmdet hook used to get enable= and crash)."""
    from mmengine.registry import HOOKS
    from mmengine.visualization import Visualizer
    tool = load_test_tool()
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'')
    cfg = tool.build_cfg(tool.parse_args([config, str(ckpt), '--show-dir', 'vis',
                                          '--interval', '3']))
    hook_cfg = cfg.default_hooks.visualization
    assert {k: hook_cfg[k] for k in keys} == keys
    assert ('enable' in hook_cfg) == (kind == 'mmpretrain')
    assert ('draw' in hook_cfg) == (kind == 'mmdet')
    Visualizer.get_instance(f'show_dir_{kind}')
    with HOOKS.switch_scope_and_registry(cfg.default_scope) as registry:
        hook = registry.build(hook_cfg)
    assert (hook.draw if kind == 'mmdet' else hook.enable) is True
    from dn_mm.engine.visualization import painted_dir
    expected = osp.join('w', 'ts', 'vis') if kind == 'mmdet' else 'vis'
    assert painted_dir(hook_cfg, 'w', 'ts') == expected


def test_show_needs_a_display(tmp_path, monkeypatch):
    import matplotlib

    from dn_mm.engine import visualization
    tool = load_test_tool()
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'')
    matplotlib.use('Agg')  # what matplotlib falls back to without a display
    assert visualization.display_backend() is None
    with pytest.raises(SystemExit, match='--show needs a display.*--show-dir'):
        tool.build_cfg(tool.parse_args([DET_DEMO, str(ckpt), '--show']))
    # with a display, both libraries' hooks show every image for --wait-time seconds
    monkeypatch.setattr(visualization, 'display_backend', lambda: 'tkagg')
    for config in (DET_DEMO, CLS_DEMO):
        cfg = tool.build_cfg(tool.parse_args([config, str(ckpt), '--show', '--wait-time', '0.5']))
        hook = cfg.default_hooks.visualization
        assert hook.show is True and hook.wait_time == 0.5


def test_test_py_refuses_bad_visualization_and_out_arguments(tmp_path):
    tool = load_test_tool()
    ckpt = tmp_path / 'model.pth'
    ckpt.write_bytes(b'')
    with pytest.raises(SystemExit, match='--interval must be a positive int'):
        tool.build_cfg(tool.parse_args([CLS_DEMO, str(ckpt), '--show-dir', 'v', '--interval', '0']))
    with pytest.raises(SystemExit, match=r'--out-item metrics is written to a \.json file'):
        tool.build_cfg(tool.parse_args([CLS_DEMO, str(ckpt), '--out', 'm.pkl',
                                        '--out-item', 'metrics']))
    with pytest.raises(SystemExit, match=r'--out-item pred is written to a \.pkl or \.pickle'):
        tool.build_cfg(tool.parse_args([CLS_DEMO, str(ckpt), '--out', 'p.json']))
    with pytest.raises(SystemExit, match='no default_hooks.visualization'):
        tool.build_cfg(tool.parse_args([CLS_DEMO, str(ckpt), '--show-dir', 'v', '--cfg-options',
                                        'default_hooks.visualization=None']))
