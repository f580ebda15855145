"""The engine against real BVLC Caffe's own numbers (tests/golden).

The contract is the one the project's golden checker applies (only the
public pycaffe API is used):

* net cases: Net(prototxt, weights, phase); inputs reshaped and filled from
  forward.npz; forward; every stored blob compared (Caffe's automatic split
  blobs, `*_split_N`, are an implementation detail and are not compared);
  then the stored top diffs are seeded, backward runs, and the stored param
  diffs and input diffs are compared, and the other blob diffs outside the
  positions whose value does not depend on the input (see PAD100_NETS);
* the V1 transplant case: a legacy V1 caffemodel gives `prob`; its weights
  copied flat into the fully convolutional twin give `prob_map`;
* solver cases: get_solver, init.caffemodel, fixed inputs, step(1) per
  iteration comparing the loss, the final parameters against Caffe's
  final.caffemodel, and a fresh solver restored from Caffe's own mid-run
  snapshot reproducing the rest of the run (for a case with Dropout, what Caffe's own restore
  gives, resume_losses.npy: Caffe does not save its random stream, so the masks restart from
  random_seed);
* rng cases: caffe.set_random_seed, Net(prototxt, phase) with its fillers compared to Caffe's
  filled parameters, then forwards whose Dropout layers must keep exactly Caffe's units.
  Caffe's CPU stream only: on a GPU Dropout draws from cuRAND in Caffe and torch here, so the
  cases that depend on Dropout masks are skipped in GPU mode.

Tolerances (max abs error / max abs reference) are those of
tests/golden/README.md.
"""
import json
import re
import shutil

import numpy as np
import pytest

import torchcaffe as caffe
from conftest import ON_GPU
from tc_helpers import BWD_TOL, FWD_TOL, GOLDEN, SOLVER_TOL, golden_net, input_layer, make_net, rel_err
from torchcaffe.proto import caffe_pb2

SPLIT = re.compile(r'_split_\d+$')

NET_CASES = sorted(p.relative_to(GOLDEN).as_posix()
                   for p in list((GOLDEN / 'layers').iterdir()) + list((GOLDEN / 'nets').iterdir())
                   if p.name != 'v1_classifier_transplant')
SOLVER_CASES = sorted(p.name for p in (GOLDEN / 'solvers').iterdir())
RNG_CASES = sorted(p.name for p in (GOLDEN / 'rng').iterdir())
DROPOUT_SOLVER_CASES = ('sgd_dropout_seeded',)   # trajectories that depend on Caffe's CPU Dropout masks


def _cpu_stream_only(case):
    if ON_GPU and case in DROPOUT_SOLVER_CASES + tuple(RNG_CASES):
        pytest.skip('Caffe draws GPU Dropout masks from cuRAND, which is not reproduced')

# FCN's VGG nets start with a pad-100 convolution: deep layers see wide borders computed from
# the padding alone, where max-pooling windows tie exactly and which tied element receives a
# diff depends on the last bits of Caffe's BLAS. Blob diffs are therefore compared outside the
# positions whose value does not depend on the net's input, as the project's golden checker
# does; parameter diffs and the inputs' own diffs are compared in full.
PAD100_NETS = ('nets/slim_fcn8s', 'nets/slim_fcn8s_atonce')


def _run_golden_net(case):
    d = GOLDEN / case
    net = golden_net(case)
    net.forward()
    return d, json.loads((d / 'meta.json').read_text()), np.load(d / 'forward.npz'), net


def _input_independent(net, fwd, inputs, names):
    """Per blob in `names`, a mask of the positions whose forward value does not depend on the
    net's input: those that stay bit-identical when the non-label inputs (any input with a
    non-integer value) get Gaussian noise, in each of two draws. Leaves the net's forward as
    it was."""
    rng = np.random.RandomState(2015)
    noisy = [k for k in inputs if np.any(fwd[k] != np.round(fwd[k]))]
    base = {k: np.array(net.blobs[k].data) for k in names}
    fixed = {k: np.ones(v.shape, bool) for k, v in base.items()}
    for _ in range(2):
        for k in noisy:
            net.blobs[k].data[...] = fwd[k] + rng.standard_normal(fwd[k].shape).astype(np.float32)
        net.forward()
        for k in names:
            fixed[k] &= np.asarray(net.blobs[k].data) == base[k]
    for k in noisy:
        net.blobs[k].data[...] = fwd[k]
    net.forward()
    return fixed


@pytest.mark.parametrize('case', NET_CASES)
def test_net_case(case):
    d, meta, fwd, net = _run_golden_net(case)
    compared = 0
    for k in fwd.files:
        if SPLIT.search(k):
            continue
        err = rel_err(net.blobs[k].data, fwd[k])
        assert err <= FWD_TOL, 'forward blob %s: rel err %.2e' % (k, err)
        compared += 1
    assert compared >= len(meta['outputs'])

    bpath = d / 'backward.npz'
    if not bpath.exists():
        return
    bwd = np.load(bpath)
    inner = [k[len('blob/'):] for k in bwd.files
             if k.startswith('blob/') and not SPLIT.search(k) and k[len('blob/'):] not in meta['inputs']]
    fixed = _input_independent(net, fwd, meta['inputs'], inner)
    for k in bwd.files:
        if k.startswith('top_diff/'):
            net.blobs[k.split('/', 1)[1]].diff[...] = bwd[k]
    net.backward()
    n_blob = n_param = skipped = 0
    for k in bwd.files:
        want = bwd[k]
        if k.startswith('blob/'):
            name = k[len('blob/'):]
            if SPLIT.search(name):
                continue
            got = net.blobs[name].diff
            mask = fixed.get(name)
            if mask is not None and mask.any():
                assert not mask.all(), 'blob %s: no position depends on the input' % name
                skipped += int(mask.sum())
                got, want = np.asarray(got).reshape(want.shape)[~mask], want[~mask]
            n_blob += 1
        elif k.startswith('param/'):
            _, layer, i = k.split('/')
            got = net.params[layer][int(i)].diff
            n_param += 1
        else:
            continue
        err = rel_err(got, want)
        assert err <= BWD_TOL, 'backward %s: rel err %.2e' % (k, err)
    assert n_blob + n_param > 0
    if case in PAD100_NETS:
        assert skipped > 0       # their input-independent border is found


def _tied_positive_windows(x):
    """How many 2x2/stride-2 windows (Caffe's ceil-mode edges included) have a positive maximum
    that occurs more than once."""
    n, c, h, w = x.shape
    padded = np.full((n, c, h + h % 2, w + w % 2), -np.inf, dtype=x.dtype)
    padded[:, :, :h, :w] = x
    win = padded.reshape(n, c, padded.shape[2] // 2, 2, padded.shape[3] // 2, 2)
    top = win.max(axis=(3, 5), keepdims=True)
    hits = (win == top).sum(axis=(3, 5))
    return int(((hits > 1) & (top[:, :, :, 0, :, 0] > 0)).sum())


@pytest.mark.parametrize('case', PAD100_NETS)
@pytest.mark.parametrize('bottom, top', [('conv4_3', 'pool4'), ('conv5_3', 'pool5')])
def test_tied_border_pooling_routes_as_caffe(case, bottom, top):
    """Fed Caffe's own forward values, MAX pooling sends each diff, tied windows included, to the
    position Caffe chose: the input-independent positions skipped above differ by rounding,
    not by another tie rule."""
    d = GOLDEN / case
    fwd, bwd = np.load(d / 'forward.npz'), np.load(d / 'backward.npz')
    x = fwd[bottom]
    assert _tied_positive_windows(x) > 0
    net = make_net('force_backward: true\n' + input_layer('x', x.shape) +
                   'layer { name: "p" type: "Pooling" bottom: "x" top: "y" '
                   'pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n')
    net.blobs['x'].data[...] = x
    net.forward()
    np.testing.assert_array_equal(net.blobs['y'].data, fwd[top])
    net.blobs['y'].diff[...] = bwd['blob/' + top]
    net.backward()
    # Caffe's stored diff is below the in-place ReLU that feeds the pool.
    np.testing.assert_array_equal(net.blobs['x'].diff * (x > 0), bwd['blob/' + bottom])


def test_every_case_is_collected():
    assert len([c for c in NET_CASES if c.startswith('layers/')]) >= 40
    assert len([c for c in NET_CASES if c.startswith('nets/')]) >= 4
    assert len(SOLVER_CASES) >= 5
    assert len(RNG_CASES) >= 2


def test_v1_classifier_transplant():
    d = GOLDEN / 'nets' / 'v1_classifier_transplant'
    exp = np.load(d / 'expected.npz')
    net = caffe.Net(str(d / 'classifier.prototxt'), str(d / 'classifier_v1.caffemodel'), caffe.TEST)
    net.blobs['data'].data[...] = exp['x']
    err = rel_err(net.forward()['prob'], exp['prob'])
    assert err <= FWD_TOL, 'V1 classifier prob: rel err %.2e' % err

    fnet = caffe.Net(str(d / 'fully_conv.prototxt'), caffe.TEST)
    for layer in ['conv1', 'fc6', 'fc7']:
        assert len(fnet.params[layer]) == 2
        for i in range(2):
            src, dst = net.params[layer][i].data, fnet.params[layer][i].data
            assert src.size == dst.size
            dst.flat = src.flat
    fnet.blobs['data'].data[...] = exp['x_big']
    err = rel_err(fnet.forward()['prob'], exp['prob_map'])
    assert err <= FWD_TOL, 'transplanted prob_map: rel err %.2e' % err


def _solver_copy(case, tmp_path, monkeypatch, sub):
    """A private copy of the case folder as the working directory (solvers write snapshots there)."""
    work = tmp_path / sub
    shutil.copytree(GOLDEN / 'solvers' / case, work)
    monkeypatch.chdir(work)
    meta = json.loads((work / 'meta.json').read_text())
    return work, meta, np.load('inputs.npz'), np.load('losses.npy')


def _feed(solver, inputs):
    for k in inputs.files:
        solver.net.blobs[k].data[...] = inputs[k]


def _steps(solver, n):
    losses = []
    for _ in range(n):
        solver.step(1)
        losses.append(float(np.asarray(solver.net.blobs['loss'].data)))
    return losses


def _assert_params_match(net, caffemodel, what):
    ref = caffe.Net('train.prototxt', caffemodel, caffe.TRAIN)
    assert list(ref.params) == list(net.params)
    for layer in ref.params:
        for i, p in enumerate(ref.params[layer]):
            err = rel_err(net.params[layer][i].data, p.data)
            assert err <= SOLVER_TOL, '%s param %s/%d: rel err %.2e' % (what, layer, i, err)


@pytest.mark.parametrize('case', SOLVER_CASES)
def test_solver_run(case, tmp_path, monkeypatch):
    _cpu_stream_only(case)
    work, meta, inputs, losses_ref = _solver_copy(case, tmp_path, monkeypatch, 'run')
    solver = caffe.get_solver('solver.prototxt')
    solver.net.copy_from('init.caffemodel')
    _feed(solver, inputs)
    losses = _steps(solver, meta['steps'])
    err = rel_err(losses, losses_ref)
    assert err <= SOLVER_TOL, 'losses rel err %.2e: got %s want %s' % (err, losses, losses_ref)
    assert solver.iter == meta['steps']
    _assert_params_match(solver.net, 'final.caffemodel', 'final')

    # Our own snapshot at K agrees with Caffe's (the pristine one in tests/golden).
    k = meta['snapshot_at']
    caffes = caffe.io.read_binary(GOLDEN / 'solvers' / case / ('snap_iter_%d.solverstate' % k),
                                  caffe_pb2.SolverState, 'solverstate')
    ours = caffe.io.read_binary('snap_iter_%d.solverstate' % k, caffe_pb2.SolverState,
                                'solverstate')
    assert ours.iter == caffes.iter == k
    assert ours.current_step == caffes.current_step
    assert len(ours.history) == len(caffes.history)
    for j, (h, hc) in enumerate(zip(ours.history, caffes.history)):
        err = rel_err(caffe.io.blobproto_to_array(h), caffe.io.blobproto_to_array(hc))
        assert err <= SOLVER_TOL, 'history blob %d at iter %d: rel err %.2e' % (j, k, err)
    snap_net = caffe.Net('train.prototxt', 'snap_iter_%d.caffemodel' % k, caffe.TRAIN)
    _assert_params_match(snap_net, str(GOLDEN / 'solvers' / case / ('snap_iter_%d.caffemodel' % k)),
                         'snapshot')


@pytest.mark.parametrize('case', SOLVER_CASES)
def test_solver_resume_from_caffe_snapshot(case, tmp_path, monkeypatch):
    # A fresh copy: the snapshot restored here is Caffe's own, not one we wrote.
    _cpu_stream_only(case)
    work, meta, inputs, losses_ref = _solver_copy(case, tmp_path, monkeypatch, 'resume')
    k = meta['snapshot_at']
    solver = caffe.get_solver('solver.prototxt')
    solver.restore('snap_iter_%d.solverstate' % k)
    assert solver.iter == k
    _feed(solver, inputs)
    rest = _steps(solver, meta['steps'] - k)
    if (work / 'resume_losses.npy').exists():
        # Caffe's restore leaves its random stream where random_seed put it: the Dropout masks
        # after the restore are those of the run's first iterations, so the run goes elsewhere.
        want = np.load('resume_losses.npy')
        assert rel_err(want, losses_ref[k:]) > SOLVER_TOL   # the case tells the two apart
    else:
        want = losses_ref[k:]
    err = rel_err(rest, want)
    assert err <= SOLVER_TOL, 'resume from snap_iter_%d: losses rel err %.2e' % (k, err)
    if want is losses_ref[k:]:
        _assert_params_match(solver.net, 'final.caffemodel', 'resumed final')


@pytest.mark.parametrize('case', RNG_CASES)
def test_rng_case(case):
    """Caffe's CPU random stream: the seeded fillers' values, then each Dropout forward's kept units."""
    _cpu_stream_only(case)
    d = GOLDEN / 'rng' / case
    meta = json.loads((d / 'meta.json').read_text())
    params, fwd = np.load(d / 'params.npz'), np.load(d / 'forward.npz')
    caffe.set_random_seed(meta['seed'])
    net = caffe.Net(str(d / 'net.prototxt'), getattr(caffe, meta['phase']))
    for key in params.files:
        layer, i = key.rsplit('/', 1)
        np.testing.assert_array_equal(net.params[layer][int(i)].data, params[key], err_msg=key)
    for k in range(meta['forwards']):
        net.blobs['data'].data[...] = fwd['data']
        net.forward()
        for key in [f for f in fwd.files if f.endswith('/%d' % k)]:
            got, want = net.blobs[key.rsplit('/', 1)[0]].data, fwd[key]
            np.testing.assert_array_equal(got == 0, want == 0, err_msg='forward %d: %s keeps other units' % (k, key))
            assert rel_err(got, want) <= FWD_TOL, key
