"""dn_mm: Dynamic Normalization for OpenMMLab.

As mmdet and mmpretrain do, the wheel ships the configs, the tools and
model-index.yml inside the package under ``dn_mm/.mim`` (copied when a wheel or
sdist is built, linked for ``setup.py develop``), which is where ``mim train
dn_mm CONFIG`` / ``mim test`` / ``mim search dn_mm`` look for them.
"""
import os
import os.path as osp
import shutil
import sys

from setuptools import find_packages, setup

MIM_FILES = ('configs', 'tools', 'model-index.yml')


def read_requirements(path):
    with open(path) as f:
        return [line.split('#')[0].strip() for line in f
                if line.strip() and not line.startswith('#')]


def add_mim_extension():
    """Put configs/, tools/ and model-index.yml into dn_mm/.mim (mmpretrain's setup.py does the
    same)."""
    if 'develop' in sys.argv:
        mode = 'symlink'
    elif any(cmd in sys.argv for cmd in ('sdist', 'bdist_wheel', 'egg_info')):
        mode = 'copy'
    else:
        return
    repo = osp.dirname(osp.abspath(__file__))
    mim = osp.join(repo, 'dn_mm', '.mim')
    os.makedirs(mim, exist_ok=True)
    for name in MIM_FILES:
        src, dst = osp.join(repo, name), osp.join(mim, name)
        if not osp.exists(src):
            continue
        if osp.islink(dst) or osp.isfile(dst):
            os.remove(dst)
        elif osp.isdir(dst):
            shutil.rmtree(dst)
        if mode == 'symlink':
            os.symlink(osp.relpath(src, mim), dst)
        elif osp.isdir(src):
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns('__pycache__', '*.pyc'))
        else:
            shutil.copyfile(src, dst)


if __name__ == '__main__':
    add_mim_extension()
    setup(
        name='dn_mm',
        version='0.1.0',
        description='Dynamic Normalization (DN-B, DN-C) as OpenMMLab norm layers, with the '
                    "paper's MMPretrain / MMDetection experiments",
        long_description=open('README.md').read(),
        long_description_content_type='text/markdown',
        python_requires='>=3.8',
        packages=find_packages(include=['dn_mm', 'dn_mm.*']),
        include_package_data=True,
        install_requires=['torch', 'mmengine>=0.10', 'mmcv>=2.0,<2.2'],
        extras_require={
            'full': read_requirements('requirements/runtime.txt'),
            'tests': read_requirements('requirements/tests.txt'),
        },
        license='Apache-2.0',
        classifiers=['Programming Language :: Python :: 3',
                     'Topic :: Scientific/Engineering :: Artificial Intelligence'],
    )
