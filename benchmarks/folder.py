"""infer.py on a folder of photos: images per second beside the bare forward time, and the share of
the time not spent in the net (decoding, the argmax, writing the label PNG and the overlay JPEG),
which infer.py's pipeline overlaps with the passes (issue 20).

    python -m benchmarks.folder                      # voc-fcn8s, 500x375, faithful and fast, CPU
    python -m benchmarks.folder --images 20 --reps 5
    python -m benchmarks.bench --only folder         # the same, into BENCHMARKS.md

Each mode runs in a process of its own: the bare forward (Segmenter.forward_scores at 500x375, the
median of --reps passes after one warm-up), then infer.py over a folder of --images JPEGs of that
size (after one warm-up image), timed from its start to its last file written.  The weights are
weights/voc-fcn8s.caffemodel when present, else random (the time does not depend on them).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.measure import ROOT

TITLE = '## infer.py on a folder of photos'
PHOTO = os.path.join(ROOT, 'tests', 'data', 'voc-2007_000129.jpg')


def _photos(folder, n, size=(375, 500)):
    from PIL import Image
    base = np.asarray(Image.open(PHOTO).convert('RGB').resize(size[::-1], Image.BILINEAR)).astype(np.int16)
    rng = np.random.default_rng(0)
    for i in range(n):
        noisy = np.clip(base + rng.integers(-30, 31, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(noisy).save(os.path.join(folder, 'photo_%03d.jpg' % i), quality=90)


def _weights(net, folder):
    from fcn import weights as fw
    from models import records
    rec = records.get(net)
    try:
        return fw.locate(rec.name, None)
    except Exception:     # no published weights here: random ones (benchmarks.tiles), saved once
        from benchmarks.tiles import he_weights
        return he_weights(rec.deploy, os.path.join(folder, net + '.caffemodel'))


def run_one(net, mode, images, reps):
    """The child: {'forward_s', 'wall_s', 'images'} for one mode."""
    import infer
    from fcn import cli, inference
    from models import records
    with tempfile.TemporaryDirectory() as tmp:
        photos = os.path.join(tmp, 'photos')
        os.makedirs(photos)
        _photos(photos, images + 1)
        weights = _weights(net, tmp)
        if mode == 'fast':
            cli.fast_mode()
        seg = inference.Segmenter(records.get(net), weights, 8 << 30)
        rgb = np.asarray(__import__('PIL.Image', fromlist=['Image']).open(os.path.join(photos, 'photo_000.jpg')))
        times = []
        for _ in range(reps + 1):
            start = time.perf_counter()
            seg.forward_scores({'color': rgb})[0].argmax(0)
            times.append(time.perf_counter() - start)
        seg.release()
        del seg
        flags = ['--net', net, '--weights', weights, '--max-memory', '8G'] + (['--fast'] if mode == 'fast' else [])
        warm = os.path.join(tmp, 'warm')
        os.makedirs(warm)
        os.rename(os.path.join(photos, 'photo_000.jpg'), os.path.join(warm, 'photo_000.jpg'))
        infer.main([warm, '--out', os.path.join(tmp, 'out-warm')] + flags)
        start = time.perf_counter()
        infer.main([photos, '--out', os.path.join(tmp, 'out')] + flags)
        wall = time.perf_counter() - start
    return {'forward_s': statistics.median(times[1:]), 'wall_s': wall, 'images': images}


def measure(nets=('voc-fcn8s',), modes=('faithful', 'fast'), images=6, reps=3):
    rows = {}
    for net in nets:
        for mode in modes:
            print('%s %s: infer.py on %d photos ...' % (net, mode, images), flush=True)
            cmd = [sys.executable, '-m', 'benchmarks.folder', '--one', net, mode, '--images', str(images),
                   '--reps', str(reps)]
            p = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True, text=True)
            lines = [line for line in p.stdout.splitlines() if line.startswith('RESULT ')]
            if not lines:
                raise RuntimeError('%s %s failed:\n%s' % (net, mode, p.stderr[-3000:]))
            rows[(net, mode)] = json.loads(lines[-1][len('RESULT '):])
    return rows


def section(rows, images, reps):
    lines = [TITLE, '',
             'infer.py over a folder of %d JPEG photos of 500x375 (label PNG and overlay JPEG written for each), '
             'on the CPU, after one warm-up image, against the bare forward of the same deploy net (median of %d '
             'passes, the argmax included). infer.py decodes the next photo and writes the last one\'s outputs '
             'while a pass runs; "not in the net" is 1 - images x forward / wall time (target: under 10%% on the '
             'CPU).' % (images, reps), '',
             '| net | mode | forward s | infer.py s per image | images/s | bare forward images/s | not in the net |',
             '|---|---|---|---|---|---|---|']
    for (net, mode), r in rows.items():
        per = r['wall_s'] / r['images']
        lines.append('| %s | %s | %.3f | %.3f | %.3f | %.3f | %.1f%% |'
                     % (net, mode, r['forward_s'], per, 1 / per, 1 / r['forward_s'],
                        100 * (1 - r['forward_s'] / per)))
    return '\n'.join(lines) + '\n'


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--nets', nargs='+', default=['voc-fcn8s'])
    ap.add_argument('--modes', nargs='+', default=['faithful', 'fast'], choices=['faithful', 'fast'])
    ap.add_argument('--images', type=int, default=6)
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--one', nargs=2, metavar=('NET', 'MODE'), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        return print('RESULT ' + json.dumps(run_one(*args.one, args.images, args.reps)))
    print(section(measure(args.nets, args.modes, args.images, args.reps), args.images, args.reps))


if __name__ == '__main__':
    main()
