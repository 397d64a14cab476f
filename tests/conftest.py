"""Test-suite settings.

Property tests draw their examples from a fixed seed (``derandomize``), so a CI
run is reproducible and a failure can be replayed; the properties still range
over random shapes, r, g, modes and data. Set ``HYPOTHESIS_PROFILE=explore``
to draw fresh examples locally.
"""
import os

from hypothesis import settings

settings.register_profile('ci', derandomize=True, deadline=None, print_blob=True)
settings.register_profile('explore', deadline=None)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))
