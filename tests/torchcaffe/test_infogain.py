"""InfogainLoss (BVLC master's InfogainLossLayer) beyond the golden cases: every normalization
with and without ignore_label against a numpy re-implementation of Caffe's loops, H from a
binaryproto `source`, `axis`, the identity H as SoftmaxWithLoss, the compiled and linked
paths, and the errors Caffe raises (deprecated `normalize`, no H, a misshapen H, backward to
H or to the labels)."""
import math

import numpy as np
import pytest

import torchcaffe as caffe
from tc_helpers import input_layer, make_net, run_layer
from torchcaffe.io import array_to_blobproto, write_binary

RNG = np.random.RandomState
LAYER = ('layer { name: "loss" type: "InfogainLoss" bottom: "x" bottom: "label" %s top: "loss" top: "prob" '
         '%s loss_param { %s } }')


def infogain_ref(x, label, h, mode, ignore):
    """Caffe's Forward_cpu / Backward_cpu loops over axis 1 of (N, C, H, W): loss, bottom diff."""
    z = x.astype(np.float64)
    prob = np.exp(z - z.max(1, keepdims=True))
    prob /= prob.sum(1, keepdims=True)
    n, c, hh, ww = x.shape
    lab = label.reshape(n, hh, ww).astype(int)
    loss, count = 0.0, 0
    diff = np.zeros_like(prob)
    for i, y, xx in np.ndindex(n, hh, ww):
        k = lab[i, y, xx]
        if ignore is not None and k == ignore:
            continue
        for m in range(c):
            loss -= h[k, m] * math.log(max(prob[i, m, y, xx], 1e-20))
            diff[i, m, y, xx] = prob[i, m, y, xx] * h[k].sum() - h[k, m]
        count += 1
    norm = max(1.0, {'FULL': n * hh * ww, 'VALID': count, 'BATCH_SIZE': n, 'NONE': 1}[mode])
    return loss / norm, diff / norm


def inputs(seed=70, shape=(2, 4, 3, 5), ignore=255):
    rng = RNG(seed)
    x = (rng.randn(*shape) * 3).astype(np.float32)
    label = rng.randint(0, shape[1], size=(shape[0], 1) + shape[2:]).astype(np.float32)
    if ignore is not None:
        label[0, 0, 1, :] = ignore
    h = rng.rand(shape[1], shape[1]).astype(np.float32) * 2
    return x, label, h


def h_file(tmp_path, h):
    path = tmp_path / 'H.binaryproto'
    write_binary(str(path), array_to_blobproto(h.reshape(1, 1, *h.shape)))
    return 'infogain_loss_param { source: "%s" }' % path


def loss_param(mode, ignore):
    return 'normalization: %s' % mode + ('' if ignore is None else ' ignore_label: %d' % ignore)


@pytest.mark.parametrize('mode', ['FULL', 'VALID', 'BATCH_SIZE', 'NONE'])
@pytest.mark.parametrize('ignore', [None, 255])
def test_infogain_normalization_ignore_label_and_full_h(tmp_path, mode, ignore):
    """H from `source`, so that force_backward (which would reach an H bottom) gives the scores' diff."""
    x, label, h = inputs(ignore=ignore)
    net = run_layer(LAYER % ('', h_file(tmp_path, h), loss_param(mode, ignore)), {'x': x, 'label': label},
                    top_diffs={})
    loss, diff = infogain_ref(x, label, h, mode, ignore)
    np.testing.assert_allclose(float(net.blobs['loss'].data), loss, rtol=2e-6)
    np.testing.assert_allclose(net.blobs['x'].diff, diff, atol=2e-6)
    assert np.all(net.blobs['label'].diff == 0)


def test_infogain_all_ignored_is_zero_not_nan(tmp_path):
    x, label, h = inputs()
    label[...] = 255
    net = run_layer(LAYER % ('', h_file(tmp_path, h), loss_param('VALID', 255)), {'x': x, 'label': label},
                    top_diffs={})
    assert float(net.blobs['loss'].data) == 0 and np.all(net.blobs['x'].diff == 0)


def test_infogain_source_binaryproto_gives_what_the_third_bottom_gives(tmp_path):
    x, label, h = inputs(71)
    from_file = run_layer(LAYER % ('', h_file(tmp_path, h), 'ignore_label: 255'), {'x': x, 'label': label},
                          force=False)
    as_bottom = run_layer(LAYER % ('bottom: "H"', '', 'ignore_label: 255'),
                          {'x': x, 'label': label, 'H': h.reshape(1, 1, 4, 4)}, force=False)
    assert float(from_file.blobs['loss'].data) == float(as_bottom.blobs['loss'].data)
    np.testing.assert_array_equal(from_file.blobs['prob'].data, as_bottom.blobs['prob'].data)


def test_infogain_axis_is_the_infogain_params():
    """Scores N x H x W x C with infogain_loss_param.axis: -1 give what N x C x H x W gives with axis 1."""
    x, label, h = inputs(72)
    hb = h.reshape(1, 1, 4, 4)
    last = run_layer(LAYER % ('bottom: "H"', 'infogain_loss_param { axis: -1 } softmax_param { axis: 1 }',
                              'ignore_label: 255'),
                     {'x': np.ascontiguousarray(x.transpose(0, 2, 3, 1)), 'label': label, 'H': hb}, force=False)
    first = run_layer(LAYER % ('bottom: "H"', '', 'ignore_label: 255'), {'x': x, 'label': label, 'H': hb},
                      force=False)
    np.testing.assert_allclose(float(last.blobs['loss'].data), float(first.blobs['loss'].data), rtol=1e-6)
    np.testing.assert_allclose(last.blobs['prob'].data.transpose(0, 3, 1, 2), first.blobs['prob'].data, atol=1e-7)


def test_identity_h_is_softmax_with_loss(tmp_path):
    x, label, _ = inputs(73)
    info = run_layer(LAYER % ('', h_file(tmp_path, np.eye(4, dtype=np.float32)), 'ignore_label: 255'),
                     {'x': x, 'label': label}, top_diffs={})
    soft = run_layer('layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "label" top: "loss" '
                     'loss_param { ignore_label: 255 } }', {'x': x, 'label': label}, top_diffs={})
    np.testing.assert_allclose(float(info.blobs['loss'].data), float(soft.blobs['loss'].data), rtol=1e-6)
    np.testing.assert_allclose(info.blobs['x'].diff, soft.blobs['x'].diff, atol=1e-7)


NET = (input_layer('data', (2, 3, 9, 9)) + input_layer('label', (2, 1, 9, 9)) + '''
layer { name: "score" type: "Convolution" bottom: "data" top: "score"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "InfogainLoss" bottom: "score" bottom: "label" top: "loss"
  infogain_loss_param { source: "%s" } loss_param { ignore_label: 255 normalization: VALID } }
''')


def _weighted_net(tmp_path, phase=caffe.TRAIN):
    path = tmp_path / 'H.binaryproto'
    write_binary(str(path), array_to_blobproto(np.diag([0.5, 1, 4, 9]).astype(np.float32).reshape(1, 1, 4, 4)))
    caffe.set_random_seed(3)
    net = make_net(NET % path, phase)
    rng = RNG(74)
    net.blobs['data'].data[...] = rng.randn(2, 3, 9, 9)
    net.blobs['label'].data[...] = rng.choice([0, 1, 2, 3, 255], size=(2, 1, 9, 9))
    return net


def test_infogain_in_the_compiled_pass(tmp_path):
    """Fast mode compiles inference passes (a TEST net's): the loss as the uncompiled pass gives it."""
    x, label, h = inputs(75)
    net = run_layer(LAYER % ('', h_file(tmp_path, h), 'ignore_label: 255'), {'x': x, 'label': label}, force=False)
    want = float(net.blobs['loss'].data)
    caffe.set_fast_mode(bf16=False, tf32=False, channels_last=False, cudnn_benchmark=False, compile=True)
    try:
        net.forward()
    finally:
        caffe.set_faithful_mode()
    assert list(net.runner.compiled.segments) == [(2, 2)]     # the loss layer, compiled
    assert float(net.blobs['loss'].data) == pytest.approx(want, rel=1e-5)


def test_infogain_linked_pass_gives_the_per_layer_walks_diffs(tmp_path):
    """The whole pass as one autograd graph (linked_pass.py) against the per-layer walk."""
    diffs = []
    for linked in (True, False):
        net = _weighted_net(tmp_path)
        net.runner.use_linked = linked
        assert net.graph.linkable
        net.forward()
        assert (net.runner.last_pass.link is not None) == linked
        net.backward()
        diffs.append(net.params['score'][0].diff.copy())
    assert np.any(diffs[0] != 0)
    np.testing.assert_array_equal(diffs[0], diffs[1])


# -- errors --------------------------------------------------------------------------------------

def _net(text, shapes):
    return make_net(''.join(input_layer(n, s) for n, s in shapes.items()) + text)


SHAPES = {'x': (2, 4, 3, 5), 'label': (2, 1, 3, 5), 'H': (1, 1, 4, 4)}


def test_deprecated_normalize_is_refused():
    with pytest.raises(caffe.CaffeError, match='normalize is deprecated'):
        _net(LAYER % ('bottom: "H"', '', 'normalize: true'), SHAPES)


def test_no_h_is_refused():
    with pytest.raises(caffe.CaffeError, match='source must be specified'):
        _net(LAYER % ('', '', ''), SHAPES)


def test_missing_source_file_is_named(tmp_path):
    with pytest.raises(caffe.CaffeError, match='not found: .*nowhere.binaryproto'):
        _net(LAYER % ('', 'infogain_loss_param { source: "%s" }' % (tmp_path / 'nowhere.binaryproto'), ''), SHAPES)


def test_misshapen_h_is_refused(tmp_path):
    with pytest.raises(caffe.CaffeError, match='H must be 4x4'):
        _net(LAYER % ('bottom: "H"', '', ''), dict(SHAPES, H=(1, 1, 3, 3)))
    path = tmp_path / 'H.binaryproto'
    write_binary(str(path), array_to_blobproto(np.eye(5, dtype=np.float32).reshape(1, 1, 5, 5)))
    with pytest.raises(caffe.CaffeError, match='H must be 4x4.*25 values in .*H.binaryproto'):
        _net(LAYER % ('', 'infogain_loss_param { source: "%s" }' % path, ''), SHAPES)


def test_four_bottoms_are_refused():
    with pytest.raises(caffe.CaffeError, match='takes 2 or 3 bottom blobs'):
        _net(LAYER % ('bottom: "H" bottom: "H"', '', ''), SHAPES)


def test_backward_to_h_is_refused():
    """force_backward reaches H (LossLayer::AllowForceBackward spares only the labels), and
    Caffe's Backward_cpu then refuses it."""
    x, label, h = inputs()
    with pytest.raises(caffe.CaffeError, match='cannot backpropagate to the infogain matrix H'):
        run_layer(LAYER % ('bottom: "H"', '', ''), {'x': x, 'label': label, 'H': h.reshape(1, 1, 4, 4)},
                  top_diffs={})


def test_backward_to_labels_is_refused(tmp_path):
    x, label, h = inputs()
    with pytest.raises(caffe.CaffeError, match='cannot backpropagate to label inputs'):
        run_layer(LAYER % ('', 'propagate_down: true propagate_down: true ' + h_file(tmp_path, h), ''),
                  {'x': x, 'label': label}, top_diffs={})


def test_h_reshaped_to_another_size_is_refused():
    net = _net(LAYER % ('bottom: "H"', '', ''), SHAPES)
    net.blobs['H'].reshape(1, 1, 3, 3)
    with pytest.raises(caffe.CaffeError, match='H must be 4x4 .* got 9 values'):
        net.reshape()


def test_scores_and_labels_of_other_batch_sizes_are_refused():
    """LossLayer::Reshape (which InfogainLossLayer inherits) checks the first dimensions agree."""
    with pytest.raises(caffe.CaffeError, match='same first dimension \\(2 vs 1\\b'):
        _net(LAYER % ('bottom: "H"', '', ''), dict(SHAPES, label=(1, 2, 3, 5)))
