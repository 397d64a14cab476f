"""The stack fixes of `import dn_mm`: applied where the pinned upstream needs them, once, listed."""
from helpers import ROOT

import dn_mm  # noqa: F401  (importing dn_mm applies the stack fixes these tests check)
from dn_mm import compat


def test_each_fix_is_needed_by_the_pinned_stack_and_then_satisfied():
    # on the pinned stack every fix is needed; once applied, each feature check reports fixed
    assert compat.applied() == [name for name, *_ in compat.FIXES]
    for name, needed, _, _ in compat.FIXES:
        assert not needed(), f'{name} still needed after import dn_mm'


def import_and_load_a_config(verbose: bool):
    """A process that imports dn_mm, applies the fixes again and resolves an mmpretrain config."""
    import os
    import subprocess
    import sys
    code = ('import dn_mm; dn_mm.compat.apply(); from mmengine.config import Config; '
            "Config.fromfile('configs/demo/mobilenet-v2_dnb-r16-goup_1xb32-10e_fmnist.py'); "
            'print(len(dn_mm.compat.applied()))')
    env = dict(os.environ)
    env.pop(compat.VERBOSE_ENV, None)
    if verbose:
        env[compat.VERBOSE_ENV] = '1'
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          timeout=120, env=env, cwd=str(ROOT))


def test_import_is_quiet_and_verbose_names_the_fixes_once():
    quiet = import_and_load_a_config(verbose=False)
    assert quiet.stdout.strip() == str(len(compat.FIXES))  # stdout carries only what we print
    assert quiet.stderr == ''  # no stack-fix lines, no pkg_resources deprecation warnings
    verbose = import_and_load_a_config(verbose=True)
    assert verbose.stderr.splitlines() == [
        'dn_mm: stack fixes applied: ' + ', '.join(n for n, *_ in compat.FIXES)]


def test_pretrained_default_stays_non_strict(tmp_path):
    """Every existing config keeps mmengine's behaviour: missing keys do not fail the init."""
    import torch
    from mmengine.model import BaseModule
    from torch import nn

    class Net(BaseModule):
        def __init__(self, init_cfg):
            super().__init__(init_cfg)
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)

    src = Net(None)
    torch.save({'state_dict': {'a.weight': src.a.weight, 'a.bias': src.a.bias}}, tmp_path / 'c.pth')
    net = Net(dict(type='Pretrained', checkpoint=str(tmp_path / 'c.pth')))
    net.init_weights()  # b.* missing: loads a, keeps b, no error
    torch.testing.assert_close(net.a.weight, src.a.weight)
