"""Reading the ``deepforest/data`` folder of the deepforest wheel, zipped or extracted."""
import os
import zipfile

from .errors import DeepForestError


class DataSource:
    """Flat view of a ``deepforest/data`` folder (wheel member or dir)."""

    def __init__(self, src: str):
        self.src = str(src)
        self.version = 'unknown'
        self.meta_license = None
        self._zip = None
        self._prefix = None
        self._dir = None
        if os.path.isfile(self.src):
            self._open_wheel()
        elif os.path.isdir(self.src):
            self._open_dir()
        else:
            raise DeepForestError(
                f'input {self.src!r} does not exist; '
                'expected a deepforest-*.whl file or a deepforest/data '
                'directory (see tools/dataset_converters/fetch_deepforest.sh)')

    # -- wheel ------------------------------------------------------------
    def _open_wheel(self):
        if not zipfile.is_zipfile(self.src):
            raise DeepForestError(
                f'{self.src!r} is not a valid wheel/zip '
                'file; expected a deepforest-*.whl downloaded with '
                '`pip download --no-deps deepforest==2.1.0`')
        zf = zipfile.ZipFile(self.src)
        prefixes = sorted({
            n[:n.index('deepforest/data/') + len('deepforest/data/')]
            for n in zf.namelist() if 'deepforest/data/' in n
        }, key=lambda p: (len(p), p))
        if not prefixes:
            zf.close()
            raise DeepForestError(
                f'{self.src!r} contains no '
                'deepforest/data/ folder; expected a deepforest wheel')
        self._zip = zf
        self._prefix = prefixes[0]
        self._names = sorted(
            n[len(self._prefix):] for n in zf.namelist()
            if n.startswith(self._prefix) and not n.endswith('/')
            and '/' not in n[len(self._prefix):])
        for n in sorted(zf.namelist()):
            if n.endswith('.dist-info/METADATA'):
                self._parse_metadata(zf.read(n).decode('utf-8', 'replace'))
                break

    # -- directory --------------------------------------------------------
    def _open_dir(self):
        d = self.src
        nested = os.path.join(d, 'deepforest', 'data')
        if os.path.isdir(nested):
            root = d
            d = nested
        else:
            root = os.path.dirname(os.path.dirname(os.path.abspath(d)))
        self._dir = d
        self._names = sorted(
            n for n in os.listdir(d)
            if os.path.isfile(os.path.join(d, n)))
        try:
            for n in sorted(os.listdir(root)):
                meta = os.path.join(root, n, 'METADATA')
                if n.endswith('.dist-info') and os.path.isfile(meta):
                    with open(meta, encoding='utf-8', errors='replace') as f:
                        self._parse_metadata(f.read())
                    break
        except OSError:
            pass

    def _parse_metadata(self, text):
        for line in text.splitlines():
            if not line.strip():
                break  # end of the header block
            if line.startswith('Version:'):
                self.version = line.split(':', 1)[1].strip()
            elif line.startswith('License:'):
                self.meta_license = line.split(':', 1)[1].strip()

    @property
    def names(self):
        return list(self._names)

    def read(self, name):
        if self._zip is not None:
            return self._zip.read(self._prefix + name)
        with open(os.path.join(self._dir, name), 'rb') as f:
            return f.read()

    def close(self):
        if self._zip is not None:
            self._zip.close()
            self._zip = None
