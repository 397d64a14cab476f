"""Why a DN-B run diverges: what its SC-Modules read and generate, per layer and iteration.

Thin entry point over :mod:`dn_mm.analysis.norm_trace_report` (``--help`` for the options).
"""
from dn_mm.analysis.norm_trace_report import main

if __name__ == '__main__':
    main()
