"""The norm study: the paper's claims about DN-B measured on Fashion-MNIST (``make study``).

Thin entry point over :mod:`dn_mm.analysis.norm_study_report` (``--help`` for the options).
"""
from dn_mm.analysis.norm_study_report import main

if __name__ == '__main__':
    main()
