"""What the dataset tools run: converters to ImageNet / COCO layouts, the data check, the
per-class split (tools/dataset_converters, tools/misc/verify_dataset.py; also the norm study).
No registered dataset: the configs use mmpretrain's and mmdet's own."""
from .split import split_class

__all__ = ['split_class']
