#!/usr/bin/env python
"""The paper's Tables 1, 2, 3, 5, 6, 7 beside our #params and Mult-Adds.

    python tools/analysis_tools/paper_tables.py [--tables 1 2 3 5 6 7] [--markdown]

Every row of the paper is mapped to the config of this repository that
reproduces it; the tool builds that config's model, counts it with
``complexity.count`` (conv + FC + SC-Module/SE FCs for one image, 224x224 for
ImageNet-100, 320x320 for SSDLite) and prints the paper's columns next to ours
with ours/paper ratios. ``#p ours`` is the model as built: the configs build
the paper's own networks (DN layers with ``form='paper'``, DenseNAS's ResNet,
FNA's SSDLite), so no convention is subtracted. Rows whose models are
identical (e.g. the same model at another learning rate) are counted once.
"""
import argparse
import os.path as osp
from typing import Dict, List

from .complexity import REPO_ROOT, count_config

MV2 = 'configs/mobilenet_v2/mobilenet-v2_{}_in100.py'
RES = 'configs/resnet/{}_in100.py'
SSD = 'configs/ssdlite/ssdlite-fna_mobilenetv2-{}_2xb64-30e_coco.py'

ACC3 = 'Train / Val / Test'


def table(title: str, setting: str, acc: str, config: str, rows: str,
          detection: bool = False) -> dict:
    """A paper table from its rows, one line each, columns separated by ``|``.

    Columns: module | r | g | setting | #params (M) | Mult-Adds (M) | accuracy |
    config (the ``{}`` of the ``config`` path template).
    """
    parsed = []
    for line in rows.strip().splitlines():
        module, r, g, value, params, madds, accuracy, name = (c.strip() for c in line.split('|'))
        parsed.append(dict(module=module, r=r, g=g, setting=value, params=float(params),
                           madds=float(madds), acc=accuracy, config=config.format(name)))
    spec = dict(title=title, setting=setting, acc=acc, rows=parsed)
    if detection:
        spec['detection'] = True
    return spec


# rows of several tables (MobileNetV2 at lr 0.2)
BN_MV2 = 'BN | # | # | 0.2 | 2.35 | 299.62 | 86.48 / 83.61 / 82.50 | bn_1xb64-240e'
DNB_16_1 = 'DN-B | 16 | 1 | 0.2 | 3.03 | 300.34 | 91.62 / 85.63 / 84.08 | dnb-r16-g1_1xb64-240e'
DNB_16_OUP = ('DN-B | 16 | oup | 0.2 | 4.36 | 301.66 | 90.86 / 85.57 / 84.74 | '
              'dnb-r16-goup_1xb64-240e')

TABLES: Dict[int, dict] = {
    1: table('Table 1. MobileNetV2 with different modules on ImageNet-100 '
             '(batch size 64, 240 epochs, lr 0.2)', 'Lr', ACC3, MV2, f"""
{BN_MV2}
DN-C1 | 16 | # | 0.1 | 3.03 | 301.02 | NAN / NAN / # | dnc1-r16-g1_1xb64-240e-lr0.1
DN-C2 | 16 | # | 0.1 | 3.03 | 301.05 | NAN / NAN / # | dnc2-r16-g1_1xb64-240e-lr0.1
{DNB_16_1}
{DNB_16_OUP}
"""),
    2: table('Table 2. MobileNetV2 with SE and DN-B on ImageNet-100 '
             '(batch size 64, 240 epochs)', 'Lr', ACC3, MV2, f"""
{BN_MV2}
SE | 16 | # | 0.2 | 3.73 | 300.98 | 89.96 / 83.90 / 82.00 | sebn-r16_1xb64-240e
{DNB_16_1}
{DNB_16_OUP}
"""),
    3: table('Table 3. ResNet-18 / ResNet-34 on ImageNet-100 (setting: lr for ResNet-18, '
             'batch size b and epochs for ResNet-34)', 'Lr / b', ACC3, RES, """
R18 BN   | #  | #   | lr 0.2       | 11.22 | 1730.12 | 94.57 / 85.89 / 85.00 | resnet18_bn_1xb64-240e
R18 BN   | #  | #   | lr 0.5       | 11.22 | 1730.12 | 93.35 / 86.07 / 84.64 | resnet18_bn_1xb64-240e-lr0.5
R18 BN   | #  | #   | lr 0.8       | 11.22 | 1730.12 | 88.61 / 84.75 / 82.88 | resnet18_bn_1xb64-240e-lr0.8
R18 DN-B | 4  | oup | lr 0.2       | 12.52 | 1731.43 | 94.19 / 85.58 / 84.36 | resnet18_dnb-r4-goup_1xb64-240e
R18 DN-B | 4  | oup | lr 0.5       | 12.52 | 1731.43 | 93.05 / 85.75 / 85.34 | resnet18_dnb-r4-goup_1xb64-240e-lr0.5
R18 DN-B | 16 | oup | lr 0.8       | 11.54 | 1730.45 | 92.56 / 85.85 / 84.78 | resnet18_dnb-r16-goup_1xb64-240e-lr0.8
R34 BN   | #  | #   | b 64, 240 ep | 21.33 | 3579.81 | 94.98 / 86.89 / 85.84 | resnet34_bn_1xb64-240e
R34 BN   | #  | #   | b 8, 120 ep  | 21.33 | 3579.81 | 83.76 / 83.51 / 82.32 | resnet34_bn_1xb8-120e
R34 BN   | #  | #   | b 4, 60 ep   | 21.33 | 3579.81 | 47.79 / 54.10 / 53.20 | resnet34_bn_1xb4-60e
R34 DN-B | 16 | oup | b 4, 60 ep   | 21.85 | 3580.35 | 75.14 / 78.41 / 77.10 | resnet34_dnb-r16-goup_1xb4-60e
R34 DN-B | 16 | oup | b 8, 120 ep  | 21.85 | 3580.35 | 84.86 / 84.65 / 83.50 | resnet34_dnb-r16-goup_1xb8-120e
R34 DN-B | 16 | oup | b 64, 240 ep | 21.85 | 3580.35 | 95.02 / 86.97 / 85.42 | resnet34_dnb-r16-goup_1xb64-240e
R34 DN-B | 32 | oup | b 64, 240 ep | 21.58 | 3580.08 | 95.17 / 86.72 / 85.96 | resnet34_dnb-r32-goup_1xb64-240e
"""),  # noqa: E501  (one line a row)
    5: table('Table 5. SSDLite (MobileNetV2) on MS-COCO (batch size 64 x 2 GPUs, '
             'input 320x320)', 'Epochs', 'mAP (%)', SSD, """
BN   | #  | #   | 30 | 4.32 | 810.0 | 15.3 | bn
DN-B | 16 | oup | 30 | 6.33 | 810.0 | 19.2 | dnb-r16-goup
""", detection=True),
    6: table('Table 6. The influence of r: MobileNetV2 DN-B on ImageNet-100 '
             '(batch size 64, lr 0.2, 240 epochs)', 'Lr', ACC3, MV2, f"""
DN-B | 8  | 1 | 0.2 | 3.72 | 301.02 | 91.20 / 85.30 / 84.26 | dnb-r8-g1_1xb64-240e
{DNB_16_1}
DN-B | 32 | 1 | 0.2 | 2.69 | 300.00 | 91.28 / 85.34 / 83.36 | dnb-r32-g1_1xb64-240e
"""),
    7: table('Table 7. The influence of g: MobileNetV2 DN-B on ImageNet-100 '
             '(batch size 64, lr 0.2, 240 epochs)', 'Lr', ACC3, MV2, f"""
{DNB_16_1}
DN-B | 16 | 2 | 0.2 | 3.07 | 300.37 | 90.81 / 84.08 / 82.42 | dnb-r16-g2_1xb64-240e
DN-B | 16 | 4 | 0.2 | 3.14 | 300.44 | 90.94 / 83.95 / 82.32 | dnb-r16-g4_1xb64-240e
{DNB_16_OUP}
"""),
}
# Table 5 gives MAdds as '0.81GB' (0.81G); it is stored above in millions.
NOTES = {
    3: "the networks are DenseNAS's ResNet-18/34 (3x3 stride-2 stem, no max-pool, stride-2 first "
       "stage with a 1x1 projection: dn_mm's DenseNASResNet); mmpretrain's standard ResNets "
       '(configs/resnet/resnet{18,34}-mmpretrain_*) count 11.23M / 1813.61M and 21.34M / 3663.30M.',
    5: "FNA's SSDLite (576-channel expansion tap, FNA's head and anchors). The paper gives "
       "MAdds as '0.81GB', i.e. 0.81G (two significant digits): ratios against 810M are "
       "approximate.",
}
TOLERANCE = 0.005


def off_notes(rows: List[dict]) -> List[str]:
    """Name the rows whose counts are beyond 0.5% of the paper's, with ours - paper."""
    notes = []
    for what, ratio_key, ours_key, paper_key in (
            ('#params', 'params_ratio', 'params', 'params'),
            ('Mult-Adds', 'madds_ratio', 'mult_adds', 'madds')):
        diffs = []
        for row in rows:
            if row['ours'] is None or abs(row[ratio_key] - 1) <= TOLERANCE:
                continue
            diff = row['ours'][ours_key] / 1e6 - row[paper_key]
            item = f"{row['module']} ({row['r']}, {row['g']}) {diff:+.2f}M"
            if item not in diffs:
                diffs.append(item)
        if diffs:
            notes.append(f'{what} beyond 0.5% of the paper (ours - paper): ' + '; '.join(diffs))
    return notes


def compute_tables(tables=(1, 2, 3, 5, 6, 7), root: str = REPO_ROOT) -> List[dict]:
    """One dict per table: ``number``, ``title``, ``rows`` (paper row + ours), ``notes``.

    Each row gets ``ours`` (the count dict, or None when the config is
    missing), ``params_ratio`` and ``madds_ratio`` (ours / paper). A table
    whose configs are all missing (Table 5 before the SSDLite configs exist)
    is returned with ``skipped`` set to a message.
    """
    out = []
    for number in tables:
        if number not in TABLES:
            raise ValueError(f'no table {number}; choose from {sorted(TABLES)}')
        spec = TABLES[number]
        rows = []
        notes = [NOTES[number]] if number in NOTES else []
        missing = [r['config'] for r in spec['rows'] if not osp.isfile(osp.join(root, r['config']))]
        if len(missing) == len(spec['rows']):
            out.append(dict(number=number, title=spec['title'], spec=spec, rows=[], notes=notes,
                            skipped=f'Table {number} skipped: config(s) not found: '
                            + ', '.join(missing)))
            continue
        for row in spec['rows']:
            path = osp.join(root, row['config'])
            row = dict(row)
            if osp.isfile(path):
                ours = count_config(path)
                row.update(ours=ours, params_ratio=ours['params'] / (row['params'] * 1e6),
                           madds_ratio=ours['mult_adds'] / (row['madds'] * 1e6))
            else:
                row.update(ours=None, params_ratio=None, madds_ratio=None)
                notes.append(f"config not found: {row['config']}")
            rows.append(row)
        notes = off_notes(rows) + notes
        out.append(dict(number=number, title=spec['title'], spec=spec, rows=rows, notes=notes,
                        skipped=None))
    return out


HEADER = ['Module', 'r', 'g', '{setting}', 'Paper {acc}', 'Config', '#p paper', '#p ours',
          'ratio', 'Mult-Adds paper', 'Mult-Adds ours', 'ratio']


def table_lines(table: dict, markdown: bool = False) -> List[str]:
    spec = table['spec']
    lines = [f"**{table['title']}**" if markdown else table['title']]
    if table['skipped']:
        lines.append(('> ' if markdown else '  ') + table['skipped'])
        return lines
    detection = spec.get('detection', False)
    header = [h.format(setting=spec['setting'], acc=spec['acc']) for h in HEADER]
    body = []
    for row in table['rows']:
        ours = row['ours']
        paper_madds = f"{row['madds'] / 1e3:.2f}G" if detection else f"{row['madds']:.2f}M"
        if ours is None:
            vals = ['missing', '-', '-', '-']
        else:
            our_madds = (f"{ours['mult_adds'] / 1e9:.3f}G" if detection
                         else f"{ours['mult_adds'] / 1e6:.2f}M")
            vals = [f"{ours['params'] / 1e6:.2f}M", f"{row['params_ratio']:.3f}", our_madds,
                    f"{row['madds_ratio']:.3f}"]
        config = osp.basename(row['config'])
        body.append([row['module'], row['r'], row['g'], row['setting'], row['acc'],
                     f'`{config}`' if markdown else config, f"{row['params']:.2f}M", vals[0],
                     vals[1], paper_madds, vals[2], vals[3]])
    if markdown:
        lines.append('')
        lines.append('| ' + ' | '.join(header) + ' |')
        lines.append('|' + '|'.join('---' for _ in header) + '|')
        lines.extend('| ' + ' | '.join(r) + ' |' for r in body)
        lines.append('')
    else:
        widths = [max(len(str(r[i])) for r in [header] + body) for i in range(len(header))]
        for r in [header] + body:
            lines.append('  '.join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    for note in table['notes']:
        lines.extend([f'*Note:* {note}', ''] if markdown else [f'Note: {note}'])
    return lines


def render(tables: List[dict], markdown: bool = False) -> str:
    blocks = ['\n'.join(table_lines(t, markdown)).rstrip() for t in tables]
    return '\n\n'.join(blocks)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--tables', type=int, nargs='+', default=[1, 2, 3, 5, 6, 7],
                        choices=sorted(TABLES), metavar='N',
                        help='tables to print, of 1 2 3 5 6 7 (default: all)')
    parser.add_argument('--markdown', action='store_true', help='print markdown tables')
    return parser.parse_args(argv)


def main(argv=None) -> List[dict]:
    args = parse_args(argv)
    tables = compute_tables(args.tables)
    print(render(tables, args.markdown))
    return tables


if __name__ == '__main__':
    main()
