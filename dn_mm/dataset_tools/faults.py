"""Bad entries of a dataset: found all at once, named by file and entry.

``tools/misc/verify_dataset.py`` lists the problems of a converted dataset;
the converters in ``tools/dataset_converters/`` reject the same faults in
their input. Both name each fault the same way, ``FILE:ENTRY: what is
wrong``, and the converters collect every fault before they raise, so one run
shows them all, and they raise before the first byte of output is written.
"""
import os
import os.path as osp
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import List, Optional, Sequence, Type

from PIL import Image

from ..utils import progress

SHOWN = 20  # faults spelled out in one error; the rest are counted


def unreadable(err: Exception) -> str:
    """The fault of an image Pillow could not decode (``err`` is what it raised)."""
    return f'unreadable image ({type(err).__name__}: {err})'


def image_problem(path: str, fast: bool = False) -> Optional[str]:
    """None if ``path`` is an image Pillow decodes, else what is wrong with it.

    The whole image is decoded, so a truncated file is found too. ``fast``
    lets a JPEG decode at 1/8 scale (Pillow's ``draft``): every byte of the
    entropy-coded data is still read, the inverse DCT is 64x cheaper.
    """
    if not osp.isfile(path):
        return 'missing image'
    try:
        with Image.open(path) as img:
            if fast:
                img.draft('RGB', (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
    except Exception as err:  # Pillow raises many types for bad files
        return unreadable(err)
    return None


class Faults:
    """The bad entries a converter found; :meth:`raise_if_any` reports them together."""

    def __init__(self) -> None:
        self.items: List[str] = []

    def add(self, where: str, what: str) -> None:
        """Record one fault: ``where`` names the file (and line, object or index)."""
        self.items.append(f'{where}: {what}')

    def raise_if_any(self, error: Type[Exception], context: str = 'the input') -> None:
        """Raise ``error`` listing every fault (the first ``SHOWN`` in full), if there is one."""
        if not self.items:
            return
        n = len(self.items)
        shown = self.items[:SHOWN]
        more = [f'... and {n - SHOWN} more'] if n > SHOWN else []
        raise error(f'{n} bad entr{"y" if n == 1 else "ies"} in {context}; nothing was '
                    'written:\n  ' + '\n  '.join(shown + more))


def check_images(paths: Sequence[str], faults: Faults, desc: str = 'check images') -> None:
    """Record every path of ``paths`` that is missing or does not decode (JPEG at 1/8 scale).

    Pillow decodes outside the GIL, so threads share the work (progress bar).
    """
    workers = max(1, min(8, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        problems = pool.map(partial(image_problem, fast=True), paths)
        for path, bad in zip(paths, progress(problems, total=len(paths), desc=desc)):
            if bad:
                faults.add(path, bad)
