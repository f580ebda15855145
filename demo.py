"""A real learning run on the CPU, end to end: generate the shapes dataset, train a slim FCN-8s
from scratch with solve.py, score it on held-out images and segment one of them.

    python demo.py              # the full run (make demo): about 8 minutes on 2 CPU cores
    python demo.py --quick      # a few iterations on a tiny dataset, to check the pipeline
    python demo.py --fresh      # retrain from scratch instead of resuming from snapshots

The dataset is data/shapes (classes.txt, make_shapes.py; generated into
data/shapes/generated unless it is there already) and the net is
models/shapes-fcn8s (see its README.md).  Training goes through solve.train,
so it writes out/shapes-fcn8s/ as for any net (resolved solver, snapshots,
log.csv of the seg tests) and resumes from the newest snapshot when run
again.  The trained net then scores the held-out split and segments its first
image into out/shapes-fcn8s/demo/ (label PNG and overlay).  The last line
printed is `mean IU <fraction>` on the held-out split.
"""
import argparse
import glob
import importlib.util
import os
import shutil
import sys
import time

ROOT = os.path.dirname(os.path.abspath(__file__))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from PIL import Image  # noqa: E402

from backend import caffe  # noqa: E402
import infer  # noqa: E402
import score  # noqa: E402
import solve  # noqa: E402
import vis  # noqa: E402

NAME = 'shapes-fcn8s'
NET_DIR = os.path.join(ROOT, 'models', NAME)
DEFAULT_DATA = os.path.join(ROOT, 'data', 'shapes', 'generated')


def _load(name, path):
    """Import a module from a file (data/shapes and models/<net> are not packages)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


shapes = _load('make_shapes', os.path.join(ROOT, 'data', 'shapes', 'make_shapes.py'))
netdef = _load('fcn_net_shapes_fcn8s', os.path.join(NET_DIR, 'net.py'))

# Dataset and schedule of the full run and of --quick.
FULL = dict(train=400, val=50, size=320, test_interval=500)
QUICK = dict(train=6, val=3, size=48, iters=4, test_interval=2)


def prepare_net(data_dir, odir):
    """The net folder to train: models/shapes-fcn8s itself for the default dataset, else a copy
    of it in <odir>/net whose data layers read `data_dir`."""
    if os.path.realpath(data_dir) == os.path.realpath(DEFAULT_DATA):
        return NET_DIR
    ndir = os.path.join(odir, 'net', NAME)
    os.makedirs(ndir, exist_ok=True)
    netdef.make_net(ndir, data_dir=os.path.abspath(data_dir))
    shutil.copy(os.path.join(NET_DIR, 'solver.prototxt'), ndir)
    return ndir


def clear_run(odir):
    """Forget a previous run: its snapshots, seg-test predictions, log and demo outputs."""
    for path in [os.path.join(odir, p) for p in ('snapshots', 'demo', 'log.csv')] + \
            glob.glob(os.path.join(odir, 'segs-iter*')):
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.remove(path)


def read_ids(data_dir, split):
    with open(os.path.join(data_dir, 'ImageSets', 'Segmentation', split + '.txt')) as f:
        return [line.strip() for line in f if line.strip()]


def evaluate(ndir, weights, ids):
    """Confusion histogram of the trained net over the held-out split (val.prototxt, in order)."""
    net = caffe.Net(os.path.join(ndir, 'val.prototxt'), caffe.TEST, weights=weights)
    hist, loss = score.compute_hist(net, None, ids)
    return hist, loss


def segment_one(ndir, weights, data_dir, image_id, dest):
    """Segment one held-out image with the deploy net; write <id>.png and <id>_overlay.jpg."""
    net = caffe.Net(os.path.join(ndir, 'deploy.prototxt'), caffe.TEST, weights=weights)
    rgb = infer.load_rgb(os.path.join(data_dir, 'JPEGImages', image_id + '.jpg'))
    label = infer.segment(net, rgb)
    os.makedirs(dest, exist_ok=True)
    png = os.path.join(dest, image_id + '.png')
    vis.save_label_png(png, label)
    Image.fromarray(vis.overlay(rgb, label)).save(os.path.join(dest, image_id + '_overlay.jpg'),
                                                  quality=92)
    gt = vis.read_label_png(os.path.join(data_dir, 'SegmentationClass', image_id + '.png'))
    valid = gt != 255
    return png, float((label[valid] == gt[valid]).mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--iters', type=int, help='training iterations (default: max_iter of the solver)')
    ap.add_argument('--quick', action='store_true',
                    help='a tiny dataset and %d iterations: checks the pipeline, learns nothing'
                    % QUICK['iters'])
    ap.add_argument('--fresh', action='store_true', help='ignore and remove earlier snapshots of this run')
    ap.add_argument('--data-dir', help='dataset folder (default data/shapes/generated; '
                    'out/shapes-fcn8s-quick/data with --quick)')
    ap.add_argument('--out-dir', help='outputs (default out/shapes-fcn8s, or out/shapes-fcn8s-quick)')
    ap.add_argument('--test-interval', type=int, help='iterations between seg tests during training')
    ap.add_argument('--threads', type=int, default=1,
                    help='CPU threads for torch (default 1: on 2 idle cores a second thread trains about '
                    '1.4x faster, but several times slower when another process is using the cores)')
    ap.add_argument('--gpu', type=int, help='CUDA device id (CPU when omitted)')
    args = ap.parse_args(argv)
    solve.log_to_stdout()

    cfg = dict(QUICK if args.quick else FULL)
    odir = os.path.abspath(args.out_dir or os.path.join(ROOT, 'out', NAME + ('-quick' if args.quick else '')))
    data_dir = os.path.abspath(args.data_dir or (os.path.join(odir, 'data') if args.quick else DEFAULT_DATA))
    iters = args.iters if args.iters is not None else cfg.get('iters')
    test_interval = args.test_interval or cfg['test_interval']
    if args.threads and getattr(caffe, '__name__', '') == 'torchcaffe':
        import torch
        torch.set_num_threads(args.threads)
    os.chdir(ROOT)   # as solve.py: the committed prototxts' data paths are relative to the repository root
    t0 = time.time()

    # 1. data
    if shapes.is_complete(data_dir, cfg['train'], cfg['val'], cfg['size']):
        print('dataset: %s (already generated)' % data_dir)
    else:
        shapes.generate(data_dir, cfg['train'], cfg['val'], cfg['size'])
    t_data = time.time() - t0

    # 2. train with the project's solve path
    os.makedirs(odir, exist_ok=True)
    if args.fresh:
        clear_run(odir)
    ndir = prepare_net(data_dir, odir)
    val_list = os.path.join(data_dir, 'ImageSets', 'Segmentation', 'val.txt')
    weights = solve.train(ndir, iters=iters, test_interval=test_interval, val=val_list, gpu=args.gpu,
                          resume=not args.fresh, out=odir)
    iteration = solve.latest_snapshot(odir)[0]
    t_train = time.time() - t0 - t_data

    # 3. score the held-out split with the trained weights
    ids = read_ids(data_dir, 'val')
    hist, loss = evaluate(ndir, weights, ids)
    metrics = score.compute_metrics(hist)

    # 4. segment one held-out image with the deploy net, as infer.py does
    png, acc = segment_one(ndir, weights, data_dir, ids[0], os.path.join(odir, 'demo'))
    t_total = time.time() - t0

    print()
    print('%s after %d iterations (%s)' % (NAME, iteration, weights))
    print('held-out split: %d images of %s, loss %.4f' % (len(ids), data_dir, loss))
    print(score.format_report(metrics, shapes.class_names()))
    print('segmented held-out image %s: %s (pixel accuracy %.2f%%)' % (ids[0], png, 100 * acc))
    print('time: data %.0f s, training %.0f s, total %.0f s' % (t_data, t_train, t_total))
    print('mean IU %.4f' % metrics['mean_iu'])
    return 0


if __name__ == '__main__':
    sys.exit(main())
