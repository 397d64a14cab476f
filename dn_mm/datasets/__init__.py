"""Dataset helpers shared by the dataset tools and the studies."""
from .split import split_class

__all__ = ['split_class']
