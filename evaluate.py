"""Score a net's weights on its benchmark split and print the published number beside ours.

    python evaluate.py voc-fcn8s                        # weights/voc-fcn8s.caffemodel on seg11valid
    python evaluate.py voc-fcn32s --weights out/voc-fcn32s/snapshots/train_iter_100000.caffemodel
    python evaluate.py voc-fcn8s --limit 50 --gpu 0     # a quick look at the first 50 images

The net's val (or test) prototxt reads the split through its own data layer,
so the datasets must be in data/ (see data/download.py).
"""
import argparse
import os
import sys

from backend import caffe
import score
import solve

# Published results: (metric, value in percent, split) per net, from the paper and the release.
PUBLISHED = {
    'voc-fcn32s': ('mean_iu', 63.6, 'VOC2011 seg11valid'),
    'voc-fcn16s': ('mean_iu', 65.0, 'VOC2011 seg11valid'),
    'voc-fcn8s': ('mean_iu', 65.5, 'VOC2011 seg11valid'),
    'voc-fcn8s-atonce': ('mean_iu', 65.4, 'VOC2011 seg11valid'),
    'voc-fcn-alexnet': ('mean_iu', 48.0, 'VOC2011 seg11valid'),
    'siftflow-fcn16s': ('mean_iu', 39.5, 'SIFT Flow test'),
}

def val_prototxt(ndir):
    for name in ('val.prototxt', 'test.prototxt'):
        path = os.path.join(ndir, name)
        if os.path.exists(path):
            return path
    raise SystemExit('%s has no val.prototxt or test.prototxt' % ndir)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('net', help='a net name (voc-fcn8s, fcn8s, ...)')
    ap.add_argument('--weights', help='caffemodel (default weights/<net>.caffemodel)')
    ap.add_argument('--val', help='file of ids (default: the dataset\'s benchmark split)')
    ap.add_argument('--limit', type=int, help='score only the first N images')
    ap.add_argument('--save', help='folder for the predicted label PNGs')
    ap.add_argument('--gpu', type=int, help='CUDA device id (CPU when omitted)')
    args = ap.parse_args(argv)
    ndir = solve.net_dir(args.net)
    name = os.path.basename(ndir)
    weights = solve.weights_file(name, args.weights)
    if args.gpu is not None:
        caffe.set_device(args.gpu)
        caffe.set_mode_gpu()
    ids = solve.val_ids(name, args.val)
    if args.limit:
        ids = ids[:args.limit]
    os.chdir(solve.ROOT)   # the prototxts' data paths are relative to the repository root
    net = caffe.Net(val_prototxt(ndir), caffe.TEST, weights=weights)
    layer, gt = solve.seg_outputs(name)
    hist, loss = score.compute_hist(net, args.save, ids, layer=layer, gt=gt)
    metrics = score.compute_metrics(hist)
    print('%s on %d images with %s' % (name, len(ids), weights))
    print(score.format_report(metrics))
    if name in PUBLISHED:
        key, value, split = PUBLISHED[name]
        partial = ' (a subset: compare on the full split)' if args.limit else ''
        print('published %s %.1f on %s | measured %.1f%s'
              % (key.replace('_', ' '), value, split, 100 * metrics[key], partial))
    return 0


if __name__ == '__main__':
    sys.exit(main())
