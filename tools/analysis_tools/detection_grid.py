"""Val images with ground-truth and each detector's boxes, in one PNG.

Thin entry point over :mod:`dn_mm.analysis.detection_grid` (run with ``--help`` for the options).
"""
from dn_mm.analysis.detection_grid import main

if __name__ == '__main__':
    main()
