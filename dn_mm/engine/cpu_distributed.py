"""Distributed runs on machines without GPUs (gloo), for tools/train.py and test.py.

mmengine's pytorch launcher assumes GPUs: it calls ``torch.cuda.set_device``
and wraps the model in DDP with ``device_ids=[LOCAL_RANK]``, both of which
fail on a CPU-only machine. With no GPU we initialise the process group with
gloo ourselves (mmengine then skips its own init) and wrap with
``device_ids=None``, so ``tools/dist_train.sh CONFIG 2`` runs anywhere.

Faults: a worker that dies is noticed by torchrun's agent, which stops the
others and names the dead rank as the root cause. A peer that hangs or whose
machine vanishes leaves the others waiting in a collective; they give up after
``env_cfg.dist_cfg.timeout`` seconds (as mmengine's own init honours it; torch's
default, 30 minutes, when the config sets none).
"""
import datetime

import torch
import torch.distributed as dist


def prepare_cpu_distributed(cfg, launcher: str) -> bool:
    """Set up gloo for ``launcher='pytorch'`` when no GPU is visible; True if it did."""
    if launcher != 'pytorch' or torch.cuda.is_available():
        return False
    env_cfg = cfg.setdefault('env_cfg', {})
    dist_cfg = env_cfg.setdefault('dist_cfg', {})
    dist_cfg['backend'] = 'gloo'
    if not dist.is_initialized():
        # env:// from torch.distributed.run
        dist.init_process_group(backend='gloo', **collective_timeout(dist_cfg))
    if cfg.get('model_wrapper_cfg') is None:
        cfg.model_wrapper_cfg = dict(
            type='MMDistributedDataParallel', device_ids=None, broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
    return True


def collective_timeout(dist_cfg) -> dict:
    """``{'timeout': timedelta}`` from ``dist_cfg.timeout`` (seconds), or {} when unset."""
    timeout = dist_cfg.get('timeout')
    if timeout is None:
        return {}
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ValueError('env_cfg.dist_cfg.timeout must be a positive number of seconds, '
                         f'got {timeout!r}')
    return {'timeout': datetime.timedelta(seconds=timeout)}
