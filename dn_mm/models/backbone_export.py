"""Export the backbone of a trained classifier for the detection configs.

Keeps the ``backbone.*`` weights (names unchanged, so the detection configs'
``init_cfg=dict(type='Pretrained', prefix='backbone.', strict=True, ...)``
loads them into mmpretrain's MobileNetV2 inside SSDLite) and drops the
classification head, optimizer state and message hub. Written atomically.
"""
import os

from ..utils import save_checkpoint_atomic
from ..utils.checkpoint_file import load_checkpoint_file, state_dict_of


def export_backbone(src: str, dst: str, prefix: str = 'backbone.') -> int:
    ckpt = load_checkpoint_file(src, map_location='cpu')  # CheckpointFileError (a ValueError)
    state = state_dict_of(ckpt, src)
    backbone = {k: v for k, v in state.items() if k.startswith(prefix)}
    if not backbone:
        raise ValueError(f'{src} has no weights under the prefix {prefix!r}; '
                         f'its keys start with: {sorted({k.split(".")[0] for k in state})}')
    meta = dict(ckpt.get('meta', {}) or {}) if 'state_dict' in ckpt else {}
    meta = {k: meta[k] for k in ('epoch', 'iter', 'mmengine_version', 'dataset_meta') if k in meta}
    meta['exported_from'] = os.path.abspath(src)
    save_checkpoint_atomic({'state_dict': backbone, 'meta': meta}, dst)
    return len(backbone)
