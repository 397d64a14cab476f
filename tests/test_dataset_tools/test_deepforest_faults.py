"""deepforest_to_coco rejects what verify_dataset reports, naming file and entry, writing nothing.

Each case breaks one thing in a fake ``deepforest/data`` folder (conftest's
``make_deepforest_data``: ann.csv has a header, a.png's 4 boxes on lines
2-5, b.jpg's 2 on lines 6-7 and a ``0,0,0,0`` row on line 8).
"""
import re

import pytest
from helpers import make_deepforest_data, noise_image, tree_digest

from dn_mm.dataset_tools import deepforest as d2c


def append(path, text):
    with open(path, 'a') as f:
        f.write(text)


def two_images_one_tile_name(data):
    noise_image(40, 40, 7).save(data / 'x y.png')
    noise_image(40, 40, 8).save(data / 'x_y.png')
    (data / 'xy.csv').write_text('image_path,xmin,ymin,xmax,ymax\nx y.png,1,1,9,9\n'
                                 'x_y.png,1,1,9,9\n')


# (fault, how the data is broken, what the error says)
CASES = [
    ('malformed row', lambda d: append(d / 'ann.csv', 'a.png,1,two,30,30,Tree\n'),
     r"ann\.csv:9: malformed row .*a\.png,1,two,30,30,Tree"),
    ('row short of fields', lambda d: append(d / 'ann.csv', 'a.png,1,2\n'),
     r'ann\.csv:9: malformed row'),
    ('column missing',
     lambda d: (d / 'n.csv').write_text('image_path,xmin,ymin,xmax\na.png,1,1,5\n'),
     r'n\.csv: malformed annotation file: no column ymax'),
    ('empty file', lambda d: (d / 'e.csv').write_bytes(b''), r'e\.csv: empty annotation file'),
    ('header only', lambda d: (d / 'h.csv').write_text('image_path,xmin,ymin,xmax,ymax\n'),
     r'h\.csv: empty annotation file \(a header and no row'),
    ('XML that does not parse', lambda d: (d / 'v.xml').write_text('<annotation><object>'),
     r'v\.xml: malformed annotation file \(XML: '),
    ('VOC object without box', lambda d: (d / 'd.xml').write_text(
        (d / 'd.xml').read_text().replace('</annotation>',
                                          '<object><name>Tree</name></object></annotation>')),
     r'd\.xml: object 3: malformed object'),
    ('unknown class', lambda d: append(d / 'ann.csv', 'a.png,50,40,60,50,Car\n'),
     r"ann\.csv:9: unknown class 'Car' \(known: Tree, Alive, Dead; set them with --labels\)"),
    ('unknown VOC class', lambda d: (d / 'd.xml').write_text(
        (d / 'd.xml').read_text().replace('Dead', 'Stump', 1)),
     r"d\.xml: object 1: unknown class 'Stump'"),
    ('zero-size box', lambda d: append(d / 'ann.csv', 'a.png,30,10,30,20,Tree\n'),
     r'ann\.csv:9: box of zero size \[30\.0, 10\.0, 30\.0, 20\.0\]'),
    ('box outside its image', lambda d: append(d / 'ann.csv', 'a.png,80,50,100,60,Tree\n'),
     r"ann\.csv:9: box \[80\.0, 50\.0, 100\.0, 60\.0\] outside its image 'a\.png' \(96x64\)"),
    ('negative box', lambda d: append(d / 'c.csv', 'c.png,-2,1,9,9,Tree\n'),
     r"c\.csv:4: box \[-2\.0, 1\.0, 9\.0, 9\.0\] outside its image 'c\.png' \(80x40\)"),
    ('duplicate box', lambda d: append(d / 'ann.csv', 'a.png,40,5,60,20,Alive\n'),
     r'ann\.csv:9: duplicate box \[40\.0, 5\.0, 60\.0, 20\.0\] \(also ann\.csv:3\)'),
    ('missing image', lambda d: append(d / 'ann.csv', 'nope.png,1,1,5,5,Tree\n'),
     r"ann\.csv:9: missing image 'nope\.png': not in the data folder"),
    ('unreadable image', lambda d: ((d / 'broken.tif').write_bytes(b'II*\x00 not a tiff'),
                                    append(d / 'ann.csv', 'broken.tif,1,1,9,9,Tree\n')),
     r'broken\.tif: unreadable image \('),
    ('duplicate image id', two_images_one_tile_name,
     r"duplicate image id: source images 'x y' and 'x_y' both give the tile 'x_y_0_0\.jpg'"),
]


@pytest.fixture
def broken(tmp_path):
    """(data folder, output folder) of a fresh fake wheel, before the fault."""
    root = make_deepforest_data(tmp_path / 'src')
    return root / 'deepforest' / 'data', tmp_path / 'out'


@pytest.mark.filterwarnings('ignore:Corrupt EXIF data')  # Pillow probing the broken TIFF
@pytest.mark.parametrize('fault,breaks,message', CASES, ids=[c[0] for c in CASES])
def test_fault_is_rejected_before_writing(broken, fault, breaks, message):
    data, out = broken
    good = out.with_name('good')
    d2c.convert(str(data), str(good), tile=32)  # the data converts before the fault
    assert (good / 'annotations' / 'instances_train.json').is_file()
    breaks(data)
    with pytest.raises(d2c.DeepForestError, match=message):
        d2c.convert(str(data), str(out), tile=32)
    assert not out.exists()


def test_every_fault_in_one_error_previous_output_kept(broken, capsys):
    data, out = broken
    d2c.convert(str(data), str(out), tile=32)
    before = tree_digest(out)
    append(data / 'ann.csv', 'a.png,1,two,30,30,Tree\na.png,80,50,100,60,Car\n'
                       'nope.png,1,1,5,5,Tree\n')
    (data / 'e.csv').write_bytes(b'')
    with pytest.raises(SystemExit) as exit_:
        d2c.main([str(data), str(out), '--tile', '32'])
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert re.search(r'deepforest_to_coco\.py: error: 5 bad entries in the deepforest data of '
                     r'\S+; nothing was written:', err)
    for entry in (r'e\.csv: empty', r'ann\.csv:9: malformed row', r'ann\.csv:10: unknown class',
                  r'ann\.csv:10: box .* outside', r"ann\.csv:11: missing image 'nope\.png'"):
        assert re.search(entry, err), entry
    assert tree_digest(out) == before


def test_labels_option_and_empty_image_row(broken, capsys):
    data, out = broken
    append(data / 'ann.csv', 'a.png,50,40,60,50,Car\n')
    summary = d2c.convert(str(data), str(out), tile=32, labels=['Tree', 'Dead', 'Car'])
    assert summary['sources']['a']['boxes'] == 5  # the Car box; the 0,0,0,0 row is none
    with pytest.raises(d2c.DeepForestError, match='--labels must be a non-empty list'):
        d2c.convert(str(data), str(out), tile=32, labels=[])
    with pytest.raises(SystemExit):
        d2c.main([str(data), str(out), '--labels', 'Tree,,Car'])
    assert '--labels: expected comma-separated class names' in capsys.readouterr().err
    d2c.main([str(data), str(out), '--tile', '32', '--labels', 'Tree,Dead, Car'])
    assert 'labels=Tree,Dead,Car' in (out / 'annotations' / 'instances_train.json').read_text()
