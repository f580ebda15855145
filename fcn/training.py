"""Train an FCN the way the paper did, from its record: solver.prototxt, weight transplant
or hand-off from the coarser net, bilinear interp surgery, seg tests on the val split,
snapshots, resume, and Caffe's treatment of signals.

Outputs go to out/<net>/: the resolved solver, snapshots/train_iter_<N>.*, seg-test
predictions, log.csv and its learning-curve plot, and best.caffemodel with best.json, the
weights of the seg test with the highest mean IU so far.  A run finding snapshots there
resumes from the newest complete and readable pair, its data layers continuing where they
were, and keeps the best so far; index.html, the run's page (fcn/report.py),
is rewritten after each seg test; with `patience`, training stops after that many seg tests
without a better mean IU.

Signals, as Caffe's `caffe train` treats them: SIGINT and SIGTERM finish the iteration
under way, snapshot, and stop (TrainingStopped); a second SIGINT stops at once; SIGHUP
snapshots and goes on.  Under torchrun every rank stops at the same iteration and rank 0
writes the one snapshot pair.

Only pycaffe's public API is used on the solver and nets, so training runs on BVLC's
pycaffe too (FCN_BACKEND=caffe); data parallelism (torchrun) is torchcaffe's and is
refused by name on the other backend.
"""
import csv
import glob
import json
import os
import pathlib
import re
import shutil
import signal
import time
from collections import deque

from google.protobuf import text_format
from tqdm import tqdm

import backend
import plots
import score
import surgery
from backend import caffe
from fcn import cli, dataset, device, files, paths, report, valnet
from fcn.weights import load as load_weights, locate as locate_weights
from fcn.errors import BackendError, FCNError, MissingFile
from models import records

SNAPSHOT_RE = re.compile(r'_iter_(\d+)\.solverstate$')


class TrainingStopped(FCNError):
    """Training stopped on a signal after snapshotting; `exit_status` is 128 + the signal number."""

    def __init__(self, message, exit_status):
        super().__init__(message)
        self.exit_status = exit_status


class SnapshotError(FCNError):
    """A snapshot could not be written (disk full, ...); the previous pair is intact."""


# -- files -----------------------------------------------------------------------------
def read_solver(path):
    """The SolverParameter in a solver.prototxt; FCNError naming the file and line when malformed."""
    from google.protobuf.text_format import ParseError
    try:
        with open(path) as f:
            return text_format.Parse(f.read(), caffe.proto.caffe_pb2.SolverParameter())
    except FileNotFoundError:
        raise MissingFile('%s: no solver.prototxt' % path) from None
    except ParseError as e:
        raise FCNError('%s:%s' % (path, e)) from None


def resolve_solver(ndir, odir, iters=None, val=None):
    """Write out/<net>/solver.prototxt: absolute net paths, snapshot prefix in out/<net>/snapshots.

    With `val` (a split file), each test net is a copy in out/<net>/test_net_<i>.prototxt that
    reads that file (fcn.valnet), so the seg tests score what `val` lists.  Returns (path,
    SolverParameter).  Written atomically: every torchrun rank writes and reads it back, and a
    rename never shows a half-written file.
    """
    param = read_solver(os.path.join(ndir, 'solver.prototxt'))
    for name in ('net', 'train_net'):
        if param.HasField(name):
            setattr(param, name, os.path.join(ndir, getattr(param, name)))
    os.makedirs(os.path.join(odir, 'snapshots'), exist_ok=True)
    tests = [os.path.join(ndir, p) for p in param.test_net]
    if val:
        tests = [valnet.write(p, val, os.path.join(odir, 'test_net_%d.prototxt' % i)) for i, p in enumerate(tests)]
    del param.test_net[:]
    param.test_net.extend(tests)
    param.snapshot_prefix = os.path.join(odir, 'snapshots', 'train')
    if iters is not None:
        param.max_iter = iters
    path = os.path.join(odir, 'solver.prototxt')
    files.write_whole(path, lambda tmp: pathlib.Path(tmp).write_text(text_format.MessageToString(param)))
    return path, param


def model_of(state):
    """The caffemodel written with a solverstate: same prefix and iteration."""
    return state[:-len('.solverstate')] + '.caffemodel'


def snapshots(odir):
    """[(iteration, solverstate)] of the complete pairs in odir/snapshots, newest first."""
    found = []
    for state in glob.glob(os.path.join(odir, 'snapshots', '*_iter_*.solverstate')):
        m = SNAPSHOT_RE.search(state)
        if m and os.path.exists(model_of(state)):
            found.append((int(m.group(1)), state))
    return sorted(found, reverse=True)


def latest_snapshot(odir):
    """(iteration, solverstate) of the newest complete snapshot pair, or None."""
    found = snapshots(odir)
    return found[0] if found else None


def readable(state):
    """Why a snapshot pair cannot be read back, or None when both files parse."""
    pb = caffe.proto.caffe_pb2
    for path, message in ((state, pb.SolverState()), (model_of(state), pb.NetParameter())):
        try:
            with open(path, 'rb') as f:
                message.ParseFromString(f.read())
        except Exception as e:   # protobuf's DecodeError and friends
            return '%s: %s' % (path, e or 'unreadable')
        if isinstance(message, pb.NetParameter) and not (message.layer or message.layers):
            return '%s holds no layers' % path
    return None


def final_weights(name):
    """The newest snapshot caffemodel of a net's run in out/<net>, or None."""
    snap = latest_snapshot(paths.out_dir(name))
    return None if snap is None else model_of(snap[1])


# -- initialization -----------------------------------------------------------------------
def trained_weights(rec, source):
    """The weights of net `source` that `rec` starts from: its training run's newest snapshot, else
    its published weights/<source>.caffemodel; MissingFile saying to train it first."""
    path = final_weights(source) or (paths.weights_path(source) if os.path.exists(paths.weights_path(source))
                                     else None)
    if path is None:
        raise MissingFile('%s starts from trained %s weights; train it first (python solve.py %s)'
                          % (rec.name, source, source))
    return path


def sources(rec):
    """The nets whose trained weights `rec` starts from."""
    kind, source = rec.init
    return [source] if kind == 'net' else [net for _, net in rec.init_streams]


def initialize(solver, rec, init_weights=None, log=print):
    """Initial weights from the caffemodel `init_weights`, else as the record says (classifier
    transplant, the coarser net's or the streams' trained weights, or the fillers); then bilinear
    interp surgery on the 'up' layers."""
    if init_weights:
        for warning in load_weights(solver.net, locate_weights(rec.name, init_weights), allow_partial=True):
            log('warning: ' + warning)
    else:
        kind, source = rec.init
        if kind == 'classifier':
            proto = os.path.join(paths.MODELS, 'ilsvrc', source, 'deploy.prototxt')
            base = caffe.Net(proto, caffe.TEST, weights=locate_weights(source))
            surgery.transplant(solver.net, base)
            for new_layer, layer in rec.init_expand:
                surgery.expand_input(solver.net, new_layer, base, layer)
            del base
        elif kind == 'net':
            solver.net.copy_from(trained_weights(rec, source))
        elif kind == 'streams':
            for suffix, source in rec.init_streams:
                stream = records.get(source)
                base = caffe.Net(stream.deploy, caffe.TEST, weights=trained_weights(rec, source))
                surgery.transplant(solver.net, base, suffix=suffix)
                del base
        else:
            log('no initial weights for %s: training from the fillers' % rec.name)
    surgery.interp(solver.net, [k for k in solver.net.params if 'up' in k])


def val_ids(rec, override=None):
    """The ids the val net reads, in order (the record's split, or a file given), or None."""
    path = override or rec.val_ids
    if not path:
        return None
    path = paths.data_path(path) if not override else path
    if not os.path.exists(path):
        raise MissingFile('missing validation split %s: get the dataset first (see data/README.md)' % path)
    with open(path) as f:
        return [dataset.example_id(line) for line in f if line.strip()]


# -- logging ------------------------------------------------------------------------------
class CSVLog:
    """out/<net>/log.csv: one row per seg test (iteration, learning rate, train loss, seg-test loss,
    the four metrics, seconds, and the iteration whose weights best.caffemodel holds after it),
    redrawn as out/<net>/learning_curve.png after each row."""

    FIELDS = ['iteration', 'lr', 'train_loss', 'loss', 'overall_acc', 'mean_acc', 'mean_iu', 'fwavacc',
              'seconds', 'best_iteration']

    def __init__(self, path):
        self.path = path
        self.plot = os.path.join(os.path.dirname(path), 'learning_curve.png')
        self.start = time.time()
        if not os.path.exists(path):
            with open(path, 'w', newline='') as f:
                csv.writer(f).writerow(self.FIELDS)

    def write(self, iteration, lr, train_loss, loss, metrics, best_iteration=None):
        row = [iteration, '%.6g' % lr, train_loss, loss] + [metrics[k] for k in self.FIELDS[4:8]]
        row += [round(time.time() - self.start, 1), best_iteration]
        with open(self.path, 'a', newline='') as f:
            csv.writer(f).writerow(row)
        plots.learning_curve(self.path, self.plot)


class SmoothedLoss:
    """The training loss averaged over the last `window` iterations, as Caffe's display shows it.

    Read after each iteration from the train net's loss outputs, weighted by their loss
    weights (pycaffe's `_blob_loss_weights`); with iter_size > 1 it sees the last pass.
    """

    def __init__(self, net, window):
        self.net = net
        self.weights = dict(zip(net._blob_names, net._blob_loss_weights))
        self.losses = deque(maxlen=max(1, window))

    def update(self):
        self.losses.append(sum(float(self.net.blobs[b].data.flat[0]) * self.weights[b]
                               for b in self.net.outputs if self.weights.get(b)))

    @property
    def value(self):
        return sum(self.losses) / len(self.losses) if self.losses else float('nan')


class Best:
    """out/<net>/best.caffemodel and best.json: the weights of the seg test with the highest mean IU
    so far, with its iteration, seg-test loss and metrics.  Each file is written whole (temporary
    file, then rename), the weights first.  `keep`: carry on from the files of an earlier run (a
    resumed one); else the first seg test replaces them."""

    def __init__(self, odir, keep):
        self.model = os.path.join(odir, 'best.caffemodel')
        self.json = os.path.join(odir, 'best.json')
        self.record = None
        if keep and os.path.exists(self.json) and os.path.exists(self.model):
            try:
                with open(self.json) as f:
                    self.record = json.load(f)
                float(self.record['mean_iu']), int(self.record['iteration'])
            except (ValueError, KeyError, TypeError):
                raise FCNError('%s: not a best.json written by solve.py; remove it (and best.caffemodel) '
                               'to start the best anew' % self.json) from None

    @property
    def iteration(self):
        return None if self.record is None else int(self.record['iteration'])

    def offer(self, net, iteration, loss, metrics):
        """Keep net's weights when metrics['mean_iu'] beats the best so far (NaN never does); True if kept."""
        mean_iu = float(metrics['mean_iu'])
        if not mean_iu == mean_iu or (self.record is not None and mean_iu <= self.record['mean_iu']):
            return False
        files.write_whole(self.model, lambda tmp: net.save(tmp))
        self.record = dict(iteration=int(iteration), loss=float(loss), weights=self.model,
                           **{k: float(metrics[k]) for k in ('overall_acc', 'mean_acc', 'mean_iu', 'fwavacc')})
        text = json.dumps(self.record, indent=1) + '\n'
        files.write_whole(self.json, lambda tmp: pathlib.Path(tmp).write_text(text))
        return True

    def tests_since(self, log_path, upto):
        """Distinct seg-test iterations in log.csv after the best one, up to `upto` (a resumed run's
        start): how many tests have not improved on it."""
        if self.record is None or not os.path.exists(log_path):
            return 0
        with open(log_path, newline='') as f:
            its = {int(r['iteration']) for r in csv.DictReader(f) if (r.get('iteration') or '').isdigit()}
        return sum(1 for it in its if self.iteration < it <= upto)


def learning_rate(param, iteration):
    """The rate of the fixed, step, exp, inv, multistep, poly or sigmoid policy at `iteration`
    (Caffe's SGDSolver::GetLearningRate)."""
    import math
    p, it = param.lr_policy, iteration
    if p == 'fixed':
        return param.base_lr
    if p == 'step':
        return param.base_lr * param.gamma ** (it // param.stepsize)
    if p == 'exp':
        return param.base_lr * param.gamma ** it
    if p == 'inv':
        return param.base_lr * (1 + param.gamma * it) ** -param.power
    if p == 'multistep':
        # Caffe moves current_step on by at most one per iteration, when the iteration reaches
        # the next stepvalue in the order given: step k is taken at max(stepvalue[k], step k-1 + 1)
        taken, steps = -1, 0
        for s in param.stepvalue:
            taken = max(s, taken + 1)
            steps += taken <= it
        return param.base_lr * param.gamma ** steps
    if p == 'poly':
        return param.base_lr * (1 - it / param.max_iter) ** param.power
    if p == 'sigmoid':
        return param.base_lr / (1 + math.exp(-param.gamma * (it - param.stepsize)))
    raise FCNError('unknown lr_policy %r' % p)


# -- signals ------------------------------------------------------------------------------
class Signals:
    """Caffe's signal effects for the time of a run: SIGINT/SIGTERM ask to stop after the current
    iteration (a second SIGINT interrupts at once), SIGHUP asks for a snapshot."""

    STOP = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.stop = None
        self.snapshot = False
        self.saved = {}

    def _handle(self, signum, frame):
        if signum == signal.SIGHUP:
            self.snapshot = True
            return
        if self.stop is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.stop = signum

    def __enter__(self):
        for s in self.STOP + (signal.SIGHUP,):
            try:
                self.saved[s] = signal.signal(s, self._handle)
            except ValueError:   # not the main thread: leave signals alone
                pass
        return self

    def __exit__(self, *exc):
        for s, handler in self.saved.items():
            signal.signal(s, handler)


def agree(stop, snap):
    """Under torchrun, (stop, snapshot) wanted by any rank, so that every rank acts alike."""
    if backend.name != 'torchcaffe':
        return stop, snap
    from torchcaffe import distributed
    if not distributed.active():
        return stop, snap
    flags = distributed.any_of([stop or 0, int(snap)])
    return (int(flags[0]) or None), bool(flags[1])


# -- the run ------------------------------------------------------------------------------
def join_group():
    """(rank, world size) of this process: torchrun's group on torchcaffe, else (0, 1)."""
    if int(os.environ.get('WORLD_SIZE', '1')) <= 1:
        return 0, 1
    if backend.name != 'torchcaffe':
        raise BackendError('data-parallel training (torchrun) needs the torchcaffe backend, not %s'
                           % backend.name)
    from torchcaffe import distributed
    return distributed.init_from_env()


def agree_any(flag):
    """Under torchrun, whether any rank's flag is set (rank 0 holds the seg tests' verdict)."""
    if backend.name != 'torchcaffe':
        return bool(flag)
    from torchcaffe import distributed
    if not distributed.active():
        return bool(flag)
    return bool(int(distributed.any_of([int(bool(flag))])[0]))


def patience_message(best, patience, iteration):
    """Why training stops early, and where the best weights are (rank 0's Best)."""
    if best.record is None:
        return 'stopping at iteration %d: %d seg tests without a mean IU (NaN)' % (iteration, patience)
    return ('stopping at iteration %d: %d seg tests without a higher mean IU than %.4f (iteration %d); '
            'best weights: %s' % (iteration, patience, best.record['mean_iu'], best.iteration, best.model))


def barrier():
    if backend.name == 'torchcaffe':
        from torchcaffe import distributed
        distributed.barrier()


def snapshot(solver, odir, rank=0):
    """Snapshot now; the caffemodel's path (None on ranks other than 0, which write nothing), or
    SnapshotError, with the previous pair named, when it cannot be written.  Every torchrun rank
    calls it: torchcaffe gathers each rank's random state into the snapshot's .rngstate."""
    try:
        solver.snapshot()
    except OSError as e:
        prev = latest_snapshot(odir)
        kept = 'the previous pair (iteration %d) is intact' % prev[0] if prev else 'there is no earlier snapshot'
        raise SnapshotError('cannot write the snapshot of iteration %d in %s: %s; %s'
                            % (solver.iter, os.path.join(odir, 'snapshots'), e.strerror or e, kept)) from None
    return model_of(latest_snapshot(odir)[1]) if rank == 0 else None


def restore_newest(solver, odir, log):
    """Restore the newest complete, readable snapshot pair, falling back past bad ones; its iteration
    or None."""
    for it, state in snapshots(odir):
        problem = readable(state)
        if problem is None:
            try:
                solver.restore(state)
            except Exception as e:   # the engine's error for a pair that parses but does not fit
                problem = '%s: %s' % (state, str(e).splitlines()[0] if str(e) else type(e).__name__)
        if problem is None:
            log('resuming from %s' % state)
            restore_random_state(solver, state, log)
            return it
        log('skipping snapshot %d: %s' % (it, problem))
    return None


def restore_random_state(solver, state, log):
    """torchcaffe: put back the random state saved beside the snapshot pair (its .rngstate), so the
    Dropout masks go on as in an uninterrupted run.  Caffe saves none: on it, and for a pair
    without one, the masks restart from random_seed (Caffe's resume)."""
    if backend.name != 'torchcaffe':
        return
    if not solver.restore_random_state(state):
        log('no random state saved with %s for this number of ranks: Dropout masks restart from '
            'random_seed, as in Caffe' % state)


def continue_data(solver, iter_size):
    """After a restore, move the train net's data layers past what the first solver.iter iterations read."""
    for i in range(len(solver.net.layers)):
        layer = solver.net.layers[i]
        if hasattr(layer, 'skip'):
            layer.skip(solver.iter * iter_size)


def train(name, weights=None, iters=None, test_interval=None, val=None, gpu=None, resume=True, out=None,
          save_segs=False, patience=None, log=print):
    """Train one net to max_iter; returns the path of its newest snapshot caffemodel.

    `name` is a net name, alias or folder.  Outputs go to `out` (default out/<net>); a run
    finding snapshots there resumes from the newest readable pair.  A seg test runs every
    `test_interval` iterations (default: the solver's snapshot interval, as the release tests at
    each snapshot; 4000 without one) and at the end; each keeps best.caffemodel (see Best).  With
    save_segs, each seg test also writes its predictions as PNGs into out/segs-iter<N>/.  With
    `patience` K, training stops (snapshot, message, normal return) after K seg tests in a row
    without a higher mean IU than the best.  In a torchrun group, `gpu` is the first device of
    this machine's ranks.  Raises TrainingStopped on SIGINT/SIGTERM (after snapshotting),
    SnapshotError when a snapshot cannot be written, FCNError for missing weights or data.
    """
    rec = records.get(name)
    odir = out or paths.out_dir(rec.name)
    device.use(gpu)
    rank, _ = join_group()
    fresh = not os.path.exists(odir)
    try:
        ids = val_ids(rec, val) if rank == 0 else None
        solver_path, param = resolve_solver(rec.folder, odir, iters, val)
        solver = caffe.get_solver(solver_path)
        resumed = restore_newest(solver, odir, log) if resume else None
        if resumed is None:
            initialize(solver, rec, weights, log)
    except BaseException:
        if fresh and rank == 0:   # a run that could not start leaves no empty out/<net>
            shutil.rmtree(odir, ignore_errors=True)
        raise
    test_interval = test_interval or param.snapshot or 4000
    testing = bool(val or rec.val_ids) and len(solver.test_nets) > 0   # alike on every rank
    best = Best(odir, keep=resumed is not None) if rank == 0 else None
    stale = best.tests_since(os.path.join(odir, 'log.csv'), resumed) if best and resumed is not None else 0
    if resumed is not None:
        continue_data(solver, param.iter_size)
        if patience and agree_any(stale >= patience):
            if rank == 0:
                log(patience_message(best, patience, resumed))
            barrier()
            return model_of(latest_snapshot(odir)[1])
        if resumed >= param.max_iter:
            log('%s already holds iteration %d, at or past max_iter %d: nothing to train (--iters to go '
                'further, --no-resume to start over)' % (odir, resumed, param.max_iter))
            barrier()
            return model_of(latest_snapshot(odir)[1])
    csv_log = CSVLog(os.path.join(odir, 'log.csv')) if rank == 0 else None
    smoothed = SmoothedLoss(solver.net, param.average_loss)
    bar = tqdm(total=param.max_iter, initial=solver.iter, desc='training', unit='it',
               disable=None if rank == 0 else True)
    last_snapshot = resumed
    with Signals() as signals:
        while solver.iter < param.max_iter:
            try:
                solver.step(1)
            except OSError as e:
                raise SnapshotError('cannot write a snapshot in %s: %s' % (odir, e.strerror or e)) from None
            except Exception as e:
                if not isinstance(e, cli.known_errors()):
                    raise
                prev = latest_snapshot(odir)
                raise FCNError('%s; %s' % (cli.summary(e), 'the newest snapshot is %s' % model_of(prev[1]) if prev
                                          else 'no snapshot has been written yet')) from e
            smoothed.update()
            bar.update(1)
            bar.set_postfix(loss='%.4g' % smoothed.value, refresh=False)
            if param.snapshot and solver.iter % param.snapshot == 0:
                last_snapshot = solver.iter
            stop, snap = agree(signals.stop, signals.snapshot)
            signals.snapshot = False
            if (stop or snap) and last_snapshot != solver.iter:
                path = snapshot(solver, odir, rank)
                if rank == 0:
                    log('snapshot at iteration %d: %s' % (solver.iter, path))
                last_snapshot = solver.iter
            if stop:
                barrier()
                bar.close()
                raise TrainingStopped('stopped by %s at iteration %d; snapshot in %s; run the same command to '
                                      'resume' % (signal.Signals(stop).name, solver.iter,
                                                  os.path.join(odir, 'snapshots')), 128 + stop)
            if testing and solver.iter % test_interval == 0:
                if rank == 0:
                    improved = seg_test(solver, rec, ids, odir, save_segs, csv_log, param, smoothed.value, best,
                                        log)
                    stale = 0 if improved else stale + 1
                if patience and agree_any(stale >= patience):
                    if rank == 0:
                        log(patience_message(best, patience, solver.iter))
                    break
    bar.close()
    if testing and rank == 0 and solver.iter % test_interval and solver.iter != resumed:
        seg_test(solver, rec, ids, odir, save_segs, csv_log, param, smoothed.value, best, log)
    if last_snapshot != solver.iter:
        snapshot(solver, odir, rank)
    barrier()
    return model_of(latest_snapshot(odir)[1])


def seg_test(solver, rec, ids, odir, save_segs, csv_log, param, train_loss, best, log):
    """Score the val net with the training weights; log the metrics of the first output, keep
    the weights in `best` when its mean IU is the highest so far, and rewrite the run's page,
    odir/index.html (fcn.report.training_page).  True when the weights were kept."""
    test_net = solver.test_nets[0]
    test_net.share_with(solver.net)
    out = rec.outputs[0]
    save_dir = os.path.join(odir, 'segs-iter%d' % solver.iter) if save_segs else None
    watch = report.Watch(test_net, rec, out)
    hist, loss = score.compute_hist(watch, save_dir, ids, layer=out.blob, gt=out.label)
    metrics = score.compute_metrics(hist)
    for line in score.seg_results(solver.iter, loss, metrics):
        log(line)
    improved = best.offer(solver.net, solver.iter, loss, metrics)
    if improved:
        log('best mean IU so far: %s' % best.model)
    csv_log.write(solver.iter, learning_rate(param, solver.iter), train_loss, loss, metrics, best.iteration)
    report.training_page(odir, rec, csv_log.path, ids, watch, solver.iter)
    return improved


def train_chain(name, log=print, **kwargs):
    """Train `name`, first training the coarser nets it starts from when their weights are missing."""
    rec = records.get(name)
    for source in [] if kwargs.get('weights') else sources(rec):
        if final_weights(source) is None and not os.path.exists(paths.weights_path(source)):
            train_chain(source, log=log, **{k: v for k, v in kwargs.items() if k not in ('weights', 'out')})
    return train(rec.folder, log=log, **kwargs)
