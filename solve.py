"""Train an FCN the way the paper did: solver.prototxt, weight transplant or
hand-off from the coarser net, bilinear interp surgery, seg tests on the
validation split every `--test-interval` iterations, snapshots, and resume.

    python solve.py voc-fcn8s            # trains voc-fcn32s and voc-fcn16s first if they are not done
    python solve.py voc-fcn32s --gpu 0
    python solve.py models/my-net --weights init.caffemodel --iters 2000
    torchrun --standalone --nproc_per_node=8 solve.py voc-fcn8s --gpu 0   # 8 GPUs, data-parallel

Outputs go to out/<net>/: the resolved solver, snapshots/train_iter_<N>.*, seg-test
predictions, a CSV log and its learning-curve plot. A killed run resumes from
its newest complete snapshot, its data layers continuing where they were.
Under torchrun every rank trains on its own shard of the data and the diffs
are summed before each update (see torchcaffe/distributed.py); rank 0 tests,
logs and snapshots.
"""
import argparse
import csv
import glob
import logging
import os
import re
import sys
import time

from google.protobuf import text_format
from tqdm import tqdm

from torchcaffe import distributed          # torchrun data parallelism (torchcaffe backend only)
from torchcaffe.io import write_atomic
from torchcaffe.solver import learning_rate

from backend import caffe
import backend
import plots
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
    # every rank of a torchrun group writes it and reads it back: a rename never shows a half-written file
    write_atomic(path, text_format.MessageToString(param).encode())
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
    """out/<net>/log.csv: one row per seg test (iteration, learning rate, train loss, seg-test loss,
    the four metrics, seconds), redrawn as out/<net>/learning_curve.png after each row."""

    FIELDS = ['iteration', 'lr', 'train_loss', 'loss', 'overall_acc', 'mean_acc', 'mean_iu', 'fwavacc',
              'seconds']

    def __init__(self, path):
        self.path = path
        self.plot = os.path.join(os.path.dirname(path), 'learning_curve.png')
        self.start = time.time()
        if not os.path.exists(path):
            with open(path, 'w', newline='') as f:
                csv.writer(f).writerow(self.FIELDS)

    def write(self, iteration, lr, train_loss, loss, metrics):
        row = [iteration, '%.6g' % lr, train_loss, loss] + [metrics[k] for k in self.FIELDS[4:8]]
        row.append(round(time.time() - self.start, 1))
        with open(self.path, 'a', newline='') as f:
            csv.writer(f).writerow(row)
        plots.learning_curve(self.path, self.plot)


def continue_data(solver):
    """After a restore, move the train net's data layers past what the first solver.iter iterations read."""
    for layer in solver.net.layers:
        if hasattr(layer, 'skip'):
            layer.skip(solver.iter * solver.param.iter_size)


def progress_bar(solver, total):
    """A tqdm bar over the run's iterations showing the smoothed loss (hidden when not on a terminal)."""
    bar = tqdm(total=total, initial=solver.iter, desc='training', unit='it', disable=None)

    def advance():
        bar.update(1)
        bar.set_postfix(loss='%.4g' % getattr(solver, 'smoothed_loss', float('nan')), refresh=False)

    solver.add_callback(lambda: None, advance)
    return bar


def seg_outputs(name):
    """(score blob, ground-truth blob) that seg tests compare for a net."""
    return SEG_OUTPUTS.get(name.split('-')[0], ('score', 'label'))


def train(name, weights=None, iters=None, test_interval=4000, val=None, gpu=None, resume=True, out=None,
          save_segs=False):
    """Train one net to max_iter; returns the path of its newest snapshot caffemodel.

    Outputs go to `out` (default out/<net>); a run finding snapshots there resumes from the newest.
    With save_segs, each seg test also writes its predictions as PNGs into out/segs-iter<N>/.
    In a torchrun group, `gpu` is the first device of this machine's ranks.
    """
    ndir = net_dir(name)
    name = os.path.basename(os.path.normpath(ndir))
    layer, gt = seg_outputs(name)
    odir = out or out_dir(name)
    if gpu is not None:
        caffe.set_device(gpu + int(os.environ.get('LOCAL_RANK', '0')))
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()
    if distributed.launched() and backend.name != 'torchcaffe':
        sys.exit('data-parallel training (torchrun) needs the torchcaffe backend')
    rank, _ = distributed.init_from_env()
    solver_path, param = resolve_solver(ndir, odir, iters)
    solver = caffe.get_solver(solver_path)
    snap = latest_snapshot(odir) if resume else None
    if snap:
        print('resuming %s from %s' % (name, snap[1]))
        solver.restore(snap[1])
        continue_data(solver)
    else:
        initialize(solver, name, weights)
    ids = val_ids(name, val) if rank == 0 else None
    log = CSVLog(os.path.join(odir, 'log.csv')) if rank == 0 else None
    bar = progress_bar(solver, param.max_iter) if rank == 0 else None
    while solver.iter < param.max_iter:
        solver.step(min(test_interval, param.max_iter - solver.iter))
        if ids and solver.test_nets:
            test_net = solver.test_nets[0]
            test_net.share_with(solver.net)
            save_dir = os.path.join(odir, 'segs-iter%d' % solver.iter) if save_segs else None
            hist, loss = score.compute_hist(test_net, save_dir, ids, layer=layer, gt=gt)
            metrics = score.compute_metrics(hist)
            score.print_seg_results(solver.iter, loss, metrics)
            lr, _ = learning_rate(param, solver.iter, getattr(solver, 'current_step', 0))
            log.write(solver.iter, lr, getattr(solver, 'smoothed_loss', float('nan')), loss, metrics)
    if bar is not None:
        bar.close()
    if rank == 0 and (not param.snapshot or solver.iter % param.snapshot):
        solver.snapshot()
    distributed.barrier()
    snap = latest_snapshot(odir)
    return model_of(snap[1])


def train_chain(name, **kwargs):
    """Train `name`, first training the coarser nets it starts from when their weights are missing."""
    name = ALIASES.get(name, name)
    kind, source = INIT.get(name, (None, None))
    if kind == 'net' and not kwargs.get('weights') and final_weights(source) is None:
        train_chain(source, **{k: v for k, v in kwargs.items() if k != 'weights'})
    return train(name, **kwargs)


def log_to_stdout():
    """Show the engine's solver log (iterations, loss, lr, snapshots) on stdout, as Caffe's does."""
    logger = logging.getLogger('torchcaffe')
    if any(isinstance(h, logging.StreamHandler) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter('%(asctime)s %(message)s', '%H:%M:%S'))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


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
    ap.add_argument('--fast', action='store_true',
                    help='fast mode: bf16 autocast, TF32, channels_last (not bit-faithful to Caffe; see BENCHMARKS.md)')
    args = ap.parse_args(argv)
    log_to_stdout()
    if args.fast:
        caffe.set_fast_mode()   # torchcaffe only
    os.chdir(ROOT)   # the prototxts' data paths are relative to the repository root
    run = train if args.no_chain else train_chain
    path = run(args.net, weights=args.weights, iters=args.iters, test_interval=args.test_interval,
               val=args.val, gpu=args.gpu, resume=not args.no_resume, save_segs=args.save_segs)
    print('weights: %s' % path)


if __name__ == '__main__':
    main()
