"""Solvers with Caffe's arithmetic: SGD, Nesterov, AdaGrad, RMSProp, AdaDelta, Adam.

One step is Caffe's Solver::Step: clear diffs, (test), iter_size forward/backward
passes, smoothed loss, then ApplyUpdate: learning rate, gradient clipping, and
per parameter normalize (/iter_size), regularize, compute the update value;
finally data -= diff and iter += 1. Snapshots are Caffe-compatible
caffemodel + solverstate pairs, each written atomically.

Random stream: a solver's random_seed seeds Caffe's CPU stream (torchcaffe.rng) with
random_seed + rank before the nets are built, as Solver::Init does.  restore() is Caffe's: the
stream is not part of a solverstate, so after a restore the Dropout masks go on from wherever
the stream is (for a fresh solver: from random_seed).  Beside each snapshot pair the engine also
writes <prefix>_iter_<N>.rngstate, every rank's random state (Caffe's stream and torch's
generators), which restore_random_state() puts back for a resume that is exact with Dropout;
Caffe ignores the file.
"""
import io as io_bytes
import logging
import math
import os
import time

import numpy as np
import torch

from . import distributed, io, mode, rng
from .errors import CaffeError
from .net import TEST, TRAIN, Net
from .proto import caffe_pb2
from .upgrade import upgrade_solver

log = logging.getLogger('torchcaffe')


def learning_rate(p, it, current_step):
    """(rate, current_step) for iteration `it` under SolverParameter p's lr_policy."""
    policy = p.lr_policy
    if policy in ('step', 'exp', 'inv', 'multistep', 'sigmoid') and p.gamma < 0:
        raise CaffeError('lr_policy "%s" needs gamma >= 0 (got %g)' % (policy, p.gamma))
    if policy == 'fixed':
        return p.base_lr, current_step
    if policy == 'step':
        if p.stepsize <= 0:
            raise CaffeError('lr_policy "step" needs a positive stepsize')
        current_step = it // p.stepsize
        return p.base_lr * p.gamma ** current_step, current_step
    if policy == 'exp':
        return p.base_lr * p.gamma ** it, current_step
    if policy == 'inv':
        return p.base_lr * (1 + p.gamma * it) ** (-p.power), current_step
    if policy == 'multistep':
        if current_step < len(p.stepvalue) and it >= p.stepvalue[current_step]:
            current_step += 1
        return p.base_lr * p.gamma ** current_step, current_step
    if policy == 'poly':
        if it > p.max_iter:
            raise CaffeError('lr_policy "poly" at iteration %d, past max_iter %d: its base (1 - iter/max_iter) '
                             'is negative, where Caffe computes pow() of a negative float (NaN for a non-integer '
                             'power, a negative or growing rate for an integer one); raise max_iter to step on'
                             % (it, p.max_iter))
        return p.base_lr * (1 - it / p.max_iter) ** p.power, current_step
    if policy == 'sigmoid':
        if p.stepsize <= 0:
            raise CaffeError('lr_policy "sigmoid" needs a positive stepsize')
        return p.base_lr / (1 + math.exp(-p.gamma * (it - p.stepsize))), current_step
    raise CaffeError('unknown lr_policy %r (fixed, step, exp, inv, multistep, poly, sigmoid)' % policy)


def _read_solver(source):
    if isinstance(source, caffe_pb2.SolverParameter):
        param = caffe_pb2.SolverParameter()
        param.CopyFrom(source)
        return param, None
    path = os.fspath(source)
    return io.read_prototxt(path, caffe_pb2.SolverParameter), path


class Solver:
    """Shared driver: nets, stepping, testing, snapshots. Subclasses define the update rule."""
    type = None
    extra_history = 0   # history blobs per parameter beyond the first (Adam, AdaDelta: 1)

    def __init__(self, source):
        param, path = _read_solver(source)
        upgrade_solver(param)
        if param.type and self.type and param.type != self.type:
            log.warning('solver file asks for type %s; running %s as requested', param.type, self.type)
        self.param = param
        if not param.HasField('snapshot_prefix') and path:
            param.snapshot_prefix = os.path.splitext(path)[0]
        elif path and os.path.isdir(param.snapshot_prefix):
            stem = os.path.splitext(os.path.basename(path))[0]
            param.snapshot_prefix = os.path.join(param.snapshot_prefix, stem)
        if param.random_seed >= 0:
            mode.set_random_seed(param.random_seed + distributed.rank())
        self._check()
        self.net = self._train_net()
        self.test_nets = self._test_nets()
        self.iter = 0
        self.current_step = 0
        params = self.net.learnable_params
        self.history = [torch.zeros_like(b.tensor) for b in params]
        self.history += [torch.zeros_like(b.tensor) for _ in range(self.extra_history) for b in params]
        self._losses, self._smoothed = [], 0.0
        self._last_display = (0, time.time())
        self._ranks_agree = False   # whether every rank holds rank 0's weights (data-parallel runs)
        self._callbacks = []

    # -- construction -----------------------------------------------------------
    def _check(self):
        p = self.param
        if p.iter_size < 1:
            raise CaffeError('iter_size must be at least 1')
        if p.regularization_type not in ('L1', 'L2'):
            raise CaffeError('unknown regularization_type %r (L1 or L2)' % p.regularization_type)
        if self.type in ('AdaGrad', 'RMSProp') and p.momentum != 0:
            raise CaffeError('momentum cannot be used with %s (got %g)' % (self.type, p.momentum))
        if self.type == 'RMSProp' and not 0 <= p.rms_decay < 1:
            raise CaffeError('rms_decay must be in [0, 1) (got %g)' % p.rms_decay)
        if p.snapshot_format != caffe_pb2.SolverParameter.BINARYPROTO:
            raise CaffeError('only snapshot_format BINARYPROTO is supported')

    def _train_net(self):
        p = self.param
        given = [f for f in ('net', 'net_param', 'train_net', 'train_net_param') if p.HasField(f)]
        if len(given) != 1:
            raise CaffeError('a solver needs exactly one of net, net_param, train_net, train_net_param; got %s'
                             % (', '.join(given) or 'none'))
        source = getattr(p, given[0])
        state = p.train_state
        return Net(source, TRAIN, level=state.level, stages=list(state.stage))

    def _test_nets(self):
        p = self.param
        sources = list(p.test_net_param) + list(p.test_net)
        if len(p.test_iter) < len(sources):
            raise CaffeError('give test_iter for each test net (%d test nets, %d test_iter)'
                             % (len(sources), len(p.test_iter)))
        generic = p.net_param if p.HasField('net_param') else (p.net if p.HasField('net') else None)
        if generic is not None:
            sources += [generic] * (len(p.test_iter) - len(sources))
        elif len(p.test_iter) > len(sources):
            raise CaffeError('test_iter is given %d times but there are %d test nets'
                             % (len(p.test_iter), len(sources)))
        if len(p.test_state) not in (0, len(sources)):
            raise CaffeError('test_state must be given once per test net or not at all')
        nets = []
        for i, source in enumerate(sources):
            state = p.test_state[i] if len(p.test_state) else caffe_pb2.NetState()
            net = Net(source, TEST, level=state.level, stages=list(state.stage))
            net.share_with(self.net)
            nets.append(net)
        return nets

    # -- running ------------------------------------------------------------------
    def add_callback(self, on_start, on_gradients_ready):
        """Call on_start() at the start of every iteration and on_gradients_ready() before its update."""
        self._callbacks.append((on_start, on_gradients_ready))

    @property
    def smoothed_loss(self):
        """The loss averaged over the last average_loss iterations, as the display shows it."""
        return self._smoothed

    def step(self, iters):
        """Run `iters` iterations, as Caffe's Solver::Step."""
        p = self.param
        start_iter = self.iter
        stop_iter = self.iter + iters
        self._losses, self._smoothed = [], 0.0
        parallel = distributed.active()
        root = distributed.rank() == 0
        if parallel and not self._ranks_agree:
            distributed.broadcast_data([b for blobs in self.net.params.values() for b in blobs])
            self._ranks_agree = True
        while self.iter < stop_iter:
            for on_start, _ in self._callbacks:
                on_start()
            for blob in self.net.learnable_params:
                blob.diff_tensor.zero_()
            if root and p.test_interval and self.iter % p.test_interval == 0 and \
                    (self.iter > 0 or p.test_initialization):
                self.test_all()
            display = root and p.display and self.iter % p.display == 0
            loss = 0.0
            for _ in range(p.iter_size):
                loss += self.net.forward_backward()
            loss /= p.iter_size
            if parallel:
                distributed.sum_diffs(self.net.learnable_params)
                loss = distributed.mean(loss)
            if not math.isfinite(loss):
                raise CaffeError('iteration %d: the loss is %s; %s. Training stopped before the update, '
                                 'so no weights of this iteration were applied or snapshotted.'
                                 % (self.iter, loss, self.net.first_nonfinite()))
            self._update_smoothed(loss, start_iter)
            if display:
                self._display()
            for _, on_gradients_ready in self._callbacks:
                on_gradients_ready()
            self.apply_update()
            if p.snapshot and self.iter % p.snapshot == 0:
                self.snapshot()

    def solve(self, resume_file=None):
        """Train to max_iter (restoring from resume_file first, if given)."""
        if resume_file:
            self.restore(resume_file)
        p = self.param
        self.step(p.max_iter - self.iter)
        if p.snapshot_after_train and (not p.snapshot or self.iter % p.snapshot != 0):
            self.snapshot()
        if distributed.rank() != 0:
            return
        if p.test_interval and self.iter % p.test_interval == 0:
            self.test_all()
        log.info('Optimization done.')

    def _update_smoothed(self, loss, start_iter):
        average = max(1, self.param.average_loss)
        if len(self._losses) < average:
            self._losses.append(loss)
            n = len(self._losses)
            self._smoothed = (self._smoothed * (n - 1) + loss) / n
        else:
            idx = (self.iter - start_iter) % average
            self._smoothed += (loss - self._losses[idx]) / average
            self._losses[idx] = loss

    def _display(self):
        last_iter, last_time = self._last_display
        now = time.time()
        rate = (self.iter - last_iter) / max(now - last_time, 1e-9)
        log.info('Iteration %d (%.3g iter/s), loss = %g', self.iter, rate, self._smoothed)
        self._last_display = (self.iter, now)
        weights = self.net.blob_loss_weights
        for name in self.net.outputs:
            values = np.asarray(self.net.blobs[name].data).ravel()
            for v in values[:16]:
                w = weights[name]
                extra = ' (* %g = %g loss)' % (w, w * v) if w else ''
                log.info('    Train net output: %s = %g%s', name, v, extra)

    def test_all(self):
        """Run every test net for its test_iter passes and log the mean of each output."""
        for i, net in enumerate(self.test_nets):
            sums = {}
            with torch.no_grad():
                for _ in range(self.param.test_iter[i]):
                    net.forward()
                    for name in net.outputs:
                        sums[name] = sums.get(name, 0) + np.asarray(net.blobs[name].data, dtype=np.float64)
            log.info('Iteration %d, Testing net (#%d)', self.iter, i)
            for name, total in sums.items():
                mean = total / max(1, self.param.test_iter[i])
                log.info('    Test net output: %s = %s', name, np.array2string(np.asarray(mean), precision=6))

    # -- the update -------------------------------------------------------------
    def apply_update(self):
        p = self.param
        rate, self.current_step = learning_rate(p, self.iter, self.current_step)
        if p.display and self.iter % p.display == 0:
            log.info('Iteration %d, lr = %g', self.iter, rate)
        entries = self.net.graph.learnable
        with torch.no_grad():
            self._clip([e.blob for e in entries])
            passes = p.iter_size * distributed.world_size()   # the diffs summed over these passes
            for i, entry in enumerate(entries):
                diff = entry.blob.diff_tensor
                if passes > 1:
                    diff.mul_(1.0 / passes)
                local_decay = p.weight_decay * entry.decay_mult
                if local_decay:
                    data = entry.blob.tensor
                    diff.add_(data if p.regularization_type == 'L2' else torch.sign(data), alpha=local_decay)
                self.compute_update(i, diff, rate * entry.lr_mult)
            for entry in entries:
                entry.blob.tensor.sub_(entry.blob.diff_tensor)
        self.iter += 1

    def _clip(self, blobs):
        clip = self.param.clip_gradients
        if clip < 0 or not blobs:
            return
        norm = math.sqrt(float(torch.stack([torch.sum(b.diff_tensor.double() ** 2) for b in blobs]).sum()))
        if norm > clip:
            log.info('Gradient clipping: scaling down gradients (L2 norm %g > %g) by scale factor %g',
                     norm, clip, clip / norm)
            for b in blobs:
                b.diff_tensor.mul_(clip / norm)

    def compute_update(self, i, diff, local_rate):
        """Turn the gradient `diff` of learnable param i into the step to subtract, in place."""
        raise NotImplementedError

    # -- snapshots ----------------------------------------------------------------
    def _snapshot_name(self, ext):
        return '%s_iter_%d%s' % (self.param.snapshot_prefix, self.iter, ext)

    def snapshot(self):
        """Write <prefix>_iter_<N>.rngstate, .caffemodel, then .solverstate, each atomically;
        returns (caffemodel, solverstate).

        The .rngstate comes first so that a complete pair always has it.  Under torchrun every
        rank calls this (it gathers each rank's random state) and rank 0 alone writes, the others
        get None.  Refuses (CaffeError) to snapshot weights that hold NaN or Inf.
        """
        states = distributed.gather(_random_state())
        if distributed.rank() != 0:
            return None
        bad = self.net.nonfinite_params()
        if bad:
            raise CaffeError('iteration %d: parameters of layer(s) %s hold NaN or Inf; not snapshotting them'
                             % (self.iter, ', '.join(bad)))
        model = self._snapshot_name('.caffemodel')
        folder = os.path.dirname(os.path.abspath(model))
        if not os.path.isdir(folder):
            raise CaffeError('snapshot folder does not exist: %s' % folder)
        buffer = io_bytes.BytesIO()
        torch.save({'ranks': states}, buffer)
        io.write_atomic(self._snapshot_name('.rngstate'), buffer.getvalue())
        log.info('Snapshotting to binary proto file %s', model)
        io.write_binary(model, self.net.to_proto(write_diff=self.param.snapshot_diff))
        state = caffe_pb2.SolverState(iter=self.iter, learned_net=model, current_step=self.current_step)
        for h in self.history:
            state.history.append(io.array_to_blobproto(h.cpu().numpy()))
        path = self._snapshot_name('.solverstate')
        log.info('Snapshotting solver state to binary proto file %s', path)
        io.write_binary(path, state)
        return model, path

    def restore(self, state_file):
        """Continue from a solverstate (ours or Caffe's): weights, history, iter, current_step."""
        state_file = os.fspath(state_file)
        state = io.read_binary(state_file, caffe_pb2.SolverState, 'solverstate')
        if len(state.history) != len(self.history):
            raise CaffeError('%s holds %d history blobs; this %s solver on this net needs %d'
                             % (state_file, len(state.history), self.type, len(self.history)))
        arrays = []
        for h, bp in zip(self.history, state.history):
            a = io.blobproto_to_array(bp)
            if a.size != h.numel():
                raise CaffeError('%s: history blob of %d values where the net needs %d'
                                 % (state_file, a.size, h.numel()))
            arrays.append(a)
        if state.learned_net:
            self.net.copy_from(self._locate(state.learned_net, state_file))
        for h, a in zip(self.history, arrays):
            h.copy_(torch.from_numpy(a.reshape(tuple(h.shape))))
        self.iter = state.iter
        self.current_step = state.current_step
        self._ranks_agree = False

    def restore_random_state(self, state_file):
        """Put back the random state saved beside solverstate `state_file` (its .rngstate) for this
        rank: Caffe's CPU stream and torch's generators, so the run goes on with the Dropout
        masks of an uninterrupted one.  A torchcaffe feature (Caffe saves no random state).

        Returns False, changing nothing, when there is no .rngstate or it was written by a
        different number of ranks; CaffeError when the file is unreadable.
        """
        path = os.fspath(state_file)
        path = (path[:-len('.solverstate')] if path.endswith('.solverstate') else path) + '.rngstate'
        if not os.path.exists(path):
            return False
        try:
            ranks = torch.load(path, weights_only=True)['ranks']
        except Exception as e:
            raise CaffeError('%s is not a readable random state: %s' % (path, e)) from None
        if len(ranks) != distributed.world_size():
            return False
        _set_random_state(ranks[distributed.rank()])
        return True

    @staticmethod
    def _locate(learned_net, state_file):
        """The caffemodel a solverstate names: as written, or beside the solverstate if moved."""
        if not isinstance(learned_net, str):
            raise CaffeError('%s is corrupt: the weights file it names is not valid text' % state_file)
        if os.path.exists(learned_net):
            return learned_net
        beside = os.path.join(os.path.dirname(state_file), os.path.basename(learned_net))
        if os.path.exists(beside):
            return beside
        raise CaffeError('%s names weights %s, which exist neither there nor beside the solverstate'
                         % (state_file, learned_net))


def _random_state():
    """This process's random state: Caffe's CPU stream (None while unseeded) and torch's generators."""
    caffe_stream = rng.get_state()
    if caffe_stream is not None:
        caffe_stream = {'key': torch.from_numpy(caffe_stream['key'].astype(np.int64)), 'pos': caffe_stream['pos']}
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    return {'caffe': caffe_stream, 'torch': torch.get_rng_state(), 'cuda': cuda}


def _set_random_state(state):
    caffe_stream = state['caffe']
    rng.set_state(None if caffe_stream is None else
                  {'key': caffe_stream['key'].numpy().astype(np.uint32), 'pos': caffe_stream['pos']})
    torch.set_rng_state(state['torch'])
    if state['cuda'] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


class SGDSolver(Solver):
    """v = momentum * v + local_rate * grad; step = v."""
    type = 'SGD'

    def compute_update(self, i, diff, local_rate):
        h = self.history[i]
        h.mul_(self.param.momentum).add_(diff, alpha=local_rate)
        diff.copy_(h)


class NesterovSolver(Solver):
    type = 'Nesterov'

    def compute_update(self, i, diff, local_rate):
        m = self.param.momentum
        h = self.history[i]
        previous = h.clone()
        h.mul_(m).add_(diff, alpha=local_rate)
        diff.copy_(h * (1 + m) - previous * m)


class AdaGradSolver(Solver):
    type = 'AdaGrad'

    def compute_update(self, i, diff, local_rate):
        h = self.history[i]
        h.add_(diff * diff)
        diff.copy_(diff / (torch.sqrt(h) + self.param.delta) * local_rate)


class RMSPropSolver(Solver):
    type = 'RMSProp'

    def compute_update(self, i, diff, local_rate):
        decay = self.param.rms_decay
        h = self.history[i]
        h.mul_(decay).add_(diff * diff, alpha=1 - decay)
        diff.copy_(diff / (torch.sqrt(h) + self.param.delta) * local_rate)


class AdaDeltaSolver(Solver):
    type = 'AdaDelta'
    extra_history = 1

    def compute_update(self, i, diff, local_rate):
        m, delta = self.param.momentum, self.param.delta
        n = len(self.net.graph.learnable)
        grad_sq, update_sq = self.history[i], self.history[n + i]
        grad_sq.mul_(m).add_(diff * diff, alpha=1 - m)
        step = diff * torch.sqrt((update_sq + delta) / (grad_sq + delta))
        update_sq.mul_(m).add_(step * step, alpha=1 - m)
        diff.copy_(step * local_rate)


class AdamSolver(Solver):
    type = 'Adam'
    extra_history = 1

    def compute_update(self, i, diff, local_rate):
        b1, b2 = self.param.momentum, self.param.momentum2
        n = len(self.net.graph.learnable)
        m, v = self.history[i], self.history[n + i]
        t = self.iter + 1
        correction = math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        m.mul_(b1).add_(diff, alpha=1 - b1)
        v.mul_(b2).add_(diff * diff, alpha=1 - b2)
        diff.copy_(m / (torch.sqrt(v) + self.param.delta) * (local_rate * correction))


SOLVERS = {cls.type: cls for cls in (SGDSolver, NesterovSolver, AdaGradSolver, RMSPropSolver,
                                     AdaDeltaSolver, AdamSolver)}


def get_solver(source):
    """The solver a solver.prototxt asks for (`type`, or legacy `solver_type`; SGD by default)."""
    param, path = _read_solver(source)
    upgrade_solver(param)
    cls = SOLVERS.get(param.type)
    if cls is None:
        raise CaffeError('%s: unknown solver type %r (%s)'
                         % (path or 'solver', param.type, ', '.join(sorted(SOLVERS))))
    return cls(path if path else param)
