"""Solvers against Caffe's arithmetic, re-implemented in numpy here from
sgd_solver.cpp and the per-type ComputeUpdateValue: learning-rate policies,
every update rule with lr_mult/decay_mult, L1/L2 regularization, iter_size and
clip_gradients; plus solve(), snapshots and test nets."""
import math
import os
import textwrap

import numpy as np
import pytest

import torchcaffe as caffe
from tc_helpers import input_layer, rel_err, write
from torchcaffe.proto import caffe_pb2
from torchcaffe.solver import learning_rate

# -- learning-rate policies ---------------------------------------------------------------

POLICIES = {
    'fixed': ('', lambda it: 0.1),
    'step': ('stepsize: 4 gamma: 0.5', lambda it: 0.1 * 0.5 ** (it // 4)),
    'exp': ('gamma: 0.9', lambda it: 0.1 * 0.9 ** it),
    'inv': ('gamma: 0.01 power: 0.75', lambda it: 0.1 * (1 + 0.01 * it) ** -0.75),
    'multistep': ('gamma: 0.3 stepvalue: 3 stepvalue: 7 stepvalue: 8 stepvalue: 20',
                  lambda it: 0.1 * 0.3 ** sum(it >= v for v in (3, 7, 8, 20))),
    'poly': ('power: 1.5 max_iter: 30', lambda it: 0.1 * (1 - it / 30) ** 1.5),
    'sigmoid': ('gamma: 0.2 stepsize: 12', lambda it: 0.1 / (1 + math.exp(-0.2 * (it - 12)))),
}


def _solver_param(text):
    return caffe.io.parse_text(text, caffe_pb2.SolverParameter())


@pytest.mark.parametrize('policy', sorted(POLICIES))
def test_lr_policy_formulas(policy):
    extra, formula = POLICIES[policy]
    p = _solver_param('base_lr: 0.1 lr_policy: "%s" %s' % (policy, extra))
    step = 0
    for it in range(30):
        rate, step = learning_rate(p, it, step)
        assert math.isclose(rate, formula(it), rel_tol=1e-6), (it, rate, formula(it))


def test_negative_gamma_is_rejected():
    """Caffe's GetLearningRate CHECKs gamma >= 0 for every policy that uses gamma."""
    for policy in ['step', 'exp', 'inv', 'multistep', 'sigmoid']:
        p = _solver_param('base_lr: 0.1 lr_policy: "%s" gamma: -0.5 stepsize: 3 power: 1 stepvalue: 2' % policy)
        with pytest.raises(caffe.CaffeError, match='gamma'):
            learning_rate(p, 5, 0)


# -- a tiny problem whose gradients numpy can compute -------------------------------------

DATA_MODULE = textwrap.dedent('''
    import ast

    import numpy as np

    import torchcaffe as caffe


    def batches(seed, n):
        rng = np.random.RandomState(seed)
        return [(rng.randn(4, 3).astype(np.float32), rng.randint(0, 3, 4).astype(np.float32))
                for _ in range(n)]


    class Batches(caffe.Layer):
        """A data layer that cycles through n fixed batches, one per forward pass."""

        def setup(self, bottom, top):
            p = ast.literal_eval(self.param_str)
            self.batches = batches(p['seed'], p['n'])
            self.passes = 0

        def reshape(self, bottom, top):
            top[0].reshape(4, 3)
            top[1].reshape(4)

        def forward(self, bottom, top):
            x, label = self.batches[self.passes % len(self.batches)]
            top[0].data[...] = x
            top[1].data[...] = label
            self.passes += 1
''')

TRAIN_NET = '''
layer { name: "data" type: "Python" top: "data" top: "label"
  python_param { module: "%(module)s" layer: "Batches" param_str: "{'seed': 7, 'n': %(n)d}" } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.7 } bias_filler { type: "gaussian" std: 0.3 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
'''


def _grads(W, b, x, label):
    """Gradients of the mean softmax cross-entropy of (x W^T + b) w.r.t. W and b."""
    z = x.astype(np.float64) @ W.T + b
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d = (p - np.eye(3)[label.astype(int)]) / len(x)
    return [d.T @ x, d.sum(0)]


def _caffe_reference(kind, sp, W, b, batches, steps):
    """Caffe's Solver::Step + SGDSolver::ApplyUpdate + <kind>::ComputeUpdateValue, in float64."""
    params = [W.astype(np.float64), b.astype(np.float64)]
    lr_mult, decay_mult = [1.0, 2.0], [1.0, 0.0]
    n = len(params)
    history = [np.zeros_like(params[i % n]) for i in range(2 * n)]
    passes, step_state, clipped = 0, 0, 0
    for it in range(steps):
        diffs = [np.zeros_like(q) for q in params]
        for _ in range(sp.iter_size):
            x, label = batches[passes % len(batches)]
            passes += 1
            for d, g in zip(diffs, _grads(params[0], params[1], x, label)):
                d += g
        rate, step_state = learning_rate(sp, it, step_state)
        if sp.clip_gradients >= 0:
            norm = math.sqrt(sum(float((d ** 2).sum()) for d in diffs))
            if norm > sp.clip_gradients:
                clipped += 1
                diffs = [d * (sp.clip_gradients / norm) for d in diffs]
        for i, (q, d) in enumerate(zip(params, diffs)):
            d = d / sp.iter_size
            decay = sp.weight_decay * decay_mult[i]
            if decay:
                d = d + decay * (q if sp.regularization_type == 'L2' else np.sign(q))
            local = rate * lr_mult[i]
            h, h2 = history[i], history[n + i]
            if kind == 'SGD':
                h[...] = sp.momentum * h + local * d
                update = h.copy()
            elif kind == 'Nesterov':
                previous = h.copy()
                h[...] = sp.momentum * h + local * d
                update = (1 + sp.momentum) * h - sp.momentum * previous
            elif kind == 'AdaGrad':
                h += d * d
                update = local * d / (np.sqrt(h) + sp.delta)
            elif kind == 'RMSProp':
                h[...] = sp.rms_decay * h + (1 - sp.rms_decay) * d * d
                update = local * d / (np.sqrt(h) + sp.delta)
            elif kind == 'AdaDelta':
                h[...] = sp.momentum * h + (1 - sp.momentum) * d * d
                u = d * np.sqrt((h2 + sp.delta) / (h + sp.delta))
                h2[...] = sp.momentum * h2 + (1 - sp.momentum) * u * u
                update = local * u
            elif kind == 'Adam':
                b1, b2, t = sp.momentum, sp.momentum2, it + 1
                h[...] = b1 * h + (1 - b1) * d
                h2[...] = b2 * h2 + (1 - b2) * d * d
                update = local * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) * h / (np.sqrt(h2) + sp.delta)
            q -= update
    return params, clipped


UPDATE_CASES = {
    'sgd_l2': ('SGD', 'base_lr: 0.5 momentum: 0.9 weight_decay: 0.01', 1),
    'sgd_l1': ('SGD', 'base_lr: 0.5 momentum: 0.8 weight_decay: 0.05 regularization_type: "L1"', 1),
    'sgd_itersize_clip': ('SGD', 'base_lr: 1.0 momentum: 0.9 weight_decay: 0.01 iter_size: 3 clip_gradients: 0.2 '
                                 'lr_policy: "step" stepsize: 2 gamma: 0.5', 3),
    'nesterov': ('Nesterov', 'base_lr: 0.3 momentum: 0.9 weight_decay: 0.001', 1),
    'adagrad': ('AdaGrad', 'base_lr: 0.2 weight_decay: 0.01 delta: 1e-6', 1),
    'rmsprop': ('RMSProp', 'base_lr: 0.05 rms_decay: 0.9 weight_decay: 0.01 delta: 1e-6', 1),
    'adadelta': ('AdaDelta', 'base_lr: 1.0 momentum: 0.95 weight_decay: 0.01 delta: 1e-6', 1),
    'adam': ('Adam', 'base_lr: 0.05 momentum: 0.9 momentum2: 0.999 delta: 1e-8 lr_policy: "inv" gamma: 0.1 power: 0.5', 1),
    'adagrad_itersize_clip': ('AdaGrad', 'base_lr: 0.2 iter_size: 2 clip_gradients: 0.1', 2),
}


def _write_solver(tmp_path, pymodule, body, n_batches=3, name='solver.prototxt'):
    module = pymodule('tc_solver_data_%d' % n_batches, DATA_MODULE)
    write(tmp_path / 'train.prototxt', TRAIN_NET % {'module': module, 'n': n_batches})
    return write(tmp_path / name, 'net: "%s"\n%s\n' % (tmp_path / 'train.prototxt', body))


def _batches(module_name, n):
    import importlib
    return importlib.import_module(module_name).batches(7, n)


@pytest.mark.parametrize('case', sorted(UPDATE_CASES))
def test_update_rule_against_numpy(case, tmp_path, pymodule):
    kind, body, n = UPDATE_CASES[case]
    body = 'type: "%s" %s' % (kind, body)
    if 'lr_policy' not in body:
        body += ' lr_policy: "fixed"'
    path = _write_solver(tmp_path, pymodule, body, n_batches=n + 1)
    solver = caffe.get_solver(path)
    assert type(solver).__name__ == kind + 'Solver'
    W0, b0 = (solver.net.params['ip'][i].data.copy() for i in range(2))
    steps = 6
    solver.step(steps)
    assert solver.iter == steps
    sp = _solver_param(body)
    want, clipped = _caffe_reference(kind, sp, W0, b0, _batches('tc_solver_data_%d' % (n + 1), n + 1), steps)
    if sp.clip_gradients >= 0:
        assert clipped > 0          # the threshold really bites in this case
    moved = np.abs(want[0] - W0).max()
    assert moved > 1e-3                                # the reference really moved the weights
    for i in range(2):
        err = rel_err(solver.net.params['ip'][i].data, want[i])
        assert err < 1e-5, 'param %d: rel err %.2e' % (i, err)


def test_lr_mult_zero_is_never_updated(tmp_path, pymodule):
    path = _write_solver(tmp_path, pymodule, 'base_lr: 0.5 lr_policy: "fixed" momentum: 0.9 weight_decay: 0.1')
    text = open(tmp_path / 'train.prototxt').read().replace('param { lr_mult: 2 decay_mult: 0 }',
                                                            'param { lr_mult: 0 decay_mult: 1 }')
    write(tmp_path / 'train.prototxt', text)
    solver = caffe.get_solver(path)
    b0 = solver.net.params['ip'][1].data.copy()
    W0 = solver.net.params['ip'][0].data.copy()
    solver.step(3)
    assert np.array_equal(solver.net.params['ip'][1].data, b0)
    assert not np.array_equal(solver.net.params['ip'][0].data, W0)


def test_rate_used_by_a_running_solver(tmp_path):
    """Plain SGD on a loss linear in the weights: each step moves them by rate(it) * lr_mult * x."""
    write(tmp_path / 'train.prototxt', input_layer('data', (1, 3)) + '''
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "y" param { lr_mult: 3 }
  inner_product_param { num_output: 1 bias_term: false } }
layer { name: "lin" type: "Power" bottom: "y" top: "loss" loss_weight: 1 }
''')
    body = 'base_lr: 0.1 lr_policy: "multistep" gamma: 0.5 stepvalue: 2 stepvalue: 5 stepvalue: 6'
    path = write(tmp_path / 'solver.prototxt', 'train_net: "%s"\n%s\n' % (tmp_path / 'train.prototxt', body))
    solver = caffe.get_solver(path)
    x = np.array([[1.0, -2.0, 0.5]], np.float32)
    solver.net.blobs['data'].data[...] = x
    before = solver.net.params['ip'][0].data.copy()
    for it in range(8):
        solver.step(1)
        after = solver.net.params['ip'][0].data.copy()
        rate = 0.1 * 0.5 ** sum(it >= v for v in (2, 5, 6))
        np.testing.assert_allclose(before - after, 3 * rate * x, rtol=1e-5)
        before = after


@pytest.mark.parametrize('kind', ['AdaGrad', 'RMSProp'])
def test_momentum_is_rejected_where_caffe_rejects_it(kind, tmp_path, pymodule):
    """AdaGradSolver and RMSPropSolver CHECK that momentum is 0 (sgd_solvers.hpp)."""
    path = _write_solver(tmp_path, pymodule, 'type: "%s" base_lr: 0.1 lr_policy: "fixed" momentum: 0.9' % kind)
    with pytest.raises(caffe.CaffeError, match='momentum'):
        caffe.get_solver(path)


def test_legacy_solver_type_enum(tmp_path, pymodule):
    path = _write_solver(tmp_path, pymodule, 'solver_type: ADADELTA base_lr: 1 lr_policy: "fixed" momentum: 0.9')
    assert isinstance(caffe.get_solver(path), caffe.AdaDeltaSolver)
    assert isinstance(caffe.AdamSolver(path), caffe.AdamSolver)      # an explicit class wins


# -- solve(), snapshots ---------------------------------------------------------------------

def _files(folder):
    return sorted(f for f in os.listdir(folder) if f.endswith(('.caffemodel', '.solverstate')))


@pytest.mark.parametrize('snapshot,after_train,max_iter,expected_iters', [
    (0, True, 5, [5]),
    (2, True, 5, [2, 4, 5]),
    (2, True, 4, [2, 4]),
    (2, False, 5, [2, 4]),
    (0, False, 3, []),
])
def test_solve_to_max_iter_and_snapshot_after_train(tmp_path, pymodule, snapshot, after_train, max_iter,
                                                    expected_iters):
    body = ('base_lr: 0.1 lr_policy: "fixed" max_iter: %d snapshot: %d snapshot_after_train: %s '
            'snapshot_prefix: "%s"' % (max_iter, snapshot, 'true' if after_train else 'false', tmp_path / 'out' / 'run'))
    (tmp_path / 'out').mkdir()
    solver = caffe.get_solver(_write_solver(tmp_path, pymodule, body))
    solver.solve()
    assert solver.iter == max_iter
    want = sorted(['run_iter_%d.caffemodel' % i for i in expected_iters] +
                  ['run_iter_%d.solverstate' % i for i in expected_iters])
    assert _files(tmp_path / 'out') == want
    if expected_iters:
        last = expected_iters[-1]
        net = caffe.Net(str(tmp_path / 'train.prototxt'), str(tmp_path / 'out' / ('run_iter_%d.caffemodel' % last)),
                        caffe.TRAIN)
        if last == max_iter:
            assert np.array_equal(net.params['ip'][0].data, solver.net.params['ip'][0].data)


def test_solve_resumes_from_a_solverstate(tmp_path, pymodule):
    body = 'base_lr: 0.1 momentum: 0.9 lr_policy: "fixed" max_iter: 6 snapshot: 3 snapshot_prefix: "%s"' % (
        tmp_path / 'snap')
    path = _write_solver(tmp_path, pymodule, body, n_batches=1)
    full = caffe.get_solver(path)
    full.solve()
    resumed = caffe.get_solver(path)
    resumed.solve(str(tmp_path / 'snap_iter_3.solverstate'))
    assert resumed.iter == 6
    assert rel_err(resumed.net.params['ip'][0].data, full.net.params['ip'][0].data) < 1e-6


def test_snapshot_naming_and_default_prefix(tmp_path, pymodule, monkeypatch):
    sub = tmp_path / 'exp'
    sub.mkdir()
    path = _write_solver(sub, pymodule, 'base_lr: 0.1 lr_policy: "fixed"', name='my_solver.prototxt')
    solver = caffe.get_solver(path)
    assert solver.param.snapshot_prefix == str(sub / 'my_solver')
    solver.step(3)
    model, state = solver.snapshot()
    assert model == str(sub / 'my_solver_iter_3.caffemodel')
    assert state == str(sub / 'my_solver_iter_3.solverstate')
    assert _files(sub) == ['my_solver_iter_3.caffemodel', 'my_solver_iter_3.solverstate']
    # a relative solver path gives a relative prefix, resolved against the working directory like Caffe
    monkeypatch.chdir(sub)
    solver = caffe.get_solver('my_solver.prototxt')
    assert solver.param.snapshot_prefix == 'my_solver'
    solver.step(1)
    solver.snapshot()
    assert 'my_solver_iter_1.caffemodel' in _files(sub)


def test_snapshot_prefix_that_is_a_directory(tmp_path, pymodule):
    """Caffe's UpgradeSnapshotPrefixProperty: a prefix naming a directory gets the solver file's stem appended."""
    (tmp_path / 'snaps').mkdir()
    path = _write_solver(tmp_path, pymodule, 'base_lr: 0.1 lr_policy: "fixed" snapshot_prefix: "%s"'
                         % (tmp_path / 'snaps'), name='fcn_solver.prototxt')
    solver = caffe.get_solver(path)
    solver.step(1)
    solver.snapshot()
    assert _files(tmp_path / 'snaps') == ['fcn_solver_iter_1.caffemodel', 'fcn_solver_iter_1.solverstate']


# -- test nets --------------------------------------------------------------------------------

COUNTER_MODULE = textwrap.dedent('''
    import numpy as np

    import torchcaffe as caffe

    CALLS = []


    class Record(caffe.Layer):
        """Passes its bottom through and records each forward (with the value it saw)."""

        def reshape(self, bottom, top):
            top[0].reshape(*bottom[0].data.shape)

        def forward(self, bottom, top):
            CALLS.append(bottom[0].data.copy())
            top[0].data[...] = bottom[0].data
''')


def test_test_nets_share_weights_and_run_on_schedule(tmp_path, pymodule):
    counter = pymodule('tc_solver_counter', COUNTER_MODULE)
    data = pymodule('tc_solver_data_tn', DATA_MODULE)
    write(tmp_path / 'net.prototxt', TRAIN_NET % {'module': data, 'n': 2} + '''
layer { name: "rec" type: "Python" bottom: "ip" top: "seen" include { phase: TEST }
  python_param { module: "%s" layer: "Record" } }
layer { name: "train_only" type: "Power" bottom: "data" top: "unused" include { phase: TRAIN } }
''' % counter)
    path = write(tmp_path / 'solver.prototxt', 'net: "%s"\nbase_lr: 0.5\nlr_policy: "fixed"\nmomentum: 0.9\n'
                 'test_iter: 3\ntest_interval: 2\nmax_iter: 4\n' % (tmp_path / 'net.prototxt'))
    solver = caffe.get_solver(path)
    assert len(solver.test_nets) == 1
    test_net = solver.test_nets[0]
    assert test_net.phase == caffe.TEST
    assert 'rec' in test_net.layer_dict and 'train_only' not in test_net.layer_dict
    assert 'rec' not in solver.net.layer_dict
    import tc_solver_counter
    calls = tc_solver_counter.CALLS
    batches = _batches(data, 2)

    solver.step(1)                       # iteration 0: test_initialization runs the test net first
    assert len(calls) == 3
    solver.step(3)                       # iteration 2: tested again
    assert len(calls) == 6
    # what the test net saw at iteration 2 was computed with the train net's weights of that moment
    W, b = solver.net.params['ip'][0].data, solver.net.params['ip'][1].data
    assert not np.allclose(calls[0], calls[4])      # the same batch, seen before and after two updates
    solver.solve()                       # already at max_iter: only the final test pass
    assert len(calls) == 9
    for k in range(3):
        x = batches[(6 + k) % 2][0]
        np.testing.assert_allclose(calls[6 + k], x @ W.T + b, rtol=1e-5, atol=1e-6)
    assert np.array_equal(test_net.params['ip'][0].data, W)
    W[0, 0] += 1
    assert test_net.params['ip'][0].data[0, 0] == W[0, 0]       # one memory


def test_no_test_initialization(tmp_path, pymodule):
    counter = pymodule('tc_solver_counter2', COUNTER_MODULE)
    data = pymodule('tc_solver_data_ti', DATA_MODULE)
    write(tmp_path / 'net.prototxt', TRAIN_NET % {'module': data, 'n': 2} + '''
layer { name: "rec" type: "Python" bottom: "ip" top: "seen" include { phase: TEST }
  python_param { module: "%s" layer: "Record" } }
''' % counter)
    path = write(tmp_path / 'solver.prototxt', 'net: "%s"\nbase_lr: 0.5\nlr_policy: "fixed"\n'
                 'test_iter: 2\ntest_interval: 3\ntest_initialization: false\n' % (tmp_path / 'net.prototxt'))
    solver = caffe.get_solver(path)
    import tc_solver_counter2
    solver.step(3)
    assert len(tc_solver_counter2.CALLS) == 0
    solver.step(1)
    assert len(tc_solver_counter2.CALLS) == 2
