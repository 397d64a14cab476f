"""Where the project's configs/ and tools/ are, in a checkout and in an installed wheel."""
from pathlib import Path


def project_root() -> str:
    """The folder that holds ``configs/`` and ``tools/``.

    In a wheel (``pip install dn_mm`` or ``mim install``) they ship inside the
    package under ``dn_mm/.mim``, as mmdet and mmpretrain ship theirs; in a
    source checkout they are beside the package.
    """
    package = Path(__file__).resolve().parents[1]
    shipped = package / '.mim'
    if (shipped / 'configs').is_dir():
        return str(shipped)
    return str(package.parent)
