"""The generated affine parameters of a trained DN model (paper Figure 5, Table 9).

Thin entry point over :mod:`dn_mm.analysis.visualize_affine` (run with ``--help`` for the options).
"""
from dn_mm.analysis.visualize_affine import main

if __name__ == '__main__':
    main()
