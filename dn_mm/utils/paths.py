"""Where the project's configs/ and tools/ are, in a checkout and in an installed wheel."""
from pathlib import Path


def project_root() -> str:
    """The folder that holds ``configs/`` and ``tools/``.

    In a source checkout (editable install) they are beside the package; in a
    wheel (``pip install dn_mm``, ``mim install``) they ship inside the package
    under ``dn_mm/.mim``, as mmdet and mmpretrain ship theirs.
    """
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent
    if (checkout / 'configs').is_dir() and (checkout / 'setup.py').is_file():
        return str(checkout)
    shipped = package / '.mim'
    return str(shipped if (shipped / 'configs').is_dir() else checkout)
