"""Tiles equal the whole on the VGG16 nets (issue 20): voc-fcn32s and voc-fcn8s with He-scaled random
weights and bilinear upsampling (so the labels vary), a photo segmented whole and in tiles, the
stitched scores against the whole-image ones, and the seconds per megapixel of both (the tiles'
overlap is their overhead).  Too slow for `make test` on a CPU (tens of seconds a pass); the suite
checks the same on a net of FCN-8s's geometry with 4-channel layers (tests/test_infer_tiles.py).

    python -m benchmarks.tiles                                   # 1500x1125, tiles of 512
    python -m benchmarks.tiles --nets voc-fcn32s --size 1000x750 --tiles 512 333
"""
import argparse
import os
import time

import numpy as np
from PIL import Image

import surgery
from backend import caffe
from benchmarks.measure import ROOT
from fcn import inference
from models import records

PHOTO = os.path.join(ROOT, 'tests', 'data', 'voc-2007_000129.jpg')


def he_weights(deploy, path, seed=0):
    """Convolutions N(0, 2 / fan_in), biases N(0, 0.1^2), upsampling bilinear (surgery.interp)."""
    net = caffe.Net(deploy, caffe.TEST)
    rng = np.random.default_rng(seed)
    ups = surgery.deconv_layers(net)
    for name, params in net.params.items():
        if name not in ups:
            w = params[0].data
            w[...] = rng.standard_normal(w.shape, dtype=np.float32) * np.float32(np.sqrt(2 / np.prod(w.shape[1:])))
            for p in params[1:]:
                p.data[...] = rng.standard_normal(p.data.shape, dtype=np.float32) * np.float32(0.1)
    surgery.interp(net, ups)
    net.save(path)
    return path


def photo(height, width):
    base = np.asarray(Image.open(PHOTO).convert('RGB').resize((width, height), Image.BILINEAR)).astype(np.int16)
    noise = np.random.default_rng(0).integers(-20, 21, base.shape)
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def compare(net, size, tiles, tmp):
    rec = records.get(net)
    seg = inference.Segmenter(rec, he_weights(rec.deploy, os.path.join(tmp, net + '.caffemodel')), 64 << 30)
    h, w = size
    arrays = {'color': photo(h, w)}
    start = time.perf_counter()
    whole = seg.forward_scores(arrays)[0].copy()
    whole_s = time.perf_counter() - start
    seg.release()
    rows = []
    for kept in tiles:
        out = np.empty_like(whole)
        start = time.perf_counter()
        n = 0
        for (y0, y1), (x0, x1), scores in seg.tiles(arrays, inference.Plan('tiles', size, 0, kept)):
            out[:, y0:y1, x0:x1] = scores[0]
            n += 1
        tiled_s = time.perf_counter() - start
        rel = float(np.abs(out - whole).max() / np.abs(whole).max())
        agree = float((out.argmax(0) == whole.argmax(0)).mean())
        rows.append((net, '%dx%d' % (w, h), kept, n, len(np.unique(whole.argmax(0))), rel, 100 * agree,
                     whole_s / (h * w / 1e6), tiled_s / (h * w / 1e6)))
    return rows


def main(argv=None):
    import tempfile
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--nets', nargs='+', default=['voc-fcn32s', 'voc-fcn8s'])
    ap.add_argument('--size', default='1500x1125', help='WIDTHxHEIGHT')
    ap.add_argument('--tiles', nargs='+', type=int, default=[512])
    args = ap.parse_args(argv)
    w, h = map(int, args.size.split('x'))
    print('| net | photo | tile | tiles | labels seen | max rel. difference | labels agree | whole s/Mpx | tiled s/Mpx |')
    print('|---|---|---|---|---|---|---|---|---|')
    with tempfile.TemporaryDirectory() as tmp:
        for net in args.nets:
            for r in compare(net, (h, w), args.tiles, tmp):
                print('| %s | %s | %d | %d | %d | %.1e | %.4f%% | %.1f | %.1f |' % r, flush=True)


if __name__ == '__main__':
    main()
