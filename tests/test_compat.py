"""The stack fixes of `import dn_mm`: applied where the pinned upstream needs them, once, listed."""
import logging

from mmengine.logging import MMLogger

import dn_mm
from dn_mm import compat


def test_each_fix_is_needed_by_the_pinned_stack_and_then_satisfied():
    # on the pinned stack all three are needed; once applied, each feature check reports fixed
    assert compat.applied() == [name for name, *_ in compat.FIXES]
    for name, needed, _, _ in compat.FIXES:
        assert not needed(), f'{name} still needed after import dn_mm'


def test_apply_again_changes_nothing_and_logs_nothing(caplog):
    logger = MMLogger.get_current_instance()
    logger.propagate, was = True, logger.propagate
    try:
        with caplog.at_level(logging.INFO):
            assert dn_mm.compat.apply() == compat.applied()
    finally:
        logger.propagate = was
    assert 'dn_mm stack fix' not in caplog.text


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
