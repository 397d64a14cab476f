"""Plot per-epoch metrics of several runs in one PNG (paper Figures 1 and 3).

Thin entry point over :mod:`dn_mm.analysis.plot_curves` (run with ``--help`` for the options).
"""
from dn_mm.analysis.plot_curves import main

if __name__ == '__main__':
    main()
