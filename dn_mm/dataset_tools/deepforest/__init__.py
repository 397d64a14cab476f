"""Convert the annotated NEON tree-crown demo images shipped inside the
``deepforest`` wheel (PyPI, ``deepforest==2.1.0``) into a tiled COCO dataset.

Usage::

    python tools/dataset_converters/deepforest_to_coco.py \
        DEEPFOREST_WHEEL_OR_DIR OUT_DIR [--tile 320] [--overlap 0] \
        [--val-ratio 0.25] [--seed 0] [--min-visible 0.5] [--labels Tree,Alive,Dead]

``DEEPFOREST_WHEEL_OR_DIR`` is either the downloaded ``deepforest-*.whl``
(read with :mod:`zipfile`, nothing is installed or imported) or a directory:
an extracted ``deepforest/data`` folder or a folder containing
``deepforest/data`` (e.g. an unzipped wheel).

The command line is ``tools/dataset_converters/deepforest_to_coco.py``
(:func:`main`); one module per job: :mod:`.source` reads the wheel,
:mod:`.annotations` checks and picks the boxes, :mod:`.tiling` cuts the tiles,
:mod:`.split` splits them, :mod:`.coco` writes the dataset. Bad input raises
:class:`DeepForestError` (the command line prints it and exits with 2).

The conversion uses only the standard library and Pillow (numpy lazily, only
for 16-bit/float rasters); no model code runs.

Annotations
    * CSV files with the DeepForest columns ``image_path,xmin,ymin,xmax,ymax``
      (``label`` optional), e.g. ``OSBS_029.csv``, ``example.csv``;
    * Pascal-VOC XML files (``<annotation><filename>..<object><bndbox>``),
      e.g. ``2019_YELL_2_528000_4978000_image_crop2.xml``.
    Every label named by ``--labels`` (default ``Tree,Alive,Dead``, the
    wheel's labels) becomes the single COCO category ``Tree`` (id 1).

Faults (rejected before anything is written)
    The converter rejects what ``tools/misc/verify_dataset.py`` reports in a
    converted dataset, naming each file and entry (``ann.csv:7``,
    ``d.xml: object 2``), all of them in one error: an empty or malformed
    annotation file, a malformed row or object, an unknown label, a box of
    zero size or outside its image, the same box twice, an annotated image
    that is missing or unreadable, two source images that give the same tile
    names. A CSV row ``0,0,0,0`` is DeepForest's mark of an image without
    trees, not a fault. A CSV without an ``image_path`` column (the wheel's
    ``classes.csv``) and XML other than Pascal-VOC are not annotation files.
    The deepforest 2.1.0 wheel converts with no fault.

Source images / de-duplication
    The wheel ships the same scene under several names and annotation files
    (``OSBS_029.tif`` == ``OSBS_029.png`` pixel for pixel; ``example.csv`` is
    an older 79-box subset of ``2019_YELL_2_541000_4977000_image_crop.xml``
    with 279 boxes).  Images are therefore grouped by file *stem* and, for
    each stem, the single annotation file with the most boxes is used (ties:
    annotation file name in sorted order); its referenced image is the
    raster that is tiled.  Annotation sets are never merged.

Tiling
    Tiles are ``tile`` x ``tile`` pixels with stride ``tile - overlap``; the
    last row/column of tiles is aligned to the right/bottom image border (so
    it may overlap its neighbour by more than ``overlap``).  An image
    dimension smaller than ``tile`` gets a single tile that is zero-padded
    (black) at the right/bottom, so every tile is exactly ``tile`` x ``tile``
    and the object scale is never changed.  Boxes are first clipped to the
    image, then to the tile; a box is kept when at least ``min_visible`` of
    its (image-clipped) area lies inside the tile and the clipped box is at
    least 1 px wide and high.  Tiles without boxes are dropped.  Tile files
    are named ``{stem}_{x}_{y}.jpg`` (x, y = pixel offset of the tile).

Split
    With >= 3 annotated source images the split is BY SOURCE IMAGE (no pixel
    of a val image is in train): the images are shuffled with
    ``random.Random(seed)`` and greedily moved to val while that brings the
    val share of tiles closer to ``val_ratio`` (train always keeps at least
    one image; val always gets at least one).  With fewer source images the
    split is BY TILE (seeded shuffle, ``round(val_ratio * n)`` val tiles, at
    least one per split); note that overlapping tiles may then share pixels.

Output (deterministic, idempotent, atomic)::

    OUT_DIR/train/*.jpg, OUT_DIR/val/*.jpg          (JPEG quality 95)
    OUT_DIR/annotations/instances_val.json
    OUT_DIR/annotations/instances_train.json        (written last)

Existing annotation files are deleted before any image is written, every
file is written to a temporary name and ``os.replace``-d, unchanged files are
not rewritten, and stale ``*.jpg`` files of a previous run in ``train/`` and
``val/`` are removed.  ``instances_train.json`` is the completion marker.
"""
from .cli import build_parser, format_summary, main
from .coco import percentile
from .convert import SPLIT_MODES, convert
from .errors import DeepForestError
from .split import split_sources, split_tiles
from .tiling import crop_tile, load_rgb, tile_boxes, tile_starts

__all__ = ['DeepForestError', 'SPLIT_MODES', 'build_parser', 'convert', 'crop_tile',
           'format_summary', 'load_rgb', 'main', 'percentile', 'split_sources', 'split_tiles',
           'tile_boxes', 'tile_starts']
