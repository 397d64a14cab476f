"""The paper's Tables 1, 2, 3, 5, 6, 7 beside our #params and Mult-Adds.

Thin entry point over :mod:`dn_mm.analysis.paper_tables` (run with ``--help`` for the options).
"""
from dn_mm.analysis.paper_tables import main

if __name__ == '__main__':
    main()
