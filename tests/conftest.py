"""Fixtures and test-suite settings; shared builders live in helpers.py.

Property tests draw their examples from a fixed seed (``derandomize``), so a CI
run is reproducible and a failure can be replayed; the properties still range
over random shapes, r, g, modes and data. Set ``HYPOTHESIS_PROFILE=explore``
to draw fresh examples locally.
"""
import os

import pytest
from helpers import FILES, IMAGENET_CLASSES, classes_file, make_imagenet_tree, make_split, write_idx
from hypothesis import settings

settings.register_profile('ci', derandomize=True, deadline=None, print_blob=True)
settings.register_profile('explore', deadline=None)
settings.load_profile(os.environ.get('HYPOTHESIS_PROFILE', 'ci'))


@pytest.fixture
def fmnist_dir(tmp_path):
    d = tmp_path / 'raw'
    d.mkdir()
    tr_img, tr_lbl = make_split(4, 0)
    te_img, te_lbl = make_split(3, 1)
    write_idx(str(d / FILES[0]), tr_img)
    write_idx(str(d / FILES[1]), tr_lbl)
    write_idx(str(d / FILES[2]), te_img)
    write_idx(str(d / FILES[3]), te_lbl)
    return str(d), (tr_img, tr_lbl, te_img, te_lbl)


@pytest.fixture
def folder_tree(tmp_path):
    return make_imagenet_tree(str(tmp_path / 'in')), classes_file(tmp_path, IMAGENET_CLASSES)
