"""Train an FCN the way the paper did: solver.prototxt, weight transplant or
hand-off from the coarser net, bilinear interp surgery, seg tests on the
validation split every `--test-interval` iterations, snapshots, and resume.

    python solve.py voc-fcn8s            # trains voc-fcn32s and voc-fcn16s first if they are not done
    python solve.py voc-fcn32s --gpu 0
    python solve.py models/my-net --weights init.caffemodel --iters 2000

Outputs go to out/<net>/: the resolved solver, snapshots/train_iter_<N>.*, seg-test
predictions and a CSV log. A killed run resumes from its newest complete snapshot.
"""
import argparse
import csv
import glob
import os
import re
import sys
import time

from google.protobuf import text_format

from backend import caffe
import score
import surgery

ROOT = os.path.dirname(os.path.abspath(__file__))

# Short names users type for the VOC nets.
ALIASES = {'fcn32s': 'voc-fcn32s', 'fcn16s': 'voc-fcn16s', 'fcn8s': 'voc-fcn8s',
           'fcn8s-atonce': 'voc-fcn8s-atonce', 'fcn-alexnet': 'voc-fcn-alexnet'}

# Where each net's training starts: an ILSVRC classifier to transplant, or the coarser FCN it refines.
INIT = {
    'voc-fcn32s': ('classifier', 'vgg16'),
    'voc-fcn16s': ('net', 'voc-fcn32s'),
    'voc-fcn8s': ('net', 'voc-fcn16s'),
    'voc-fcn8s-atonce': ('classifier', 'vgg16'),
    'voc-fcn-alexnet': ('classifier', 'caffenet'),
    'voc-fcn-googlenet': ('classifier', 'googlenet'),
    'nyud-fcn32s-color': ('classifier', 'vgg16'),
    'nyud-fcn32s-hha': ('classifier', 'vgg16'),
    'nyud-fcn32s-color-d': ('classifier', 'vgg16'),
    'nyud-fcn32s-color-hha': ('classifier', 'vgg16'),
    'siftflow-fcn32s': ('classifier', 'vgg16'),
    'siftflow-fcn16s': ('net', 'siftflow-fcn32s'),
    'siftflow-fcn8s': ('net', 'siftflow-fcn16s'),
    'pascalcontext-fcn32s': ('classifier', 'vgg16'),
    'pascalcontext-fcn16s': ('net', 'pascalcontext-fcn32s'),
    'pascalcontext-fcn8s': ('net', 'pascalcontext-fcn16s'),
}

# The ids each family's val/test net reads, in its data layer's order (for seg tests and evaluate.py).
VAL_IDS = {'voc': 'data/pascal/seg11valid.txt', 'nyud': 'data/nyud/test.txt',
           'siftflow': 'data/sift-flow/test.txt',
           'pascalcontext': 'data/pascal/VOC2010/ImageSets/Main/val.txt',
           'shapes': 'data/shapes/generated/ImageSets/Segmentation/val.txt'}

# Blobs the seg tests read, (score, ground truth), where a family differs from ('score', 'label').
SEG_OUTPUTS = {'siftflow': ('score_sem', 'sem')}

SNAPSHOT_RE = re.compile(r'_iter_(\d+)\.solverstate$')


def net_dir(name):
    """models/<name> for a registered or aliased net, or an existing folder given as a path."""
    name = ALIASES.get(name, name)
    if os.path.isdir(name):
        return os.path.abspath(name)
    path = os.path.join(ROOT, 'models', name)
    if not os.path.isdir(path):
        sys.exit('no net %r: expected a folder models/%s with solver.prototxt' % (name, name))
    return path


def out_dir(name):
    return os.path.join(ROOT, 'out', os.path.basename(os.path.normpath(name)))


def resolve_solver(ndir, odir, iters=None):
    """Write out/<net>/solver.prototxt: absolute net paths, snapshot prefix in out/<net>/snapshots."""
    src = os.path.join(ndir, 'solver.prototxt')
    if not os.path.exists(src):
        sys.exit('%s has no solver.prototxt' % ndir)
    with open(src) as f:
        param = text_format.Parse(f.read(), caffe.proto.caffe_pb2.SolverParameter())
    for field in ('net', 'train_net'):
        if param.HasField(field):
            setattr(param, field, os.path.join(ndir, getattr(param, field)))
    paths = [os.path.join(ndir, p) for p in param.test_net]
    del param.test_net[:]
    param.test_net.extend(paths)
    os.makedirs(os.path.join(odir, 'snapshots'), exist_ok=True)
    param.snapshot_prefix = os.path.join(odir, 'snapshots', 'train')
    if iters is not None:
        param.max_iter = iters
    path = os.path.join(odir, 'solver.prototxt')
    with open(path, 'w') as f:
        f.write(text_format.MessageToString(param))
    return path, param


def model_of(state):
    """The caffemodel written with a solverstate: same prefix and iteration."""
    return state[:-len('.solverstate')] + '.caffemodel'


def latest_snapshot(odir):
    """(iteration, solverstate) of the newest snapshot whose caffemodel is also complete, or None."""
    best = None
    for state in glob.glob(os.path.join(odir, 'snapshots', '*_iter_*.solverstate')):
        m = SNAPSHOT_RE.search(state)
        model = model_of(state)
        if m and os.path.exists(model) and (best is None or int(m.group(1)) > best[0]):
            best = (int(m.group(1)), state)
    return best


def final_weights(name):
    """The trained weights of a net: the newest snapshot caffemodel in out/<net>/snapshots."""
    snap = latest_snapshot(out_dir(name))
    return None if snap is None else model_of(snap[1])


def weights_file(name, given=None):
    """The caffemodel to load: `given`, else weights/<name>.caffemodel from `make weights`; exits if missing."""
    path = given or os.path.join(ROOT, 'weights', '%s.caffemodel' % name)
    if not os.path.exists(path):
        sys.exit('missing weights %s: run `make weights` to download it, or give the file with --weights' % path)
    return path


def classifier_weights(name):
    """models/ilsvrc/<name>: its deploy prototxt and the downloaded caffemodel."""
    return os.path.join(ROOT, 'models', 'ilsvrc', name, 'deploy.prototxt'), weights_file(name)


def initialize(solver, name, weights=None):
    """Load initial weights (explicit file, transplanted classifier, or coarser net), then interp surgery."""
    if weights:
        solver.net.copy_from(weights)
    else:
        kind, source = INIT.get(name, (None, None))
        if kind == 'classifier':
            proto, path = classifier_weights(source)
            base = caffe.Net(proto, path, caffe.TEST)
            surgery.transplant(solver.net, base)
            del base
        elif kind == 'net':
            path = final_weights(source)
            if path is None:
                sys.exit('%s starts from trained %s weights; train it first (python solve.py %s)'
                         % (name, source, source))
            solver.net.copy_from(path)
        else:
            print('no initial weights for %s: training from the fillers' % name)
    interp = [k for k in solver.net.params if 'up' in k]
    surgery.interp(solver.net, interp)


def val_ids(name, override=None):
    path = override or VAL_IDS.get(name.split('-')[0])
    if path is None:
        return None
    path = path if os.path.isabs(path) else os.path.join(ROOT, path)
    if not os.path.exists(path):
        sys.exit('missing validation split %s (see data/README.md)' % path)
    return [line.split()[0] for line in open(path) if line.strip()]


class CSVLog:
    """out/<net>/log.csv: one row per seg test (iteration, loss, the four metrics, time)."""

    FIELDS = ['iteration', 'loss', 'overall_acc', 'mean_acc', 'mean_iu', 'fwavacc', 'seconds']

    def __init__(self, path):
        self.path = path
        self.start = time.time()
        if not os.path.exists(path):
            with open(path, 'w', newline='') as f:
                csv.writer(f).writerow(self.FIELDS)

    def write(self, iteration, loss, metrics):
        row = [iteration, loss] + [metrics[k] for k in self.FIELDS[2:6]] + [round(time.time() - self.start, 1)]
        with open(self.path, 'a', newline='') as f:
            csv.writer(f).writerow(row)


def seg_outputs(name):
    """(score blob, ground-truth blob) that seg tests compare for a net."""
    return SEG_OUTPUTS.get(name.split('-')[0], ('score', 'label'))


def train(name, weights=None, iters=None, test_interval=4000, val=None, gpu=None, resume=True, out=None,
          save_segs=False):
    """Train one net to max_iter; returns the path of its newest snapshot caffemodel.

    Outputs go to `out` (default out/<net>); a run finding snapshots there resumes from the newest.
    With save_segs, each seg test also writes its predictions as PNGs into out/segs-iter<N>/.
    """
    ndir = net_dir(name)
    name = os.path.basename(os.path.normpath(ndir))
    layer, gt = seg_outputs(name)
    odir = out or out_dir(name)
    if gpu is not None:
        caffe.set_device(gpu)
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()
    solver_path, param = resolve_solver(ndir, odir, iters)
    solver = caffe.get_solver(solver_path)
    snap = latest_snapshot(odir) if resume else None
    if snap:
        print('resuming %s from %s' % (name, snap[1]))
        solver.restore(snap[1])
    else:
        initialize(solver, name, weights)
    ids = val_ids(name, val)
    log = CSVLog(os.path.join(odir, 'log.csv'))
    while solver.iter < param.max_iter:
        solver.step(min(test_interval, param.max_iter - solver.iter))
        if ids and solver.test_nets:
            test_net = solver.test_nets[0]
            test_net.share_with(solver.net)
            save_dir = os.path.join(odir, 'segs-iter%d' % solver.iter) if save_segs else None
            hist, loss = score.compute_hist(test_net, save_dir, ids, layer=layer, gt=gt)
            metrics = score.compute_metrics(hist)
            score.print_seg_results(solver.iter, loss, metrics)
            log.write(solver.iter, loss, metrics)
    if not param.snapshot or solver.iter % param.snapshot:
        solver.snapshot()
    snap = latest_snapshot(odir)
    return model_of(snap[1])


def train_chain(name, **kwargs):
    """Train `name`, first training the coarser nets it starts from when their weights are missing."""
    name = ALIASES.get(name, name)
    kind, source = INIT.get(name, (None, None))
    if kind == 'net' and not kwargs.get('weights') and final_weights(source) is None:
        train_chain(source, **{k: v for k, v in kwargs.items() if k != 'weights'})
    return train(name, **kwargs)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('net', help='a net name (voc-fcn8s, fcn8s, ...) or a folder with solver.prototxt')
    ap.add_argument('--weights', help='initial caffemodel instead of the paper\'s initialization')
    ap.add_argument('--iters', type=int, help='override max_iter')
    ap.add_argument('--test-interval', type=int, default=4000, help='iterations between seg tests')
    ap.add_argument('--val', help='file of validation ids (default: the dataset\'s split)')
    ap.add_argument('--gpu', type=int, help='CUDA device id (CPU when omitted)')
    ap.add_argument('--no-resume', action='store_true', help='ignore existing snapshots')
    ap.add_argument('--no-chain', action='store_true', help='do not train the coarser nets first')
    ap.add_argument('--save-segs', action='store_true', help='write each seg test\'s predictions as PNGs')
    args = ap.parse_args(argv)
    os.chdir(ROOT)   # the prototxts' data paths are relative to the repository root
    run = train if args.no_chain else train_chain
    path = run(args.net, weights=args.weights, iters=args.iters, test_interval=args.test_interval,
               val=args.val, gpu=args.gpu, resume=not args.no_resume, save_segs=args.save_segs)
    print('weights: %s' % path)


if __name__ == '__main__':
    main()
