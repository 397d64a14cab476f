"""Print #params and Mult-Adds of a config's model in the paper's convention.

Thin entry point over :mod:`dn_mm.analysis.get_flops` (run with ``--help`` for the options).
"""
from dn_mm.analysis.get_flops import main

if __name__ == '__main__':
    main()
