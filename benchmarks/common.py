"""What every benchmark shares: the machine and package versions, and side-by-side timing.

``benchmarks/run.py``, ``deploy.py`` and ``guard_cost.py`` import it (they run
as scripts, so this folder is on ``sys.path``).
"""
import math
import os
import platform
import statistics
import time
from contextlib import nullcontext

import torch

from dn_mm.utils import atomic_write

DNB_LABEL, SEBN_LABEL = 'DN-B (16,1)', 'SE-BN (16)'


# ---- environment ---------------------------------------------------------------------

def device_description(device: torch.device) -> str:
    if device.type == 'cuda':
        return f'{torch.cuda.get_device_name(device)} (CUDA {torch.version.cuda})'
    name = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    name = line.split(':', 1)[1].strip()
                    break
    except OSError:
        pass
    return f'{name}, {torch.get_num_threads()} threads ({os.cpu_count()} CPUs visible)'


def load_average() -> str:
    try:
        with open('/proc/loadavg') as f:
            return f.read().split()[0]
    except OSError:
        return '?'


def versions() -> str:
    out = [f'torch {torch.__version__}']
    for pkg in ('mmcv', 'mmengine', 'mmpretrain', 'mmdet'):
        try:
            out.append(f'{pkg} {__import__(pkg).__version__}')
        except Exception:  # noqa: BLE001 - a missing package only drops its version
            pass
    return ', '.join(out)


# ---- timing --------------------------------------------------------------------------

def synchronize(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def interleaved_medians(fns: dict, device: torch.device, reps: int, min_time: float = 0.03):
    """Median seconds per call of each callable, repetitions interleaved across variants."""
    numbers = {}
    for name, fn in fns.items():  # warm-up, then one timed call to calibrate the loop count
        fn()
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        elapsed = max(time.perf_counter() - start, 1e-6)
        numbers[name] = max(1, min(50, math.ceil(min_time / elapsed)))
    samples = {name: [] for name in fns}
    names = list(fns)
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            fn, number = fns[name], numbers[name]
            synchronize(device)
            start = time.perf_counter()
            for _ in range(number):
                fn()
            synchronize(device)
            samples[name].append((time.perf_counter() - start) / number)
    return {name: statistics.median(times) for name, times in samples.items()}, samples


def paired_spread(samples: dict, name: str, base: str = 'BN'):
    """Quartiles of the per-repetition ratios name / base (same repetition, side by side)."""
    ratios = sorted(a / b for a, b in zip(samples[name], samples[base]))
    if len(ratios) < 4:
        return ratios[0], ratios[-1]
    q = statistics.quantiles(ratios, n=4)
    return q[0], q[2]


def autocast_ctx(device: torch.device, dtype: str):
    if dtype == 'bf16':
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def publish(report: str, out=None, blank_line: bool = True) -> None:
    """Print the markdown report (after a blank line, below the progress log) and write it to
    ``out`` atomically when given."""
    print(('\n' if blank_line else '') + report)
    if out:
        with atomic_write(out) as f:
            f.write(report + '\n')
