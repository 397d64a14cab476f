"""The stack fixes of `import dn_mm`: applied where the pinned upstream needs them, once, listed."""
import dn_mm  # noqa: F401  (importing dn_mm applies the stack fixes these tests check)
from dn_mm import compat


def test_each_fix_is_needed_by_the_pinned_stack_and_then_satisfied():
    # on the pinned stack every fix is needed; once applied, each feature check reports fixed
    assert compat.applied() == [name for name, *_ in compat.FIXES]
    for name, needed, _, _ in compat.FIXES:
        assert not needed(), f'{name} still needed after import dn_mm'


def test_apply_logs_each_fix_once_to_stderr():
    import subprocess
    import sys
    code = 'import dn_mm; dn_mm.compat.apply(); print(len(dn_mm.compat.applied()))'
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == str(len(compat.FIXES))  # stdout carries only what we print
    lines = [line for line in out.stderr.splitlines() if line.startswith('dn_mm: stack fix')]
    assert [line.split()[3].rstrip(':') for line in lines] == [n for n, *_ in compat.FIXES]


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
