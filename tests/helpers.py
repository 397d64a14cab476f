"""What several test files share: running the tools, small data in the formats the tools read,
models as the paper builds them, layer set-ups. Fixtures live in conftest.py."""
import gzip
import hashlib
import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]  # the repository
#: the DN-B demo configs, which several files train on tiny data
CLS_DEMO = ROOT / 'configs/demo/mobilenet-v2_dnb-r16-goup_1xb32-10e_fmnist.py'
DET_DEMO = ROOT / 'configs/demo/ssdlite_mobilenetv2-dnb-r16-goup_1xb8-36e_deepforest.py'


# -- the tools, run as a user runs them --

def run_tool(*args, port=None, check=False, timeout=600):
    """Run ``args`` (a tool and its arguments) from the repository root, one thread.

    ``.py`` tools run with this interpreter; ``.sh`` scripts with bash and
    ``PYTHON`` set to it. ``port`` sets ``PORT`` for the distributed scripts.
    """
    args = [str(a) for a in args]
    if args[0].endswith('.py'):
        args = [sys.executable] + args
    elif args[0].endswith('.sh'):
        args = ['bash'] + args
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1')
    if port is not None:
        env['PORT'] = str(port)
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)
    if check:
        assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc


def detection_overrides(data: Path, backbone: Path):
    """``--cfg-options`` running a demo detection config on the COCO tree ``data``, 1 epoch."""
    ann = data / 'annotations'
    return ['--cfg-options', f'train_dataloader.dataset.data_root={data}',
            f'val_dataloader.dataset.data_root={data}', f'test_dataloader.dataset.data_root={data}',
            f'val_evaluator.ann_file={ann / "instances_val.json"}',
            f'test_evaluator.ann_file={ann / "instances_val.json"}',
            f'model.backbone.init_cfg.checkpoint={backbone}',
            'train_dataloader.batch_size=2', 'val_dataloader.batch_size=2',
            'test_dataloader.batch_size=2', 'train_cfg.max_epochs=1',
            'default_hooks.logger.interval=1']


def assert_png(path):
    """``path`` is a readable PNG, written atomically (no temporary file left beside it)."""
    assert os.path.isfile(path), path
    with Image.open(path) as im:
        assert im.format == 'PNG'
        assert im.size[0] > 0 and im.size[1] > 0
    leftovers = [f for f in os.listdir(os.path.dirname(path) or '.') if f.endswith('.tmp')]
    assert not leftovers, leftovers


# -- Fashion-MNIST idx files, made by the tests (the dataset tools and the norm study) --

FILES = ('train-images-idx3-ubyte', 'train-labels-idx1-ubyte',
         't10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte')


def idx_bytes(arr):
    arr = np.asarray(arr, dtype=np.uint8)
    return (struct.pack('>BBBB', 0, 0, 0x08, arr.ndim)
            + struct.pack(f'>{arr.ndim}I', *arr.shape) + arr.tobytes())


def write_idx(path, arr, gz=True):
    data = idx_bytes(arr)
    if gz:
        with gzip.GzipFile(path + '.gz', 'wb', mtime=0) as f:
            f.write(data)
    else:
        with open(path, 'wb') as f:
            f.write(data)


def make_split(n_per_class, seed, size=28):
    """Interleaved labels; image i is a constant gray 20*label + i % 7."""
    labels = np.array([k for _ in range(n_per_class) for k in range(10)],
                      dtype=np.uint8)
    np.random.default_rng(seed).shuffle(labels)
    values = 20 * labels.astype(int) + np.arange(len(labels)) % 7
    images = np.broadcast_to(values[:, None, None],
                             (len(labels), size, size)).astype(np.uint8)
    return images, labels





# -- an ImageNet input tree (what prepare_imagenet100.py reads) --

def _tiny_jpeg():
    buf = io.BytesIO()
    Image.new('RGB', (4, 4), (120, 30, 200)).save(buf, 'JPEG')
    return buf.getvalue()


TINY_JPEG = _tiny_jpeg()

# class -> (number of train images, number of val images)
IMAGENET_SPEC = {'n00000003': (10, 3), 'n00000001': (7, 2), 'n00000002': (5, 1)}
IMAGENET_CLASSES = ['n00000003', 'n00000001', 'n00000002']   # deliberately unsorted


def touch_image(path, data=TINY_JPEG):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'wb') as f:
        f.write(data)


def write_text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        f.write(text)


def make_imagenet_tree(root, spec=IMAGENET_SPEC, val_layout='folders', gt='txt'):
    """ImageNet-like input tree (train/, val/); flat val images are numbered like ILSVRC2012."""
    gt_rows = []
    k = 0
    for wnid, (n_train, n_val) in sorted(spec.items()):
        for i in range(n_train):
            touch_image(os.path.join(root, 'train', wnid, f'{wnid}_{i}.JPEG'))
        for i in range(n_val):
            if val_layout == 'folders':
                touch_image(os.path.join(root, 'val', wnid, f'val_{wnid}_{i}.JPEG'))
            else:
                k += 1
                name = f'ILSVRC2012_val_{k:08d}'
                touch_image(os.path.join(root, 'val', name + '.JPEG'))
                gt_rows.append((name, wnid))
    # a non-image file is ignored
    write_text(os.path.join(root, 'train', sorted(spec)[0], 'notes.txt'), 'x')
    if val_layout == 'flat' and gt == 'txt':
        write_text(os.path.join(root, 'val_gt.txt'), '# comment\n' + ''.join(
            f'{n}.JPEG {w}\n' for n, w in gt_rows))
    elif val_layout == 'flat' and gt == 'csv':
        write_text(os.path.join(root, 'LOC_val_solution.csv'),
               'ImageId,PredictionString\n' + ''.join(
                   f'{n},{w} 1 2 30 40 {w} 5 6 7 8\n' for n, w in gt_rows))
    return root


def classes_file(tmp_path, wnids, name='classes.txt'):
    path = tmp_path / name
    path.write_text('# header comment\n\n' + ''.join(w + '\n' for w in wnids))
    return str(path)


def read_meta(out):
    res = {}
    for k in ('train', 'val', 'test', 'classes'):
        with open(os.path.join(out, 'meta', f'{k}.txt'), 'rb') as f:
            res[k] = f.read()
    return res


def parse_meta(lines_bytes):
    """(path, label) rows of one meta/*.txt file."""
    rows = []
    for line in lines_bytes.decode().splitlines():
        path, label = line.rsplit(' ', 1)
        rows.append((path, int(label)))
    return rows





# -- a tiny ImageNet-style tree (the layout prepare_imagenet100.py writes) ----------------

def make_tiny_imagenet(root, classes=('n01', 'n02', 'n03'), per_split=2, size=40):
    """JPEGs in class folders and meta/{train,val,test}.txt, ``per_split`` images per class."""
    from PIL import Image
    rng = np.random.RandomState(0)
    meta = root / 'meta'
    meta.mkdir(parents=True, exist_ok=True)
    for split in ('train', 'val', 'test'):
        lines = []
        for label, wnid in enumerate(classes):
            (root / wnid).mkdir(exist_ok=True)
            for i in range(per_split):
                tint = np.array([[60, 120, 200], [200, 90, 40], [90, 200, 120]][label % 3])
                img = np.clip(tint + rng.randn(size, size, 3) * 40, 0, 255).astype(np.uint8)
                name = f'{wnid}/{split}_{i}.JPEG'
                Image.fromarray(img).save(root / name, quality=90)
                lines.append(f'{name} {label}\n')
        (meta / f'{split}.txt').write_text(''.join(lines))
    (meta / 'classes.txt').write_text(''.join(f'{c}\n' for c in classes))
    return root


def tiny_classifier_options(data, workers=0):
    """--cfg-options that run a demo classifier config on :func:`make_tiny_imagenet` data."""
    splits = ('train', 'val', 'test')
    return ['--cfg-options', f'data_root={data}',
            *[f'{s}_dataloader.dataset.data_root={data}' for s in splits],
            *[f'{s}_dataloader.dataset.ann_file=meta/{s}.txt' for s in splits],
            *[f'{s}_dataloader.batch_size=3' for s in splits],
            f'train_dataloader.num_workers={workers}',
            f'train_dataloader.persistent_workers={workers > 0}',
            'train_cfg.max_epochs=1', 'param_scheduler.T_max=1', 'model.head.num_classes=3',
            'model.head.topk=(1,)', 'data_preprocessor.num_classes=3', 'val_evaluator.topk=(1,)',
            'test_evaluator.topk=(1,)']


# -- a fake deepforest wheel (the detection demo data's source) --

METADATA = 'Metadata-Version: 2.4\nName: deepforest\nVersion: 9.9.9\n' \
           'License: MIT\n\nlong description License: GPL\n'


def noise_image(w, h, seed):
    """Smooth random RGB image (JPEG-friendly, but every region differs)."""
    rng = np.random.RandomState(seed)
    small = Image.fromarray(rng.randint(0, 256, (8, 8, 3), dtype=np.uint8))
    return small.resize((w, h), Image.BILINEAR)


def _csv(path, rows):
    lines = ['image_path,xmin,ymin,xmax,ymax,label']
    lines += [f'{r[0]},{r[1]},{r[2]},{r[3]},{r[4]},Tree' for r in rows]
    path.write_text('\n'.join(lines) + '\n')


def _voc(path, filename, w, h, boxes, name='Dead'):
    objs = ''.join(
        f'<object><name>{name}</name><bndbox><xmin>{b[0]}</xmin>'
        f'<ymin>{b[1]}</ymin><xmax>{b[2]}</xmax><ymax>{b[3]}</ymax>'
        '</bndbox></object>' for b in boxes)
    path.write_text(f'<annotation><filename>{filename}</filename><size>'
                    f'<width>{w}</width><height>{h}</height><depth>3</depth>'
                    f'</size>{objs}</annotation>')


def make_deepforest_data(root, n_sources=4):
    """A fake extracted deepforest wheel: root/deepforest/data + root/*.dist-info
    (tools/dataset_converters/deepforest_to_coco.py reads the real one)."""
    data = root / 'deepforest' / 'data'
    data.mkdir(parents=True)
    dist = root / 'deepforest-9.9.9.dist-info'
    dist.mkdir()
    (dist / 'METADATA').write_text(METADATA)
    (data / '__init__.py').write_text('')
    (data / 'classes.csv').write_text('Dead,0\nAlive,1\n')  # not annotations
    a = noise_image(96, 64, 1)
    a.save(data / 'a.png')
    a.save(data / 'a.tif')  # same scene twice (like OSBS_029.png/.tif)
    a_rows = [('a.png', 2, 2, 12, 14), ('a.png', 40, 5, 60, 20),
              ('a.png', 70, 40, 90, 60), ('a.png', 28, 30, 44, 44)]
    rows = list(a_rows)
    if n_sources >= 2:
        noise_image(64, 64, 2).save(data / 'b.jpg', quality=95)
        rows += [('b.jpg', 5, 5, 20, 25), ('b.jpg', 40.5, 36, 60.5, 50)]
    rows += [('a.png', 0, 0, 0, 0)]  # DeepForest's empty-image row: no box, no fault
    _csv(data / 'ann.csv', rows)
    _csv(data / 'old.csv', [('a.tif', 2, 2, 12, 14)])  # smaller duplicate set
    if n_sources >= 3:
        noise_image(80, 40, 3).save(data / 'c.png')
        _csv(data / 'c.csv', [('c.png', 10, 10, 30, 30),
                              ('c.png', 50, 5, 75, 35)])
    if n_sources >= 4:
        noise_image(20, 50, 4).save(data / 'd.png')  # narrower than a tile
        _voc(data / 'd.xml', 'd.png', 20, 50, [(2, 3, 18, 20), (1, 30, 15,
                                                                 48)])
    noise_image(30, 30, 5).save(data / 'unannotated.png')  # like the wheel's SOAP_031.png
    return root


def tree_digest(out):
    """{relative path: sha256} of every file under ``out``: what a converter left there."""
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(Path(out).rglob('*')) if p.is_file()}


def make_deepforest_wheel(root, path):
    with zipfile.ZipFile(path, 'w') as zf:
        for p in sorted(root.rglob('*')):
            if p.is_file():
                zf.write(p, p.relative_to(root).as_posix())
    return path


# -- OpenMMLab models as the paper builds them (several test files) --

class scoped_models:
    """Build with mmpretrain's or mmdet's registry, whatever scope another test left set."""

    def __init__(self, scope):
        self.scope = scope

    def build(self, cfg):
        import dn_mm
        return dn_mm.build_model(cfg, self.scope)


def pretrain_models():
    return scoped_models('mmpretrain')


def classifier(arch, norm_cfg, num_classes=100):
    """mmpretrain's own backbone + a 100-class linear head (the paper's models)."""
    if arch == 'mbv2':
        backbone, width = dict(type='MobileNetV2', widen_factor=1.0, norm_cfg=norm_cfg), 1280
    else:
        depth = int(arch[6:])
        backbone, width = dict(type='ResNet', depth=depth, norm_cfg=norm_cfg), 512
    return pretrain_models().build(dict(
        type='ImageClassifier', backbone=backbone, neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=width)))


def n_params(model):
    return sum(p.numel() for p in model.parameters())


class CodeRunningPickle:
    """Unpickling it runs ``touch marker``: what safe checkpoint loading must refuse."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


# -- layers and detection data several test files set up --

def make_layer(cls, c, r, g, affine, fuse, seed, **options):
    """``options``: DN's form, sc_input, bound (SE-BN has none)."""
    from dn_mm import DNB, DNC, SEBN
    if options.get('form') == 'paper':
        affine = None
    layer = {DNB: lambda: DNB(c, r=r, g=g, affine=affine, **options),
             DNC: lambda: DNC(c, r=r, g=g, affine=affine, fuse=fuse, **options),
             SEBN: lambda: SEBN(c, r=r, affine=bool(affine))}[cls]()
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            offset = 1.0 if p is layer.norm.weight else 0.0
            p.copy_(torch.randn(p.shape, generator=gen) * 0.3 + offset)
        layer.norm.running_mean.copy_(torch.randn(c, generator=gen))
        layer.norm.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
    return layer


def randomize_sc(layer, scale=0.3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * scale
                    + (1.0 if p is layer.norm.weight else 0))
        if layer.norm.running_mean is not None:
            layer.norm.running_mean.copy_(torch.randn(layer.num_features, generator=gen))
            layer.norm.running_var.copy_(torch.rand(layer.num_features, generator=gen) + 0.5)
    return layer


def make_tiny_coco(root: Path, n_train=4, n_val=2, size=160):
    """Dark-green 'crowns' on a brown field, with their boxes, in COCO format."""
    gen = torch.Generator().manual_seed(0)
    for split, n in (('train', n_train), ('val', n_val)):
        (root / split).mkdir(parents=True)
        images, anns = [], []
        for i in range(n):
            img = Image.new('RGB', (size, size), (120, 90, 60))
            draw = ImageDraw.Draw(img)
            for j in range(3):
                x, y = (torch.randint(0, size - 40, (2, ), generator=gen)).tolist()
                w, h = (torch.randint(15, 40, (2, ), generator=gen)).tolist()
                draw.ellipse([x, y, x + w, y + h], fill=(20, 110 + 10 * j, 30))
                anns.append(dict(id=len(anns) + 1, image_id=i + 1, category_id=1,
                                 bbox=[x, y, w, h], area=w * h, iscrowd=0))
            img.save(root / split / f'{i}.jpg')
            images.append(dict(id=i + 1, file_name=f'{i}.jpg', width=size, height=size))
        (root / 'annotations').mkdir(exist_ok=True)
        (root / 'annotations' / f'instances_{split}.json').write_text(json.dumps(
            dict(images=images, annotations=anns, categories=[dict(id=1, name='Tree')])))


def backbone_checkpoint(path: Path, norm_cfg):
    import dn_mm
    backbone = dn_mm.build_model(dict(type='MobileNetV2', out_indices=(4, 7), norm_cfg=norm_cfg),
                                 'mmpretrain')  # whatever scope an earlier test left set
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in backbone.state_dict().items()},
                'meta': {}}, path)


def make_tiny_png_set(root: Path, n_train=16, n_val=4, size=32):
    """PNGs of 10 classes in img/ with meta/{train,val}.txt (mmpretrain's CustomDataset lists)."""
    gen = torch.Generator().manual_seed(0)
    (root / 'img').mkdir(parents=True)
    (root / 'meta').mkdir()
    for split, n in (('train', n_train), ('val', n_val)):
        lines = []
        for i in range(n):
            label = i % 10
            pixels = (torch.rand(size, size, 3, generator=gen) * 60 + 20 * label).byte()
            Image.fromarray(pixels.numpy()).save(root / 'img' / f'{split}{i}.png')
            lines.append(f'img/{split}{i}.png {label}')
        (root / 'meta' / f'{split}.txt').write_text('\n'.join(lines) + '\n')
