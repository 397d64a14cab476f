"""Distributed runs on machines without GPUs (gloo), for tools/train.py and test.py.

mmengine's pytorch launcher assumes GPUs: it calls ``torch.cuda.set_device``
and wraps the model in DDP with ``device_ids=[LOCAL_RANK]``, both of which
fail on a CPU-only machine. With no GPU we initialise the process group with
gloo ourselves (mmengine then skips its own init) and wrap with
``device_ids=None``, so ``tools/dist_train.sh CONFIG 2`` runs anywhere.
"""
import torch
import torch.distributed as dist


def prepare_cpu_distributed(cfg, launcher: str) -> bool:
    """Set up gloo for ``launcher='pytorch'`` when no GPU is visible; True if it did."""
    if launcher != 'pytorch' or torch.cuda.is_available():
        return False
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')  # env:// from torch.distributed.run
    env_cfg = cfg.setdefault('env_cfg', {})
    env_cfg.setdefault('dist_cfg', {})['backend'] = 'gloo'
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    return True
