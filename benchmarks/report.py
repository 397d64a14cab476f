"""The markdown report of benchmarks/run.py: targets with PASS / MISS, then the ratio tables."""
import os
import sys

from common import DNB_LABEL, SEBN_LABEL, device_description, load_average, versions

#: (model, setting (None: any), mode, metric, limit, what): DN-B (16,1) / BN, float32 rows;
#: compiled rows are DN-B compiled / BN compiled
TARGETS = [
    ('MobileNetV2', None, 'eager', 'train', 1.08, 'MobileNetV2 training step'),
    ('MobileNetV2', None, 'eager', 'infer', 1.15, 'MobileNetV2 inference'),
    ('MobileNetV2', None, 'eager', 'memory', 1.10, 'MobileNetV2 peak training memory'),
    ('MobileNetV2', None, 'compiled', 'train', 1.05, 'compiled MobileNetV2 training step'),
    ('MobileNetV2', None, 'compiled', 'infer', 1.10, 'compiled MobileNetV2 inference'),
    ('MobileNetV2-0.5', 'batch 8, 32x32', 'compiled', 'train', 1.05,
     'compiled MobileNetV2 0.5, 32x32, training step'),
    ('MobileNetV2-0.5', 'batch 8, 32x32', 'compiled', 'infer', 1.10,
     'compiled MobileNetV2 0.5, 32x32, inference'),
    ('MobileNetV2-0.5', 'batch 8, 32x32', 'eager', 'train', 1.30,
     'MobileNetV2 0.5, 32x32 (small maps), training step'),
    ('MobileNetV2-0.5', 'batch 64, 32x32', 'eager', 'train', 1.30,
     'MobileNetV2 0.5, 32x32 (small maps), training step'),
]


def ratio_table(title: str, header: list, body: list, text_columns: int = 3) -> list:
    """A markdown section: ``text_columns`` text columns, then right-aligned numbers."""
    return ([f'## {title}', '', '| ' + ' | '.join(header) + ' |',
             '|' + '---|' * text_columns + '---:|' * (len(header) - text_columns)]
            + ['| ' + ' | '.join(cells) + ' |' for cells in body])


def find_row(rows, model, setting, mode, metric):
    """The float32 row of a target, or None where it was not run."""
    return next((r for r in rows if r['model'] == model and r['mode'] == mode
                 and r['metric'] == metric and r['dtype'] == 'fp32'
                 and (setting is None or r['setting'] == setting)), None)


def _status(ok: bool) -> str:
    return 'PASS' if ok else 'MISS'


def render(args, device, layer_results, model_results, elapsed) -> str:
    lines = ['# DN-B at the cost of BN: benchmark', '',
             f'- device: {device_description(device)}',
             f'- {versions()}',
             '- mode: ' + ('quick (smaller layers and models: a smoke check)' if args.quick
                           else 'full') + '; '
             f'median of {args.reps} interleaved repetitions after warm-up; {elapsed:.0f} s',
             f'- command: `python benchmarks/run.py {" ".join(sys.argv[1:])}`'.rstrip(),
             f'- 1-min load average at start / end: {args.load_start} / {load_average()} '
             f'({os.cpu_count()} CPUs): other processes share the CPUs when above the threads used',
             '']

    # targets
    lines += ['## Targets (DN-B (16,1) / BN)', '',
              '| target | setting | measured | limit | status |', '|---|---|---:|---:|---|']
    for model, setting, mode, metric, limit, what in TARGETS:
        row = find_row(model_results, model, setting, mode, metric)
        if row is None:
            lines.append(f'| {what} | not run | - | <= {limit:.2f}x | n/a |')
            continue
        values = row['values']
        ratio = values[DNB_LABEL] / values['BN']
        spread = row.get('spread', {}).get(DNB_LABEL)
        measured = f'{ratio:.3f}x' + (' ({:.2f}-{:.2f})'.format(*spread) if spread else '')
        lines.append(f'| {what} ({device.type}) | {row["setting"]} | {measured} | '
                     f'<= {limit:.2f}x | {_status(ratio <= limit)} |')
    cheaper, misses = 0, []
    for row in layer_results:
        t = row['times']
        if t[DNB_LABEL] < t[SEBN_LABEL]:
            cheaper += 1
        else:
            misses.append(f'layer {row["shape"]} {row["mode"]} {row["dtype"]} '
                          f'({t[DNB_LABEL] / t[SEBN_LABEL]:.3f}x)')
    for row in model_results:
        v = row['values']
        memory_tie = row['metric'] == 'memory' and v[DNB_LABEL] == v[SEBN_LABEL]
        if v[DNB_LABEL] < v[SEBN_LABEL] or memory_tie:
            cheaper += 1
        else:
            misses.append(f'{row["model"]} {row["setting"]} {row["mode"]} {row["dtype"]} '
                          f'{row["metric"]} ({v[DNB_LABEL] / v[SEBN_LABEL]:.3f}x)')
    total = len(layer_results) + len(model_results)
    lines.append(f'| DN-B (16,1) cheaper than SE-BN (16), every row | all rows | '
                 f'{cheaper}/{total} rows | all | {_status(not misses and total > 0)} |')
    if misses:
        lines += ['', 'Rows where DN-B (16,1) is not cheaper than SE-BN (16) (DN-B / SE-BN): '
                  + '; '.join(misses) + '.', '',
                  "SE-BN here is dn_mm's SEBN: its excitation folds into the per-sample scale, "
                  'so it takes the same fused passes as DN-B, and the two differ only by their '
                  'small (N, C) graphs (DN-B: FC1, grouped FC2; SE: two FCs with bias, sigmoid).']
    lines.append('')

    if layer_results:
        names = list(layer_results[0]['times'])
        body = [[str(tuple(row['shape'])), row['mode'], row['dtype'],
                 f'{row["times"]["BN"] * 1e3:.2f}']
                + [f'{row["times"][k] / row["times"]["BN"]:.2f}x' for k in names[1:]]
                for row in layer_results]
        lines += ratio_table('Layers (time / BN time)',
                             ['shape (N, C, H, W)', 'mode', 'dtype', 'BN ms'] + names[1:], body)
        lines.append('')
    if model_results:
        names = list(model_results[0]['values'])
        body = []
        for row in model_results:
            v = row['values']
            base = (f'{v["BN"] / 2**20:.0f} MiB' if row['metric'] == 'memory'
                    else f'{v["BN"] * 1e3:.0f} ms')
            metric = {'train': 'training step', 'infer': 'inference',
                      'memory': 'peak training memory'}[row['metric']]
            spread = row.get('spread', {})
            body.append([row['model'], row['setting'], row['mode'], row['dtype'], metric, base] + [
                f'{v[k] / v["BN"]:.3f}x'
                + (' ({:.2f}-{:.2f})'.format(*spread[k]) if k in spread else '')
                for k in names[1:]])
        header = ['model', 'setting', 'mode', 'dtype', 'metric', 'BN'] + names[1:]
        lines += ratio_table('Models (ratio to BN of the same mode and dtype)', header, body,
                             text_columns=5)
        lines += ['', 'Time ratios are median / median; in brackets the quartiles of the ratios '
                  'of the same repetition (a measure of the noise of this machine).', '']
    return '\n'.join(lines)
