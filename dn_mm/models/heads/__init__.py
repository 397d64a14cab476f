"""Detection heads of the paper's code bases (FNA's SSDLite head)."""
from .fna_ssdlite_head import FNASSDLiteHead

__all__ = ['FNASSDLiteHead']
