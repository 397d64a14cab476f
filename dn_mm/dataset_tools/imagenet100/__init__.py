"""ImageNet-100 (or any ImageNet class subset): mmpretrain annotation files for a seeded split.

Writes ``meta/{train,val,test,classes}.txt`` for a per-class (stratified)
train/val split of the ImageNet *train* images; the original ImageNet *val*
images of the chosen classes become the test set. No image is copied. The
split uses only the standard library (tqdm for progress bars if present).
The entry points are :func:`prepare` and :func:`main`
(``tools/dataset_converters/prepare_imagenet100.py``).
"""
from .cli import build_parser, main
from .errors import PrepareError
from .folders import DEFAULT_CLASSES_FILE, read_classes_file
from .prepare import DEFAULT_GT_NAMES, prepare
from .val_ground_truth import read_val_gt

__all__ = ['DEFAULT_CLASSES_FILE', 'DEFAULT_GT_NAMES', 'PrepareError', 'build_parser', 'main',
           'prepare', 'read_classes_file', 'read_val_gt']
