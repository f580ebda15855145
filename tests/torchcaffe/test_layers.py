"""Layer behaviours the golden data does not cover, each checked against an
independent numpy re-implementation of Caffe's layer code written here
(loops where Caffe loops), plus the weight fillers."""
import math

import numpy as np
import pytest
import torch

import torchcaffe as caffe
from tc_helpers import run_layer as run
from torchcaffe.fillers import fill
from torchcaffe.proto import caffe_pb2

RNG = np.random.RandomState


def close(got, want, atol=1e-5, rtol=1e-5):
    np.testing.assert_allclose(np.asarray(got, np.float64), np.asarray(want, np.float64), rtol=rtol, atol=atol)


# -- ArgMax -----------------------------------------------------------------------------

def argmax_ref(x, top_k, out_max_val, axis):
    """Caffe's ArgMaxLayer::Forward_cpu: sort (value, index) pairs with std::greater."""
    if axis is None:
        n = x.shape[0]
        flat = x.reshape(n, -1)
        shape = [n, 2 if out_max_val else 1, top_k] + [1] * max(0, x.ndim - 3)
        out = np.zeros((n, 2 if out_max_val else 1, top_k))
        for i in range(n):
            pairs = sorted(((flat[i, j], j) for j in range(flat.shape[1])), reverse=True)[:top_k]
            out[i, 0] = [j for _, j in pairs]
            if out_max_val:
                out[i, 1] = [v for v, _ in pairs]
        return out.reshape(shape)
    moved = np.moveaxis(x, axis, -1)
    out = np.zeros(moved.shape[:-1] + (top_k,))
    for idx in np.ndindex(moved.shape[:-1]):
        row = moved[idx]
        pairs = sorted(((row[j], j) for j in range(len(row))), reverse=True)[:top_k]
        out[idx] = [v for v, _ in pairs] if out_max_val else [j for _, j in pairs]
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize('top_k,out_max_val,axis', [
    (1, False, None), (3, False, None), (3, True, None), (1, True, None),
    (2, False, 1), (2, True, 1), (3, False, 3), (1, True, -1), (2, False, 0),
])
def test_argmax(top_k, out_max_val, axis):
    x = RNG(0).randint(0, 4, size=(3, 4, 2, 5)).astype(np.float32)      # many ties
    param = 'top_k: %d out_max_val: %s' % (top_k, 'true' if out_max_val else 'false')
    if axis is not None:
        param += ' axis: %d' % axis
    net = run('layer { name: "am" type: "ArgMax" bottom: "x" top: "y" argmax_param { %s } }' % param,
              {'x': x}, force=False)
    want = argmax_ref(x, top_k, out_max_val, None if axis is None else axis % 4)
    assert net.blobs['y'].data.shape == want.shape
    assert np.array_equal(net.blobs['y'].data, want)


def test_argmax_tie_goes_to_the_larger_index():
    x = np.array([[5, 1, 5, 0, 5]], np.float32)
    net = run('layer { name: "am" type: "ArgMax" bottom: "x" top: "y" argmax_param { top_k: 3 } }',
              {'x': x}, force=False)
    assert net.blobs['y'].data.ravel().tolist() == [4, 2, 0]


# -- Flatten, Reshape, Split, Silence, Concat -------------------------------------------------

@pytest.mark.parametrize('param,shape', [
    ('', (2, 60)), ('axis: 2', (2, 3, 20)), ('end_axis: 2', (2, 12, 5)),
    ('axis: 0 end_axis: 1', (6, 4, 5)), ('axis: -2', (2, 3, 20)),
])
def test_flatten(param, shape):
    x = RNG(1).randn(2, 3, 4, 5).astype(np.float32)
    g = RNG(2).randn(*shape).astype(np.float32)
    net = run('layer { name: "f" type: "Flatten" bottom: "x" top: "y" flatten_param { %s } }' % param,
              {'x': x}, top_diffs={'y': g})
    assert net.blobs['y'].data.shape == shape
    assert np.array_equal(net.blobs['y'].data, x.reshape(shape))
    assert np.array_equal(net.blobs['x'].diff, g.reshape(x.shape))


@pytest.mark.parametrize('param,shape', [
    ('shape { dim: 0 dim: -1 }', (2, 60)),
    ('shape { dim: 0 dim: 0 dim: -1 dim: 2 }', (2, 3, 10, 2)),
    ('shape { dim: -1 dim: 4 dim: 5 }', (6, 4, 5)),
    ('shape { dim: 0 dim: 0 dim: 2 dim: -1 }', (2, 3, 2, 10)),
    ('axis: 1 num_axes: 2 shape { dim: -1 }', (2, 12, 5)),
    ('axis: -1 shape { dim: 1 }', (2, 3, 4, 5, 1)),
    ('axis: -2 num_axes: 1 shape { dim: 5 dim: 1 }', (2, 3, 4, 5, 1)),
    ('axis: 1 num_axes: 0 shape { dim: 1 }', (2, 1, 3, 4, 5)),
    ('axis: 2 shape { dim: 0 dim: -1 }', (2, 3, 4, 5)),
])
def test_reshape(param, shape):
    x = RNG(3).randn(2, 3, 4, 5).astype(np.float32)
    g = RNG(4).randn(*shape).astype(np.float32)
    net = run('layer { name: "r" type: "Reshape" bottom: "x" top: "y" reshape_param { %s } }' % param,
              {'x': x}, top_diffs={'y': g})
    assert net.blobs['y'].data.shape == shape
    assert np.array_equal(net.blobs['y'].data, x.reshape(shape))
    assert np.array_equal(net.blobs['x'].diff, g.reshape(x.shape))


def test_split_copies_forward_and_sums_backward():
    x = RNG(5).randn(2, 3).astype(np.float32)
    g = [RNG(6 + i).randn(2, 3).astype(np.float32) for i in range(3)]
    net = run('layer { name: "s" type: "Split" bottom: "x" top: "a" top: "b" top: "c" }', {'x': x},
              top_diffs=dict(zip('abc', g)))
    for t in 'abc':
        assert np.array_equal(net.blobs[t].data, x)
    close(net.blobs['x'].diff, g[0] + g[1] + g[2], atol=1e-6)


def test_silence_consumes_and_passes_no_gradient():
    x = RNG(9).randn(2, 3).astype(np.float32)
    layers = '''
layer { name: "sq" type: "Power" bottom: "x" top: "y" loss_weight: 1 power_param { power: 2 } }
layer { name: "quiet" type: "Silence" bottom: "x" }
'''
    net = run(layers, {'x': x}, top_diffs={})
    assert net.outputs == ['y']                 # a silenced blob is not an output
    close(net.blobs['x'].diff, 2 * x, atol=1e-6)


@pytest.mark.parametrize('axis', [0, 1, 2, -1])
def test_concat_forward_and_backward(axis):
    shapes = []
    for n in (2, 3, 1):
        s = [2, 3, 4]
        s[axis] = n
        shapes.append(tuple(s))
    xs = {'x%d' % i: RNG(10 + i).randn(*s).astype(np.float32) for i, s in enumerate(shapes)}
    want = np.concatenate(list(xs.values()), axis)
    g = RNG(20).randn(*want.shape).astype(np.float32)
    param = 'concat_param { axis: %d }' % axis
    net = run('layer { name: "c" type: "Concat" bottom: "x0" bottom: "x1" bottom: "x2" top: "y" %s }' % param,
              xs, top_diffs={'y': g})
    assert np.array_equal(net.blobs['y'].data, want)
    pieces = np.split(g, np.cumsum([s[axis] for s in shapes])[:-1], axis)
    for i, piece in enumerate(pieces):
        assert np.array_equal(net.blobs['x%d' % i].diff, piece)


# -- Scale, InnerProduct ---------------------------------------------------------------------

def test_scale_with_two_bottoms_and_bias():
    x = RNG(21).randn(2, 3, 4, 5).astype(np.float32)
    s = RNG(22).randn(3, 4).astype(np.float32)
    g = RNG(23).randn(2, 3, 4, 5).astype(np.float32)
    layer = '''layer { name: "sc" type: "Scale" bottom: "x" bottom: "s" top: "y"
      scale_param { axis: 1 bias_term: true bias_filler { type: "gaussian" std: 1 } } }'''
    net = run(layer, {'x': x, 's': s}, top_diffs={'y': g})
    bias = net.params['sc'][0].data
    assert len(net.params['sc']) == 1 and bias.shape == (3, 4)
    close(net.blobs['y'].data, x * s[None, :, :, None] + bias[None, :, :, None])
    close(net.blobs['x'].diff, g * s[None, :, :, None])
    close(net.blobs['s'].diff, (g * x).sum((0, 3)))
    close(net.params['sc'][0].diff, g.sum((0, 3)))


SCALE_CASES = [
    # scale_param, scale blob shape, how it broadcasts over (2, 3, 4, 5), the axes its diff sums over
    ('axis: 1', (3,), lambda s: s[None, :, None, None], (0, 2, 3)),           # num_axes defaults to 1
    ('axis: 1 num_axes: -1', (3, 4, 5), lambda s: s[None], (0,)),
    ('axis: 0 num_axes: 2', (2, 3), lambda s: s[:, :, None, None], (2, 3)),
    ('num_axes: 0', (), lambda s: s, (0, 1, 2, 3)),
    ('axis: -1 num_axes: 1', (5,), lambda s: s, (0, 1, 2)),
]


@pytest.mark.parametrize('param,scale_shape,expand,reduce_axes', SCALE_CASES, ids=[c[0] for c in SCALE_CASES])
def test_scale_learned_with_bias(param, scale_shape, expand, reduce_axes):
    x = RNG(24).randn(2, 3, 4, 5).astype(np.float32)
    g = RNG(25).randn(2, 3, 4, 5).astype(np.float32)
    layer = '''layer { name: "sc" type: "Scale" bottom: "x" top: "y" scale_param { %s bias_term: true
      filler { type: "uniform" min: -2 max: 2 } bias_filler { type: "uniform" min: -1 max: 1 } } }''' % param
    net = run(layer, {'x': x}, top_diffs={'y': g})
    scale, bias = net.params['sc'][0].data, net.params['sc'][1].data
    assert scale.shape == scale_shape and bias.shape == scale_shape
    close(net.blobs['y'].data, x * expand(scale) + expand(bias))
    close(net.blobs['x'].diff, g * expand(scale))
    close(net.params['sc'][0].diff, (g * x).sum(reduce_axes).reshape(scale_shape), atol=1e-4)
    close(net.params['sc'][1].diff, g.sum(reduce_axes).reshape(scale_shape), atol=1e-4)


def test_scale_default_filler_is_one():
    x = RNG(26).randn(2, 3).astype(np.float32)
    net = run('layer { name: "sc" type: "Scale" bottom: "x" top: "y" }', {'x': x})
    assert np.all(net.params['sc'][0].data == 1) and np.array_equal(net.blobs['y'].data, x)


@pytest.mark.parametrize('axis,transpose', [(1, False), (2, False), (1, True), (-1, True), (3, False)])
def test_inner_product_axis_and_transpose(axis, transpose):
    x = RNG(27).randn(2, 3, 4, 5).astype(np.float32)
    a = axis % 4
    lead, k = x.shape[:a], int(np.prod(x.shape[a:]))
    g = RNG(28).randn(*(lead + (6,))).astype(np.float32)
    layer = '''layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" inner_product_param {
      num_output: 6 axis: %d transpose: %s weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } } }
    ''' % (axis, 'true' if transpose else 'false')
    net = run(layer, {'x': x}, top_diffs={'y': g})
    W, b = net.params['ip'][0].data, net.params['ip'][1].data
    assert W.shape == ((k, 6) if transpose else (6, k))
    Wm = W if transpose else W.T                       # (k, 6)
    flat, gf = x.reshape(-1, k), g.reshape(-1, 6)
    close(net.blobs['y'].data, (flat @ Wm + b).reshape(lead + (6,)), atol=1e-4)
    close(net.blobs['x'].diff, (gf @ Wm.T).reshape(x.shape), atol=1e-4)
    dW = flat.T @ gf
    close(net.params['ip'][0].diff, dW if transpose else dW.T, atol=1e-4)
    close(net.params['ip'][1].diff, gf.sum(0), atol=1e-4)


# -- Eltwise MAX tie rule, Dropout -----------------------------------------------------------

def eltwise_max_ref(xs, g):
    """Caffe: bottom 0 wins only if strictly greater than bottom 1; later bottoms only if strictly greater."""
    top = np.where(xs[0] > xs[1], xs[0], xs[1])
    mask = np.where(xs[0] > xs[1], 0, 1)
    for i, x in enumerate(xs[2:], 2):
        mask = np.where(x > top, i, mask)
        top = np.where(x > top, x, top)
    return top, [np.where(mask == i, g, 0) for i in range(len(xs))]


@pytest.mark.parametrize('n', [2, 3])
def test_eltwise_max_ties(n):
    xs = [RNG(30 + i).randint(0, 3, size=(4, 5)).astype(np.float32) for i in range(n)]
    assert np.any(xs[0] == xs[1])
    g = RNG(40).randn(4, 5).astype(np.float32)
    bottoms = ' '.join('bottom: "x%d"' % i for i in range(n))
    net = run('layer { name: "m" type: "Eltwise" %s top: "y" eltwise_param { operation: MAX } }' % bottoms,
              {'x%d' % i: x for i, x in enumerate(xs)}, top_diffs={'y': g})
    top, diffs = eltwise_max_ref(xs, g)
    assert np.array_equal(net.blobs['y'].data, top)
    for i in range(n):
        assert np.array_equal(net.blobs['x%d' % i].diff, diffs[i]), i


def test_eltwise_max_tie_gradient_goes_to_bottom_1():
    a = np.array([[1, 2, 3]], np.float32)
    b = np.array([[1, 5, 3]], np.float32)
    net = run('layer { name: "m" type: "Eltwise" bottom: "a" bottom: "b" top: "y" eltwise_param { operation: MAX } }',
              {'a': a, 'b': b}, top_diffs={'y': np.ones((1, 3), np.float32)})
    assert net.blobs['a'].diff.tolist() == [[0, 0, 0]]
    assert net.blobs['b'].diff.tolist() == [[1, 1, 1]]


@pytest.mark.parametrize('in_place', [False, True])
def test_dropout_train_scales_and_shares_its_mask(in_place):
    ratio = 0.3
    x = RNG(41).rand(20, 50).astype(np.float32) + 0.5      # no zeros of its own
    g = RNG(42).randn(20, 50).astype(np.float32)
    top = 'x' if in_place else 'y'
    layer = 'layer { name: "d" type: "Dropout" bottom: "x" top: "%s" dropout_param { dropout_ratio: %g } }' % (top, ratio)
    net = run(layer, {'x': x}, phase=caffe.TRAIN)
    y = net.blobs[top].data.copy()
    kept = y != 0
    assert 0.6 < kept.mean() < 0.8                              # about 1 - ratio kept
    close(y[kept], (x / (1 - ratio))[kept], rtol=1e-6, atol=0)
    net.blobs[top].diff[...] = g
    net.backward()
    dx = net.blobs['x'].diff
    close(dx, np.where(kept, g / (1 - ratio), 0), rtol=1e-6, atol=0)   # the same units are dropped
    net.blobs['x'].data[...] = x
    net.forward()
    assert not np.array_equal(net.blobs[top].data != 0, kept)      # a new mask each pass


def test_dropout_test_is_identity():
    x = RNG(43).randn(4, 50).astype(np.float32)
    g = RNG(44).randn(4, 50).astype(np.float32)
    net = run('layer { name: "d" type: "Dropout" bottom: "x" top: "y" dropout_param { dropout_ratio: 0.7 } }',
              {'x': x}, phase=caffe.TEST, top_diffs={'y': g})
    assert np.array_equal(net.blobs['y'].data, x)
    assert np.array_equal(net.blobs['x'].diff, g)


# -- SoftmaxWithLoss, Accuracy -----------------------------------------------------------------

def softmax_loss_ref(x, label, mode, ignore):
    """Caffe's SoftmaxWithLossLayer over axis 1 of (N, C, H, W): loss, prob, bottom diff."""
    z = x.astype(np.float64)
    prob = np.exp(z - z.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    n, c, h, w = x.shape
    lab = label.reshape(n, h, w).astype(int)
    valid = np.ones_like(lab, bool) if ignore is None else lab != ignore
    loss, count = 0.0, 0
    diff = prob.copy()
    for i, y, xx in np.ndindex(n, h, w):
        if not valid[i, y, xx]:
            diff[i, :, y, xx] = 0
            continue
        loss -= math.log(max(prob[i, lab[i, y, xx], y, xx], np.finfo(np.float32).tiny))
        diff[i, lab[i, y, xx], y, xx] -= 1
        count += 1
    norm = {'FULL': n * h * w, 'VALID': count, 'BATCH_SIZE': n, 'NONE': 1}[mode]
    norm = max(1.0, norm)
    return loss / norm, prob, diff / norm


@pytest.mark.parametrize('mode', ['FULL', 'VALID', 'BATCH_SIZE', 'NONE'])
@pytest.mark.parametrize('ignore', [None, 255])
def test_softmax_loss_normalization_and_ignore_label(mode, ignore):
    x = RNG(45).randn(2, 4, 3, 5).astype(np.float32) * 3
    label = RNG(46).randint(0, 4, size=(2, 1, 3, 5)).astype(np.float32)
    if ignore is not None:
        label[0, 0, 1, :] = ignore
        label[1, 0, :, 2] = ignore
    lp = 'normalization: %s' % mode + ('' if ignore is None else ' ignore_label: %d' % ignore)
    layer = ('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" top: "prob" '
             'loss_param { %s } }' % lp)
    net = run(layer, {'x': x, 'label': label}, top_diffs={})
    loss, prob, diff = softmax_loss_ref(x, label, mode, ignore)
    close(net.blobs['loss'].data, loss, rtol=1e-5, atol=0)
    close(net.blobs['prob'].data, prob, atol=1e-6)
    close(net.blobs['x'].diff, diff, atol=1e-6)
    assert np.all(net.blobs['label'].diff == 0)


def test_softmax_loss_all_ignored_is_zero_not_nan():
    x = RNG(47).randn(2, 3, 2, 2).astype(np.float32)
    label = np.full((2, 1, 2, 2), 255, np.float32)
    net = run('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" '
              'loss_param { ignore_label: 255 } }', {'x': x, 'label': label}, top_diffs={})
    assert float(net.blobs['loss'].data) == 0
    assert np.all(net.blobs['x'].diff == 0)


@pytest.mark.parametrize('normalize,mode', [(False, 'BATCH_SIZE'), (True, 'VALID')])
def test_softmax_loss_legacy_normalize_flag(normalize, mode):
    x = RNG(48).randn(2, 3, 2, 2).astype(np.float32)
    label = RNG(49).randint(0, 3, size=(2, 1, 2, 2)).astype(np.float32)
    label[0, 0, 0, 0] = 255
    layer = ('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" '
             'loss_param { ignore_label: 255 normalize: %s } }' % ('true' if normalize else 'false'))
    net = run(layer, {'x': x, 'label': label})
    close(net.blobs['loss'].data, softmax_loss_ref(x, label, mode, 255)[0], rtol=1e-5, atol=0)


def sequential_f32_sum(values):
    """A float32 running sum, one value at a time, as a C++ `Dtype loss; loss += v` loop."""
    total = np.float32(0)
    for v in np.asarray(values, np.float32).ravel():
        total = np.float32(total + v)
    return total


def test_caffe_loss_sum_is_sequential_float32():
    """numpy's add.accumulate does not regroup float32 additions; torch's sum does (pairwise)."""
    from torchcaffe.layers.loss import _caffe_loss_sum
    terms = torch.from_numpy(RNG(60).rand(3, 4000).astype(np.float32) * 3)
    want = sequential_f32_sum(terms.numpy())
    got = _caffe_loss_sum(terms)
    assert got.dtype == torch.float32 and got.item() == want
    assert terms.sum().item() != want               # the order matters at this size


@pytest.mark.parametrize('normalize', [True, False])
def test_softmax_loss_reports_caffe_cpu_sum(normalize):
    """Forward_cpu's loss over a 500x500 map: -log(max(prob, FLT_MIN)) subtracted pixel by pixel
    from a float32 in (n, spatial) order, skipping ignored pixels, then divided by
    Dtype(normalizer) (VALID count, or N = 1 for normalize: false). Per-pixel logs from two
    libraries may differ in their last bit, so the match is to one ulp of the loss; the exact
    sum lies tens of ulps away."""
    rng = RNG(61)
    x = (rng.randn(1, 4, 500, 500) * 2).astype(np.float32)
    label = rng.randint(0, 4, size=(1, 1, 500, 500)).astype(np.float32)
    label[rng.rand(*label.shape) < 0.1] = 255
    layer = ('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" top: "prob" '
             'loss_param { ignore_label: 255 normalize: %s } }' % ('true' if normalize else 'false'))
    net = run(layer, {'x': x, 'label': label}, force=False)
    prob = net.blobs['prob'].data.reshape(4, -1)
    lab = label.reshape(-1).astype(int)
    tiny = np.finfo(np.float32).tiny
    loss, count, terms = np.float32(0), 0, []
    for j in np.flatnonzero(lab != 255):
        v = np.log(max(prob[lab[j], j], tiny))
        loss = np.float32(loss - v)
        terms.append(float(v))
        count += 1
    normalizer = np.float32(count if normalize else 1)
    want = np.float32(loss / normalizer)
    got = np.float32(net.blobs['loss'].data)
    exact = -math.fsum(terms) / float(normalizer)
    assert abs(got - want) <= np.spacing(want)
    assert abs(exact - want) > 20 * np.spacing(want)


def test_softmax_loss_of_zero_scores_as_caffe_reported_it():
    """Caffe's CPU run on the first shapes image: zero scores over 4 classes and 96,212 valid
    pixels reported loss 1.384829, not log 4 = 1.386294 (its float32 running sum drifts)."""
    label = np.full((1, 1, 400, 300), 255, np.float32)
    label.reshape(-1)[RNG(62).permutation(label.size)[:96212]] = 1
    net = run('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" '
              'loss_param { ignore_label: 255 } }',
              {'x': np.zeros((1, 4, 400, 300), np.float32), 'label': label}, force=False)
    assert round(float(net.blobs['loss'].data), 6) == 1.384829


def accuracy_ref(x, label, top_k, ignore):
    """Caffe's AccuracyLayer over axis 1: scores >= the true score count as better (the true class too)."""
    n, c = x.shape[:2]
    xs = x.reshape(n, c, -1)
    lab = label.reshape(n, -1).astype(int)
    hits = np.zeros(c)
    totals = np.zeros(c)
    correct = count = 0
    for i in range(n):
        for j in range(xs.shape[2]):
            y = lab[i, j]
            if ignore is not None and y == ignore:
                continue
            totals[y] += 1
            better = -1
            for k in range(c):
                if better >= top_k:
                    break
                better += xs[i, k, j] >= xs[i, y, j]
            if better < top_k:
                correct += 1
                hits[y] += 1
            count += 1
    per_class = np.where(totals > 0, hits / np.maximum(totals, 1), 0)
    return (correct / count if count else 0), per_class


@pytest.mark.parametrize('top_k', [1, 2, 3])
@pytest.mark.parametrize('ignore', [None, 1])
def test_accuracy_ties_top_k_and_per_class(top_k, ignore):
    x = RNG(50).randint(0, 3, size=(6, 5, 2, 3)).astype(np.float32)     # many ties
    label = RNG(51).randint(0, 5, size=(6, 1, 2, 3)).astype(np.float32)
    label[0, 0, 0, 0] = 4
    lp = 'top_k: %d' % top_k + ('' if ignore is None else ' ignore_label: %d' % ignore)
    net = run('layer { name: "acc" type: "Accuracy" bottom: "x" bottom: "label" top: "acc" top: "per" '
              'accuracy_param { %s } }' % lp, {'x': x, 'label': label}, force=False)
    acc, per = accuracy_ref(x, label, top_k, ignore)
    close(net.blobs['acc'].data, acc, atol=1e-7)
    assert net.blobs['per'].data.shape == (5,)
    close(net.blobs['per'].data, per, atol=1e-7)


def test_accuracy_tie_with_the_true_class_counts_against_it():
    x = np.array([[1, 1, 0]], np.float32)
    net = run('layer { name: "acc" type: "Accuracy" bottom: "x" bottom: "label" top: "acc" }',
              {'x': x, 'label': np.array([1], np.float32)}, force=False)
    assert float(net.blobs['acc'].data) == 0          # class 0 ties class 1: 1 "better" prediction
    net = run('layer { name: "acc" type: "Accuracy" bottom: "x" bottom: "label" top: "acc" accuracy_param { top_k: 2 } }',
              {'x': x, 'label': np.array([1], np.float32)}, force=False)
    assert float(net.blobs['acc'].data) == 1


# -- Pooling (values, diffs and the sweep: test_geometry.py) ----------------------------

def test_pooling_output_sizes():
    """The size rule alone: ceil, and the last window dropped when it starts in the padding."""
    for H, k, s, p, want in [(7, 2, 2, 0, 4), (4, 4, 3, 2, 2), (5, 3, 4, 2, 2), (6, 3, 2, 1, 4), (224, 2, 2, 0, 112),
                             (13, 3, 2, 0, 6), (500 + 198, 2, 2, 0, 349)]:
        net = run('layer { name: "pool" type: "Pooling" bottom: "x" top: "y" pooling_param { pool: MAX '
                  'kernel_size: %d stride: %d pad: %d } }' % (k, s, p), {'x': np.zeros((1, 1, H, 3), np.float32)},
                  force=False)
        assert net.blobs['y'].data.shape[2] == want, (H, k, s, p)


# -- Deconvolution with groups ----------------------------------------------------------------

def deconv_ref(x, w, b, stride, pad, group, g):
    n, C, H, W = x.shape
    _, og, kh, kw = w.shape
    cg = C // group
    full = np.zeros((n, og * group, (H - 1) * stride + kh, (W - 1) * stride + kw))
    for c in range(C):
        grp = c // cg
        for o in range(og):
            for i in range(H):
                for j in range(W):
                    full[:, grp * og + o, i * stride:i * stride + kh, j * stride:j * stride + kw] += \
                        x[:, c, i, j][:, None, None] * w[c, o]
    OH, OW = full.shape[2] - 2 * pad, full.shape[3] - 2 * pad
    y = full[:, :, pad:pad + OH, pad:pad + OW] + b[None, :, None, None]
    gf = np.zeros_like(full)
    gf[:, :, pad:pad + OH, pad:pad + OW] = g
    dx, dw = np.zeros_like(x, dtype=np.float64), np.zeros_like(w, dtype=np.float64)
    for c in range(C):
        grp = c // cg
        for o in range(og):
            for i in range(H):
                for j in range(W):
                    patch = gf[:, grp * og + o, i * stride:i * stride + kh, j * stride:j * stride + kw]
                    dx[:, c, i, j] += (patch * w[c, o]).sum((1, 2))
                    dw[c, o] += (patch * x[:, c, i, j][:, None, None]).sum(0)
    return y, dx, dw, g.sum((0, 2, 3))


@pytest.mark.parametrize('group,stride,pad', [(2, 2, 1), (3, 3, 0), (1, 2, 2)])
def test_deconvolution_with_groups(group, stride, pad):
    C, O = 6, 6 if group != 3 else 9
    x = RNG(56).randn(2, C, 4, 3).astype(np.float32)
    layer = '''layer { name: "up" type: "Deconvolution" bottom: "x" top: "y" convolution_param {
      num_output: %d group: %d kernel_size: 4 stride: %d pad: %d
      weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } } }''' % (O, group, stride, pad)
    net = run(layer, {'x': x})
    w, b = net.params['up'][0].data, net.params['up'][1].data
    assert w.shape == (C, O // group, 4, 4)
    OH, OW = (4 - 1) * stride - 2 * pad + 4, (3 - 1) * stride - 2 * pad + 4
    assert net.blobs['y'].data.shape == (2, O, OH, OW)
    g = RNG(57).randn(2, O, OH, OW).astype(np.float32)
    net.blobs['y'].diff[...] = g
    net.backward()
    y, dx, dw, db = deconv_ref(x, w, b, stride, pad, group, g)
    close(net.blobs['y'].data, y, atol=1e-4)
    close(net.blobs['x'].diff, dx, atol=1e-4)
    close(net.params['up'][0].diff, dw, atol=1e-4)
    close(net.params['up'][1].diff, db, atol=1e-4)


# -- Power, Sigmoid, TanH -------------------------------------------------------------------

@pytest.mark.parametrize('power,scale,shift', [
    (2, 1, 0), (3, 0.5, -1), (0.5, 2, 3), (1, -2, 0.5), (0, 3, 1), (2, 0, 1.5), (-1, 1, 4),
])
def test_power_forward_and_backward(power, scale, shift):
    x = RNG(58).rand(3, 4).astype(np.float32) * 2     # keeps shift + scale x positive where power < 1
    g = RNG(59).randn(3, 4).astype(np.float32)
    net = run('layer { name: "p" type: "Power" bottom: "x" top: "y" power_param { power: %g scale: %g shift: %g } }'
              % (power, scale, shift), {'x': x}, top_diffs={'y': g})
    base = shift + scale * x.astype(np.float64)
    close(net.blobs['y'].data, base ** power, rtol=1e-5, atol=1e-6)
    dx = np.zeros_like(base) if power == 0 or scale == 0 else g * power * scale * base ** (power - 1)
    close(net.blobs['x'].diff, dx, rtol=1e-5, atol=1e-5)


def test_sigmoid_and_tanh_backward():
    x = RNG(60).randn(3, 5).astype(np.float32) * 3
    g = RNG(61).randn(3, 5).astype(np.float32)
    net = run('layer { name: "s" type: "Sigmoid" bottom: "x" top: "s" }\n'
              'layer { name: "t" type: "TanH" bottom: "x" top: "t" }', {'x': x.copy()},
              top_diffs={'s': g, 't': 2 * g})
    s = 1 / (1 + np.exp(-x.astype(np.float64)))
    t = np.tanh(x.astype(np.float64))
    close(net.blobs['s'].data, s, atol=1e-6)
    close(net.blobs['t'].data, t, atol=1e-6)
    close(net.blobs['x'].diff, g * s * (1 - s) + 2 * g * (1 - t * t), atol=1e-5)


# -- fillers ---------------------------------------------------------------------------------

def _filler(**kw):
    return caffe_pb2.FillerParameter(**kw)


def test_default_filler_is_constant_zero():
    assert _filler().type == 'constant' and _filler().value == 0
    net = run('layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 3 } }\n'
              'layer { name: "conv" type: "Convolution" bottom: "z" top: "c" convolution_param { num_output: 2 kernel_size: 1 } }',
              {'x': np.ones((2, 4), np.float32), 'z': np.ones((1, 3, 2, 2), np.float32)}, force=False)
    for blobs in net.params.values():
        for b in blobs:
            assert np.all(b.data == 0)
    assert np.all(net.blobs['y'].data == 0)


def test_constant_filler_value():
    assert torch.equal(fill(_filler(type='constant', value=2.5), (3, 4)), torch.full((3, 4), 2.5))


def test_gaussian_filler_mean_and_std():
    t = fill(_filler(type='gaussian', mean=2.0, std=3.0), (400, 500)).numpy()
    assert t.dtype == np.float32
    assert abs(t.mean() - 2.0) < 0.05 and abs(t.std() - 3.0) < 0.05


def test_uniform_filler_range():
    t = fill(_filler(type='uniform', min=-0.5, max=1.5), (300, 300)).numpy()
    assert t.min() >= -0.5 and t.max() <= 1.5
    assert abs(t.mean() - 0.5) < 0.02 and abs(t.var() - 4 / 12) < 0.02


@pytest.mark.parametrize('norm', ['FAN_IN', 'FAN_OUT', 'AVERAGE'])
def test_xavier_and_msra_variance(norm):
    shape = (64, 32, 5, 5)                       # fan_in = 32 * 25, fan_out = 64 * 25
    fan_in, fan_out = 32 * 25, 64 * 25
    n = {'FAN_IN': fan_in, 'FAN_OUT': fan_out, 'AVERAGE': (fan_in + fan_out) / 2}[norm]
    vn = caffe_pb2.FillerParameter.VarianceNorm.Value(norm)
    x = fill(_filler(type='xavier', variance_norm=vn), shape).numpy()
    bound = math.sqrt(3 / n)
    assert np.abs(x).max() <= bound and np.abs(x).max() > 0.99 * bound      # uniform(-a, a), a = sqrt(3/n)
    assert abs(x.var() * n - 1) < 0.05
    m = fill(_filler(type='msra', variance_norm=vn), shape).numpy()
    assert abs(m.mean()) < 0.1 * math.sqrt(2 / n)
    assert abs(m.var() * n / 2 - 1) < 0.05


def test_xavier_default_is_fan_in():
    x = fill(_filler(type='xavier'), (10, 300)).numpy()
    assert np.abs(x).max() <= math.sqrt(3 / 300)
    assert np.abs(x).max() > 0.99 * math.sqrt(3 / 300)


def bilinear_ref(k):
    """Caffe's BilinearFiller, in single precision like Caffe's Dtype=float."""
    f = math.ceil(k / 2.0)
    c = np.float32((k - 1) / (2.0 * f))
    out = np.zeros((k, k), np.float32)
    for y in range(k):
        for x in range(k):
            out[y, x] = (1 - abs(np.float32(x) / f - c)) * (1 - abs(np.float32(y) / f - c))
    return out


@pytest.mark.parametrize('k', [2, 3, 4, 16, 32, 64])
def test_bilinear_filler_exact(k):
    t = fill(_filler(type='bilinear'), (3, 1, k, k)).numpy()
    for ch in range(3):
        assert np.array_equal(t[ch, 0], bilinear_ref(k)), ch
    if k == 4:     # the 2x upsampling kernel, written out
        row = np.array([0.25, 0.75, 0.75, 0.25], np.float32)
        assert np.array_equal(t[0, 0], np.outer(row, row))


@pytest.mark.parametrize('k', [5, 7])
def test_bilinear_filler_odd(k):
    t = fill(_filler(type='bilinear'), (1, 1, k, k)).numpy()
    close(t[0, 0], bilinear_ref(k), rtol=1e-6, atol=1e-7)
    assert t[0, 0].max() == t[0, 0, k // 2, k // 2]


def test_positive_unitball_rows_sum_to_one():
    t = fill(_filler(type='positive_unitball'), (7, 3, 4, 5)).numpy()
    assert np.all(t >= 0)
    close(t.reshape(7, -1).sum(1), np.ones(7), atol=1e-5)
    assert len(np.unique(t)) > 100
