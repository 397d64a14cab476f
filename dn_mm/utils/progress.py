"""One progress bar for the command-line tools: tqdm when installed, else a plain counter.

Drawn only when stderr is a terminal, so logs and CI output stay clean.
"""
import sys
from typing import Iterable, Optional


def progress(iterable: Iterable, total: Optional[int] = None, desc: str = '') -> Iterable:
    """Wrap ``iterable`` in a progress bar on an interactive stderr."""
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        return tqdm(iterable, total=total, desc=desc, leave=False,
                    disable=not sys.stderr.isatty())
    if not sys.stderr.isatty():
        return iterable
    return _counter(iterable, total, desc)


def _counter(iterable, total, desc):
    n = 0
    for n, item in enumerate(iterable, 1):
        if total is None or n == total or n % max(1, (total or 1) // 100) == 0:
            sys.stderr.write(f'\r{desc}: {n}/{total if total else "?"}')
            sys.stderr.flush()
        yield item
    sys.stderr.write('\r' + ' ' * (len(desc) + 30) + '\r')
    sys.stderr.flush()
