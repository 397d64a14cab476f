from setuptools import find_packages, setup


def read_requirements(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith('#')]


setup(
    name='dn_mm',
    version='0.1.0',
    description='Dynamic Normalization (DN-B, DN-C) as OpenMMLab norm layers, with the '
                "paper's MMPretrain / MMDetection experiments",
    long_description=open('README.md').read(),
    long_description_content_type='text/markdown',
    python_requires='>=3.8',
    packages=find_packages(include=['dn_mm', 'dn_mm.*']),
    install_requires=['torch', 'mmengine>=0.10', 'mmcv>=2.0,<2.2'],
    extras_require={
        'full': read_requirements('requirements/runtime.txt'),
        'tests': read_requirements('requirements/tests.txt'),
    },
    license='Apache-2.0',
    classifiers=['Programming Language :: Python :: 3', 'Topic :: Scientific/Engineering :: Artificial Intelligence'],
)
