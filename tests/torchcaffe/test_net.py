"""caffe.Net's rules, each checked against numpy or against what Caffe's
net.cpp / pycaffe.py do: phases and include/exclude, in-place tops,
loss_weight, param sharing, which layers run backward, reshaping, partial
forward/backward, blob and net accessors, Python layers, share_with."""
import textwrap

import numpy as np
import pytest

import torchcaffe as caffe
from tc_helpers import input_layer, make_net

RNG = np.random.RandomState


def _relu_layer(name, bottom='data', rules=''):
    return 'layer { name: "%s" type: "ReLU" bottom: "%s" top: "%s" %s }\n' % (name, bottom, name, rules)


# -- phases, stages, levels -------------------------------------------------------------

RULES_NET = input_layer('data', (1, 2)) + ''.join([
    _relu_layer('train_only', rules='include { phase: TRAIN }'),
    _relu_layer('test_only', rules='include { phase: TEST }'),
    _relu_layer('not_in_test', rules='exclude { phase: TEST }'),
    _relu_layer('deploy', rules='include { stage: "deploy" }'),
    _relu_layer('a_and_b', rules='include { stage: "a" stage: "b" }'),
    _relu_layer('a_or_b', rules='include { stage: "a" } include { stage: "b" }'),
    _relu_layer('not_deploy', rules='include { not_stage: "deploy" }'),
    _relu_layer('level_ge2', rules='include { min_level: 2 }'),
    _relu_layer('level_le1', rules='include { max_level: 1 }'),
    _relu_layer('train_ge1', rules='include { phase: TRAIN min_level: 1 }'),
    _relu_layer('excl_a', rules='exclude { stage: "a" }'),
    _relu_layer('always'),
])


@pytest.mark.parametrize('phase,level,stages,expected', [
    (caffe.TEST, 0, [], {'test_only', 'not_deploy', 'level_le1', 'excl_a'}),
    (caffe.TRAIN, 0, [], {'train_only', 'not_in_test', 'not_deploy', 'level_le1', 'excl_a'}),
    (caffe.TRAIN, 1, [], {'train_only', 'not_in_test', 'not_deploy', 'level_le1', 'train_ge1', 'excl_a'}),
    (caffe.TRAIN, 2, [], {'train_only', 'not_in_test', 'not_deploy', 'level_ge2', 'train_ge1', 'excl_a'}),
    (caffe.TEST, 0, ['deploy'], {'test_only', 'deploy', 'level_le1', 'excl_a'}),
    (caffe.TEST, 0, ['a'], {'test_only', 'a_or_b', 'not_deploy', 'level_le1'}),
    (caffe.TEST, 0, ['b'], {'test_only', 'a_or_b', 'not_deploy', 'level_le1', 'excl_a'}),
    (caffe.TEST, 0, ['a', 'b'], {'test_only', 'a_and_b', 'a_or_b', 'not_deploy', 'level_le1'}),
])
def test_include_exclude_rules(phase, level, stages, expected):
    net = make_net(RULES_NET, phase, level=level, stages=stages)
    assert set(net.layer_dict) == expected | {'data', 'always'}
    assert list(net.layer_dict)[0] == 'data'           # order of the prototxt is kept
    assert net.phase == phase


def test_include_and_exclude_together_is_an_error():
    text = input_layer('data', (1, 2)) + _relu_layer(
        'both', rules='include { phase: TRAIN } exclude { phase: TEST }')
    with pytest.raises(caffe.CaffeError, match='both'):
        make_net(text)


def test_layer_phase_field_overrides_the_net_phase():
    text = input_layer('data', (2, 50)) + '''
layer { name: "drop" type: "Dropout" bottom: "data" top: "out" phase: TEST dropout_param { dropout_ratio: 0.5 } }
'''
    net = make_net(text, caffe.TRAIN)
    x = RNG(0).rand(2, 50).astype(np.float32) + 1
    assert np.array_equal(net.forward(data=x)['out'], x)


# -- in-place tops ----------------------------------------------------------------------

INPLACE_NET = input_layer('data', (3, 4)) + '''
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "h"
  inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } } }
layer { name: "relu" type: "ReLU" bottom: "h" top: "h" }
layer { name: "lin" type: "Power" bottom: "h" top: "y" loss_weight: 0.5 power_param { scale: 3 } }
'''


def test_in_place_relu_data_is_post_relu_and_diff_is_pre_relu():
    net = make_net(INPLACE_NET)
    x = RNG(1).randn(3, 4).astype(np.float32)
    W, b = net.params['ip'][0].data, net.params['ip'][1].data
    pre = x @ W.T + b
    assert (pre > 0).any() and (pre < 0).any()
    net.forward(data=x)
    assert np.allclose(net.blobs['h'].data, np.maximum(pre, 0), atol=1e-5)
    assert 'h' in net.blobs and list(net.top_names['relu']) == ['h']
    net.backward()
    # d(0.5 * sum(3 * relu(pre))) / d pre = 1.5 where pre > 0, else 0
    expected = 1.5 * (pre > 0)
    assert np.allclose(net.blobs['h'].diff, expected, atol=1e-6)
    assert np.allclose(net.params['ip'][0].diff, expected.T @ x, atol=1e-5)
    assert np.allclose(net.params['ip'][1].diff, expected.sum(0), atol=1e-5)
    assert np.allclose(net.blobs['data'].diff, 0)   # an Input blob needs no diff


# -- loss_weight ------------------------------------------------------------------------

def _softmax(z, axis=1):
    e = np.exp(z - z.max(axis, keepdims=True))
    return e / e.sum(axis, keepdims=True)


def _loss_net(weight):
    lw = '' if weight is None else 'loss_weight: %g' % weight
    return 'force_backward: true\n' + input_layer('score', (4, 3)) + input_layer('label', (4,)) + '''
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" %s }
''' % lw


@pytest.mark.parametrize('weight', [None, 1.0, 2.5, 0.25])
def test_loss_weight_scales_loss_and_gradient(weight):
    w = 1.0 if weight is None else weight
    s = RNG(2).randn(4, 3).astype(np.float32)
    label = np.array([0, 2, 1, 2], np.float32)
    net = make_net(_loss_net(weight))
    net.blobs['score'].data[...] = s
    net.blobs['label'].data[...] = label
    total = net.forward_backward()
    p = _softmax(s.astype(np.float64))
    raw = -np.mean(np.log(p[np.arange(4), label.astype(int)]))
    assert np.isclose(float(net.blobs['loss'].data), raw, rtol=1e-5)     # the blob is unweighted
    assert np.isclose(total, w * raw, rtol=1e-5)                         # the net's loss is weighted
    assert net.blob_loss_weights['loss'] == w
    assert net.blob_loss_weights['score'] == 0
    onehot = np.eye(3)[label.astype(int)]
    assert np.allclose(net.blobs['score'].diff, w * (p - onehot) / 4, atol=1e-6)


def test_loss_weight_on_a_non_loss_layer_makes_it_a_loss():
    text = input_layer('data', (2, 3)) + '''
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "h"
  inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "sq" type: "Power" bottom: "h" top: "y" loss_weight: 0.75 power_param { power: 2 } }
'''
    net = make_net(text)
    x = RNG(3).randn(2, 3).astype(np.float32)
    W = net.params['ip'][0].data.copy()
    h = x @ W.T
    net.blobs['data'].data[...] = x
    total = net.forward_backward()
    assert net.outputs == ['y']
    assert np.isclose(total, 0.75 * np.sum(h ** 2), rtol=1e-5)
    assert np.allclose(net.blobs['y'].diff, 0.75)
    assert np.allclose(net.blobs['h'].diff, 1.5 * h, atol=1e-5)
    assert np.allclose(net.params['ip'][0].diff, (1.5 * h).T @ x, atol=1e-5)


def test_second_top_of_a_loss_layer_has_no_weight():
    text = _loss_net(None).replace('top: "loss"', 'top: "loss" top: "prob"')
    net = make_net(text)
    s = RNG(4).randn(4, 3).astype(np.float32)
    net.blobs['score'].data[...] = s
    net.blobs['label'].data[...] = [0, 1, 2, 0]
    net.forward()
    assert net.blob_loss_weights['loss'] == 1 and net.blob_loss_weights['prob'] == 0
    assert np.allclose(net.blobs['prob'].data, _softmax(s), atol=1e-6)


# -- parameter sharing -----------------------------------------------------------------

SHARED_NET = input_layer('x1', (2, 3)) + input_layer('x2', (2, 3)) + '''
layer { name: "ip1" type: "InnerProduct" bottom: "x1" top: "y1" param { name: "w" } param { name: "b" }
  inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } } }
layer { name: "ip2" type: "InnerProduct" bottom: "x2" top: "y2" param { name: "w" } param { name: "b" }
  inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } } }
layer { name: "l1" type: "Power" bottom: "y1" top: "z1" loss_weight: 1 }
layer { name: "l2" type: "Power" bottom: "y2" top: "z2" loss_weight: 2 }
'''


def test_shared_params_are_one_blob_and_get_the_sum_of_gradients():
    net = make_net(SHARED_NET)
    assert net.params['ip1'][0] is net.params['ip2'][0]
    assert net.params['ip1'][1] is net.params['ip2'][1]
    assert len(net.learnable_params) == 2
    x1 = RNG(5).randn(2, 3).astype(np.float32)
    x2 = RNG(6).randn(2, 3).astype(np.float32)
    net.params['ip1'][0].data[...] = RNG(7).randn(4, 3)
    W, b = net.params['ip2'][0].data, net.params['ip2'][1].data
    out = net.forward(x1=x1, x2=x2)
    assert np.allclose(out['z2'], x2 @ W.T + b, atol=1e-5)     # ip2 computes with ip1's weights
    net.backward()
    # loss = sum(x1 W^T + b) + 2 sum(x2 W^T + b)
    dW = np.tile(x1.sum(0) + 2 * x2.sum(0), (4, 1))
    assert np.allclose(net.params['ip1'][0].diff, dW, atol=1e-5)
    assert np.allclose(net.params['ip1'][1].diff, np.full(4, 2 + 2 * 2), atol=1e-6)


def test_shared_param_shape_mismatch_is_an_error():
    text = SHARED_NET.replace(input_layer('x2', (2, 3)), input_layer('x2', (2, 5)))
    with pytest.raises(caffe.CaffeError, match="'w'"):
        make_net(text)


def test_permissive_sharing_needs_only_equal_counts():
    text = input_layer('x1', (2, 6)) + input_layer('x2', (2, 2, 3)) + '''
layer { name: "ip1" type: "InnerProduct" bottom: "x1" top: "y1" param { name: "w" }
  inner_product_param { num_output: 1 bias_term: false weight_filler { type: "gaussian" std: 1 } } }
layer { name: "ip2" type: "InnerProduct" bottom: "x2" top: "y2" param { name: "w" share_mode: PERMISSIVE }
  inner_product_param { num_output: 1 bias_term: false axis: 1 } }
'''
    net = make_net(text)
    assert net.params['ip1'][0].count == net.params['ip2'][0].count == 6


def test_shared_param_with_conflicting_lr_mult_is_an_error():
    """Caffe's AppendParam CHECKs that two layers sharing a param do not give different lr_mult."""
    text = SHARED_NET.replace('top: "y1" param { name: "w" }', 'top: "y1" param { name: "w" lr_mult: 1 }')
    text = text.replace('top: "y2" param { name: "w" }', 'top: "y2" param { name: "w" lr_mult: 3 }')
    with pytest.raises(caffe.CaffeError, match='lr_mult'):
        make_net(text)


# -- which layers run backward ----------------------------------------------------------

NO_LOSS_NET = '%s' + input_layer('data', (2, 3)) + '''
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "h"
  inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "relu" type: "ReLU" bottom: "h" top: "h" }
'''


@pytest.mark.parametrize('force', [False, True])
def test_no_loss_means_no_backward_unless_forced(force):
    net = make_net(NO_LOSS_NET % ('force_backward: true\n' if force else ''))
    x = RNG(8).randn(2, 3).astype(np.float32)
    net.forward(data=x)
    net.blobs['h'].diff[...] = 1
    diffs = net.backward()
    W = net.params['ip'][0].data
    mask = (x @ W.T > 0).astype(np.float32)
    if force:
        assert np.allclose(diffs['data'], mask @ W, atol=1e-5)
        assert np.allclose(net.params['ip'][0].diff, mask.T @ x, atol=1e-5)
    else:
        assert np.all(diffs['data'] == 0)
        assert np.all(net.params['ip'][0].diff == 0)


FROZEN_NET = '%s' + input_layer('data', (2, 3)) + input_layer('label', (2,)) + '''
layer { name: "frozen" type: "InnerProduct" bottom: "data" top: "h1" param { lr_mult: 0 } param { lr_mult: 0 }
  inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } } }
layer { name: "ip" type: "InnerProduct" bottom: "h1" top: "h2"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "h2" bottom: "label" top: "loss" }
'''


@pytest.mark.parametrize('force', [False, True])
def test_lr_mult_zero_params_get_no_diff_without_force_backward(force):
    net = make_net(FROZEN_NET % ('force_backward: true\n' if force else ''))
    x = RNG(9).randn(2, 3).astype(np.float32)
    label = np.array([2, 0], np.float32)
    net.forward(data=x, label=label)
    net.backward()
    W1, b1, W2 = (net.params['frozen'][0].data, net.params['frozen'][1].data, net.params['ip'][0].data)
    h1 = x @ W1.T + b1
    dh2 = (_softmax(h1 @ W2.T) - np.eye(3)[[2, 0]]) / 2
    assert np.allclose(net.params['ip'][0].diff, dh2.T @ h1, atol=1e-5)
    dh1 = dh2 @ W2
    if force:
        assert np.allclose(net.blobs['h1'].diff, dh1, atol=1e-5)
        assert np.allclose(net.params['frozen'][0].diff, dh1.T @ x, atol=1e-5)
        assert np.allclose(net.params['frozen'][1].diff, dh1.sum(0), atol=1e-5)
        assert np.allclose(net.blobs['data'].diff, dh1 @ W1, atol=1e-5)
    else:
        assert np.all(net.params['frozen'][0].diff == 0)
        assert np.all(net.params['frozen'][1].diff == 0)
        assert np.all(net.blobs['h1'].diff == 0)     # nothing below needs it, so Caffe skips it
    assert np.all(net.blobs['label'].diff == 0)      # never, even when forced


EXTRA_READERS = {
    'accuracy_after': ('', 'layer { name: "acc" type: "Accuracy" bottom: "score" bottom: "label" top: "acc" }'),
    'accuracy_before': ('layer { name: "acc" type: "Accuracy" bottom: "score" bottom: "label" top: "acc" }', ''),
    'unused_branch': ('', 'layer { name: "side" type: "ReLU" bottom: "score" top: "side" }'),
    'silence': ('layer { name: "quiet" type: "Silence" bottom: "score" }', ''),
}


@pytest.mark.parametrize('reader', sorted(EXTRA_READERS))
def test_a_blob_also_read_by_a_non_loss_layer_still_backpropagates(reader):
    """Caffe gives every reader of a shared blob its own split copy, so a reader that does not
    feed the loss (an Accuracy layer, an unused branch) does not stop the gradient of the others."""
    before, after = EXTRA_READERS[reader]
    text = input_layer('data', (4, 3)) + input_layer('label', (4,)) + '''
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "score"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 1 } } }
%s
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" }
%s
''' % (before, after)
    net = make_net(text, caffe.TRAIN)
    x = RNG(21).randn(4, 3).astype(np.float32)
    label = np.array([0, 2, 1, 1], np.float32)
    net.forward(data=x, label=label)
    net.backward()
    W = net.params['ip'][0].data
    d = (_softmax(x @ W.T) - np.eye(3)[label.astype(int)]) / 4
    assert np.allclose(net.blobs['score'].diff, d, atol=1e-6)
    assert np.allclose(net.params['ip'][0].diff, d.T @ x, atol=1e-5)


def test_propagate_down_false_stops_the_gradient():
    text = input_layer('data', (2, 3)) + input_layer('label', (2,)) + '''
layer { name: "ip1" type: "InnerProduct" bottom: "data" top: "h1"
  inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "ip2" type: "InnerProduct" bottom: "h1" top: "h2" propagate_down: false
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "h2" bottom: "label" top: "loss" }
'''
    net = make_net(text)
    net.forward(data=RNG(10).randn(2, 3), label=np.array([0, 1]))
    net.backward()
    assert np.any(net.params['ip2'][0].diff != 0)
    assert np.all(net.blobs['h1'].diff == 0)
    assert np.all(net.params['ip1'][0].diff == 0)


def test_param_diffs_accumulate_across_backward_calls_blob_diffs_do_not():
    """Caffe clears param diffs only in the solver (ClearParamDiffs); blob diffs are overwritten."""
    net = make_net(INPLACE_NET)
    net.forward(data=RNG(11).randn(3, 4))
    net.backward()
    once_param, once_blob = net.params['ip'][0].diff.copy(), net.blobs['h'].diff.copy()
    assert np.any(once_param != 0)
    net.backward()
    assert np.allclose(net.params['ip'][0].diff, 2 * once_param, atol=1e-5)
    assert np.allclose(net.blobs['h'].diff, once_blob)


def test_a_blob_read_twice_gets_the_sum_of_both_diffs():
    text = input_layer('data', (2, 3)) + '''
layer { name: "a" type: "Power" bottom: "data" top: "a" loss_weight: 1 power_param { scale: 2 } }
layer { name: "b" type: "Power" bottom: "data" top: "b" loss_weight: 1 power_param { power: 2 } }
force_backward: true
'''
    net = make_net(text)
    x = RNG(12).randn(2, 3).astype(np.float32)
    net.forward(data=x)
    diffs = net.backward()
    assert np.allclose(diffs['data'], 2 + 2 * x, atol=1e-6)


@pytest.mark.parametrize('phase', [caffe.TRAIN, caffe.TEST], ids=['TRAIN', 'TEST'])
def test_in_place_layer_on_an_input_blob(phase):
    """An in-place layer directly on a net input (here a scaling Power): backward leaves the blob
    values as forward left them and the gradients are those of the scaled input."""
    text = input_layer('data', (2, 3)) + '''
layer { name: "scale" type: "Power" bottom: "data" top: "data" power_param { scale: 2 } }
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "h"
  inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "sq" type: "Power" bottom: "h" top: "y" loss_weight: 1 power_param { power: 2 } }
'''
    net = make_net(text, phase)
    x = RNG(23).randn(2, 3).astype(np.float32)
    W = net.params['ip'][0].data
    h = (2 * x) @ W.T
    net.forward(data=x)
    assert np.allclose(net.blobs['data'].data, 2 * x) and np.allclose(net.blobs['y'].data, h * h, atol=1e-5)
    net.backward()
    assert np.allclose(net.blobs['data'].data, 2 * x) and np.allclose(net.blobs['y'].data, h * h, atol=1e-5)
    assert np.allclose(net.params['ip'][0].diff, (2 * h).T @ (2 * x), atol=1e-4)


# -- reshaping --------------------------------------------------------------------------

RESHAPE_NET = input_layer('data', (1, 3, 8, 8)) + '''
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "flat" type: "Flatten" bottom: "pool" top: "flat" }
'''


@pytest.mark.parametrize('explicit', [True, False])
def test_reshaping_an_input_propagates(explicit):
    net = make_net(RESHAPE_NET)
    assert net.blobs['flat'].shape == (1, 4 * 4 * 4)
    w_shape = net.params['conv'][0].data.shape
    net.blobs['data'].reshape(2, 3, 10, 13)
    if explicit:
        net.reshape()
        assert net.blobs['conv'].shape == (2, 4, 10, 13)
        assert net.blobs['pool'].shape == (2, 4, 5, 7)            # Caffe rounds up: ceil(11/2)+1
        assert net.blobs['flat'].shape == (2, 4 * 5 * 7)
    x = RNG(13).randn(2, 3, 10, 13).astype(np.float32)
    out = net.forward(data=x)['flat']
    assert out.shape == (2, 4 * 5 * 7)
    assert net.params['conv'][0].data.shape == w_shape
    # the two images are independent: each matches a batch-1 run
    single = make_net(RESHAPE_NET)
    single.params['conv'][0].data[...] = net.params['conv'][0].data
    single.params['conv'][1].data[...] = net.params['conv'][1].data
    single.blobs['data'].reshape(1, 3, 10, 13)
    for i in range(2):
        assert np.allclose(single.forward(data=x[i:i + 1])['flat'], out[i:i + 1], atol=1e-5)


# -- partial forward / backward, kwargs --------------------------------------------------

CHAIN_NET = input_layer('data', (2, 3)) + '''
layer { name: "a" type: "Power" bottom: "data" top: "a" power_param { scale: 2 } }
layer { name: "b" type: "Power" bottom: "a" top: "b" power_param { shift: 1 } }
layer { name: "c" type: "Power" bottom: "b" top: "c" power_param { power: 2 } }
force_backward: true
'''


def test_forward_start_end_and_kwargs():
    net = make_net(CHAIN_NET)
    x = RNG(14).randn(2, 3).astype(np.float32)
    out = net.forward(end='b', data=x)
    assert set(out) == {'b'}
    assert np.allclose(out['b'], 2 * x + 1)
    assert np.all(net.blobs['c'].data == 0)              # layer c did not run
    net.blobs['b'].data[...] = 5
    out = net.forward(start='c')
    assert set(out) == {'c'} and np.allclose(out['c'], 25)
    assert np.allclose(net.blobs['a'].data, 2 * x)        # layers before start did not run
    out = net.forward(blobs=['a'], data=x)
    assert set(out) == {'a', 'c'}
    assert np.allclose(out['c'], (2 * x + 1) ** 2, atol=1e-5)


def test_forward_kwargs_must_be_batch_sized():
    net = make_net(CHAIN_NET)
    with pytest.raises(caffe.CaffeError):
        net.forward(data=np.zeros((3, 3), np.float32))


def test_backward_returns_input_diffs_and_accepts_top_diffs():
    net = make_net(CHAIN_NET)
    x = RNG(15).randn(2, 3).astype(np.float32)
    net.forward(data=x)
    top = RNG(16).randn(2, 3).astype(np.float32)
    diffs = net.backward(c=top)
    assert set(diffs) == {'data'}
    assert np.allclose(diffs['data'], top * 2 * (2 * x + 1) * 2, atol=1e-5)
    diffs = net.backward(diffs=['b'], c=top)
    assert set(diffs) == {'data', 'b'}
    assert np.allclose(diffs['b'], top * 2 * (2 * x + 1), atol=1e-5)
    # backward from c down to b only: returns b's bottom diff, leaves data's untouched
    net.blobs['data'].diff[...] = 0
    diffs = net.backward(start='c', end='b', c=top)
    assert set(diffs) == {'a'}
    assert np.allclose(diffs['a'], top * 2 * (2 * x + 1), atol=1e-5)
    assert np.all(net.blobs['data'].diff == 0)


def test_backward_kwargs_must_name_the_outputs():
    net = make_net(CHAIN_NET)
    net.forward(data=np.ones((2, 3), np.float32))
    with pytest.raises(caffe.CaffeError):
        net.backward(a=np.ones((2, 3), np.float32))


# -- blobs and net accessors ------------------------------------------------------------

def test_blob_accessors():
    b = caffe.Blob((2, 3, 4, 5))
    assert (b.num, b.channels, b.height, b.width) == (2, 3, 4, 5)
    assert b.count == 120 and b.data.shape == (2, 3, 4, 5) and b.diff.shape == (2, 3, 4, 5)
    assert b.data.dtype == np.float32 and np.all(b.data == 0) and np.all(b.diff == 0)
    b.reshape(6, 7)
    assert b.shape == (6, 7) and b.data.shape == (6, 7) and b.diff.shape == (6, 7)
    assert (b.num, b.channels, b.height, b.width) == (6, 7, 1, 1)     # Caffe's LegacyShape
    assert b.count == 42
    b.data[...] = 3
    b.data[0, 0] = 4
    assert b.data[0, 0] == 4 and b.data.sum() == 3 * 41 + 4          # writes go to the blob
    b.reshape((10,))
    assert b.shape == (10,) and b.count == 10 and (b.num, b.channels) == (10, 1)


def test_net_accessors():
    text = input_layer('data', (2, 3, 6, 6)) + input_layer('label', (2,)) + '''
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "ip" type: "InnerProduct" bottom: "conv" top: "score" inner_product_param { num_output: 5 bias_term: false } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" }
layer { name: "acc" type: "Accuracy" bottom: "score" bottom: "label" top: "acc" }
'''
    net = make_net(text)
    assert list(net.blobs) == ['data', 'label', 'conv', 'score', 'loss', 'acc']
    assert list(net.layer_dict) == ['data', 'label', 'conv', 'relu', 'ip', 'loss', 'acc']
    assert len(net.layers) == 7 and net.layers[2] is net.layer_dict['conv']
    assert list(net.params) == ['conv', 'ip']
    assert [b.data.shape for b in net.params['conv']] == [(4, 3, 3, 3), (4,)]
    assert [b.data.shape for b in net.params['ip']] == [(5, 64)]
    assert net.inputs == ['data', 'label']
    assert sorted(net.outputs) == ['acc', 'loss']
    assert net.top_names['relu'] == ['conv'] and net.bottom_names['relu'] == ['conv']
    assert net.bottom_names['loss'] == ['score', 'label'] and net.top_names['data'] == ['data']
    assert net.bottom_names['data'] == []
    assert net.layer_dict['conv'].blobs[0] is net.params['conv'][0]


def test_outputs_are_in_caffes_order():
    """Caffe collects the outputs in a std::set<string> (net.cpp), so net.outputs is sorted by name."""
    text = input_layer('data', (1, 2)) + ''.join(
        _relu_layer(n) for n in ['zeta', 'alpha', 'mid'])
    net = make_net(text)
    assert net.outputs == ['alpha', 'mid', 'zeta']


# -- Python layers ----------------------------------------------------------------------

PY_MODULE = textwrap.dedent('''
    import ast

    import numpy as np

    import torchcaffe as caffe


    class ScaleShift(caffe.Layer):
        """top = scale * bottom + shift; param_str is a dict literal."""

        def setup(self, bottom, top):
            params = ast.literal_eval(self.param_str)
            self.scale, self.shift = float(params['scale']), float(params['shift'])
            if len(bottom) != 1 or len(top) != 1:
                raise Exception('one bottom, one top')
            self.seen_phase = self.phase

        def reshape(self, bottom, top):
            top[0].reshape(*bottom[0].data.shape)

        def forward(self, bottom, top):
            top[0].data[...] = bottom[0].data * self.scale + self.shift

        def backward(self, top, propagate_down, bottom):
            if propagate_down[0]:
                bottom[0].diff[...] = top[0].diff * self.scale


    class HalfSquaredError(caffe.Layer):
        """sum((a - b)^2) / (2 num), honouring the top diff (the loss weight)."""

        def setup(self, bottom, top):
            if len(bottom) != 2:
                raise Exception('two bottoms')

        def reshape(self, bottom, top):
            self.delta = np.zeros_like(bottom[0].data, dtype=np.float32)
            top[0].reshape(1)

        def forward(self, bottom, top):
            self.delta[...] = bottom[0].data - bottom[1].data
            top[0].data[...] = np.sum(self.delta ** 2) / bottom[0].num / 2.0

        def backward(self, top, propagate_down, bottom):
            self.seen_top_diff = float(top[0].diff[0])
            for i, sign in ((0, 1), (1, -1)):
                if propagate_down[i]:
                    bottom[i].diff[...] = sign * self.delta / bottom[i].num * top[0].diff[0]
''')


def _py_net(module, weight):
    return input_layer('data', (3, 4)) + input_layer('target', (3, 2)) + '''
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "h"
  inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 } } }
layer { name: "affine" type: "Python" bottom: "h" top: "g"
  python_param { module: "%s" layer: "ScaleShift" param_str: "{'scale': 3.0, 'shift': -1}" } }
layer { name: "loss" type: "Python" bottom: "g" bottom: "target" top: "loss" loss_weight: %g
  python_param { module: "%s" layer: "HalfSquaredError" } }
''' % (module, weight, module)


def test_python_layers_forward_backward_and_loss_weight(pymodule):
    mod = pymodule('tc_net_pylayers', PY_MODULE)
    net = make_net(_py_net(mod, 2.0), caffe.TRAIN)
    affine, loss_layer = net.layer_dict['affine'], net.layer_dict['loss']
    assert (affine.scale, affine.shift) == (3.0, -1.0)
    assert affine.param_str == "{'scale': 3.0, 'shift': -1}"
    assert affine.seen_phase == caffe.TRAIN
    assert net.blob_loss_weights['loss'] == 2.0
    x = RNG(17).randn(3, 4).astype(np.float32)
    t = RNG(18).randn(3, 2).astype(np.float32)
    net.blobs['data'].data[...] = x
    net.blobs['target'].data[...] = t
    total = net.forward_backward()
    W, b = net.params['ip'][0].data, net.params['ip'][1].data
    g = 3 * (x @ W.T + b) - 1
    raw = np.sum((g - t) ** 2) / 3 / 2
    assert np.isclose(float(net.blobs['loss'].data[0]), raw, rtol=1e-5)
    assert np.isclose(total, 2 * raw, rtol=1e-5)
    assert loss_layer.seen_top_diff == 2.0
    dg = 2 * (g - t) / 3
    assert np.allclose(net.blobs['g'].diff, dg, atol=1e-5)
    assert np.allclose(net.blobs['h'].diff, 3 * dg, atol=1e-5)
    assert np.allclose(net.params['ip'][0].diff, (3 * dg).T @ x, atol=1e-5)
    assert np.allclose(net.params['ip'][1].diff, (3 * dg).sum(0), atol=1e-5)


def test_python_layer_without_loss_weight_is_not_a_loss(pymodule):
    """Unlike built-in loss layers, a Python layer carries loss weight only when the prototxt says so."""
    mod = pymodule('tc_net_pylayers_nolw', PY_MODULE)
    text = _py_net(mod, 0).replace(' loss_weight: 0', '')
    net = make_net(text, caffe.TEST)
    assert net.blob_loss_weights['loss'] == 0
    assert net.layer_dict['affine'].seen_phase == caffe.TEST
    net.forward(data=RNG(19).randn(3, 4), target=RNG(20).randn(3, 2))
    net.backward()
    assert np.all(net.params['ip'][0].diff == 0)


@pytest.mark.parametrize('phase', [caffe.TRAIN, caffe.TEST], ids=['TRAIN', 'TEST'])
def test_in_place_python_layer_forward_and_backward(pymodule, phase):
    """A Python layer may work in place (top == bottom), like Caffe's own ReLU; backward must see
    the values forward left, in either phase, and must not change the blobs."""
    mod = pymodule('tc_net_pyinplace', textwrap.dedent('''
        import torchcaffe as caffe

        class Double(caffe.Layer):
            def reshape(self, bottom, top):
                pass

            def forward(self, bottom, top):
                top[0].data[...] = 2 * bottom[0].data

            def backward(self, top, propagate_down, bottom):
                bottom[0].diff[...] = 2 * top[0].diff
    '''))
    text = input_layer('data', (2, 3)) + '''
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "h"
  inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "dbl" type: "Python" bottom: "h" top: "h" python_param { module: "%s" layer: "Double" } }
layer { name: "sq" type: "Power" bottom: "h" top: "y" loss_weight: 1 power_param { power: 2 } }
''' % mod
    net = make_net(text, phase)
    x = RNG(22).randn(2, 3).astype(np.float32)
    W = net.params['ip'][0].data
    h = 2 * (x @ W.T)
    net.forward(data=x)
    assert np.allclose(net.blobs['h'].data, h, atol=1e-5)
    assert np.allclose(net.blobs['y'].data, h ** 2, atol=1e-5)
    net.backward()
    assert np.allclose(net.blobs['h'].data, h, atol=1e-5)
    assert np.allclose(net.blobs['y'].data, h ** 2, atol=1e-5)
    assert np.allclose(net.params['ip'][0].diff, (2 * 2 * h).T @ x, atol=1e-4)


def test_python_layer_with_its_own_param_blob(pymodule):
    mod = pymodule('tc_net_pyparam', textwrap.dedent('''
        import numpy as np
        import torchcaffe as caffe

        class Bias(caffe.Layer):
            def setup(self, bottom, top):
                self.blobs.add_blob(bottom[0].data.shape[1])
                self.blobs[0].data[...] = 0.5

            def reshape(self, bottom, top):
                top[0].reshape(*bottom[0].data.shape)

            def forward(self, bottom, top):
                top[0].data[...] = bottom[0].data + self.blobs[0].data

            def backward(self, top, propagate_down, bottom):
                self.blobs[0].diff[...] += top[0].diff.sum(0)
                if propagate_down[0]:
                    bottom[0].diff[...] = top[0].diff
    '''))
    text = input_layer('data', (2, 3)) + '''
layer { name: "bias" type: "Python" bottom: "data" top: "y" loss_weight: 1 python_param { module: "%s" layer: "Bias" } }
''' % mod
    net = make_net(text)
    assert list(net.params) == ['bias'] and net.params['bias'][0].data.shape == (3,)
    out = net.forward(data=np.ones((2, 3), np.float32))
    assert np.allclose(out['y'], 1.5)
    net.backward()
    assert np.allclose(net.params['bias'][0].diff, 2.0)


# -- share_with -------------------------------------------------------------------------

SHARE_NET = input_layer('data', (2, 3)) + '''
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "y"
  inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "train_extra" type: "InnerProduct" bottom: "y" top: "z" include { phase: TRAIN }
  inner_product_param { num_output: 2 weight_filler { type: "gaussian" std: 1 } } }
'''


def test_share_with_makes_the_test_net_see_the_train_nets_updates():
    train = make_net(SHARE_NET, caffe.TRAIN)
    test = make_net(SHARE_NET, caffe.TEST)
    assert not np.array_equal(train.params['ip'][0].data, test.params['ip'][0].data)
    test.share_with(train)
    assert np.array_equal(train.params['ip'][0].data, test.params['ip'][0].data)
    train.params['ip'][0].data[...] = 7
    train.params['ip'][1].data[...] = -1
    out = test.forward(data=np.ones((2, 3), np.float32))
    assert np.allclose(out['y'], 7 * 3 - 1)
    test.params['ip'][0].data[0, 0] = 100     # the memory is one
    assert train.params['ip'][0].data[0, 0] == 100


CONV_RELU_CONV = 'force_backward: true\n' + input_layer('data', (1, 2, 8, 8)) + '''
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "conv2" type: "Convolution" bottom: "conv" top: "out"
  convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: "gaussian" std: 0.5 } } }
'''


@pytest.mark.parametrize('linked', [True, False])
def test_training_pass_releases_the_value_an_in_place_relu_overwrote(linked):
    net = make_net(CONV_RELU_CONV, caffe.TRAIN)
    net.runner.use_linked = linked   # one graph for the pass, or the per-layer walk (see linked_pass)
    net.blobs['data'].data[...] = np.random.RandomState(0).randn(1, 2, 8, 8)
    net.forward()
    if linked:
        conv_out = net.runner.last_pass.link.first_read['conv']      # what ReLU read, linked to the conv
    else:
        conv_out = net.runner.last_pass.tape.entries[net.graph.index('conv')][2][0]  # what the conv recorded
    assert conv_out.untyped_storage().nbytes() == 0         # pre-ReLU values: gone, as in Caffe
    assert (net.blobs['conv'].data >= 0).all() and (net.blobs['conv'].data > 0).any()


@pytest.mark.parametrize('linked', [True, False])
def test_second_backward_after_a_released_relu_input_repeats_the_gradients(linked):
    net = make_net(CONV_RELU_CONV, caffe.TRAIN)
    net.runner.use_linked = linked
    net.blobs['data'].data[...] = np.random.RandomState(1).randn(1, 2, 8, 8)
    net.forward()
    net.blobs['out'].diff[...] = 1
    first = net.backward()['data'].copy()
    param = net.params['conv'][0].diff.copy()
    second = net.backward()['data']
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(net.params['conv'][0].diff, 2 * param)   # param diffs accumulate
    assert np.abs(first).max() > 0
