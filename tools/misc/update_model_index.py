"""Write model-index.yml and configs/*/metafile.yml from the configs (``--check``: compare only).

Thin entry point over :mod:`dn_mm.analysis.model_index`.
"""
import sys

from dn_mm.analysis.model_index import main

if __name__ == '__main__':
    sys.exit(main())
