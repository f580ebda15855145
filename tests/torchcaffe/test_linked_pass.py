"""A whole pass recorded as one graph (torchcaffe.linked_pass) gives what the per-layer walk gives.

Each net runs twice from the same state, once linked and once with the per-layer walk
(`net.runner.use_linked` switched off), through two forward/backward passes (param diffs
accumulate across them), and every blob and param diff must be equal.
"""
import numpy as np
import pytest

import torchcaffe as caffe
from tc_helpers import DOUBLE_LAYER, golden_net, input_layer, make_net

GOLDEN_NETS = ['nets/slim_fcn8s', 'nets/slim_fcn8s_atonce', 'nets/slim_fcn_alexnet', 'nets/multitask_two_losses']

# One blob read by three layers (one of them reads it twice), an in-place chain that ends the
# net, shared weights, a frozen layer, a blocked propagate_down, Concat, Crop, Deconvolution,
# Dropout and two weighted losses.
MIXED = input_layer('data', (2, 3, 9, 9)) + input_layer('label', (2, 1, 9, 9)) + '''
layer { name: "c1" type: "Convolution" bottom: "data" top: "c1"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "r1" type: "ReLU" bottom: "c1" top: "c1" }
layer { name: "a" type: "Convolution" bottom: "c1" top: "a"
  param { name: "shared_w" } param { name: "shared_b" }
  convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "b" type: "Convolution" bottom: "c1" top: "b"
  param { name: "shared_w" } param { name: "shared_b" }
  convolution_param { num_output: 4 kernel_size: 1 } }
layer { name: "sum" type: "Eltwise" bottom: "a" bottom: "b" bottom: "c1" bottom: "c1" top: "sum"
  eltwise_param { coeff: 1 coeff: -0.5 coeff: 2 coeff: 0.25 } }
layer { name: "frozen" type: "Convolution" bottom: "sum" top: "frozen"
  param { lr_mult: 0 } param { lr_mult: 0 }
  convolution_param { num_output: 4 kernel_size: 3 stride: 2 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "drop" type: "Dropout" bottom: "frozen" top: "frozen" dropout_param { dropout_ratio: 0.3 } }
layer { name: "up" type: "Deconvolution" bottom: "frozen" top: "up"
  convolution_param { num_output: 4 kernel_size: 4 stride: 2 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "crop" type: "Crop" bottom: "up" bottom: "data" top: "crop" crop_param { axis: 2 offset: 1 } }
layer { name: "cat" type: "Concat" bottom: "crop" bottom: "sum" top: "cat" propagate_down: true propagate_down: false }
layer { name: "score" type: "Convolution" bottom: "cat" top: "score"
  convolution_param { num_output: 3 kernel_size: 1 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" loss_weight: 0.5 }
layer { name: "loss2" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss2"
  loss_param { normalize: false } }
layer { name: "tail" type: "Power" bottom: "sum" top: "tail" power_param { scale: 3 } }
layer { name: "tail_relu" type: "ReLU" bottom: "tail" top: "tail" }
'''


def _golden_net(case):
    net = golden_net(case)
    net.forward()
    return net


def _mixed_net():
    caffe.set_random_seed(3)
    net = make_net(MIXED, caffe.TRAIN)
    rng = np.random.RandomState(0)
    net.blobs['data'].data[...] = rng.randn(2, 3, 9, 9)
    net.blobs['label'].data[...] = rng.randint(0, 3, (2, 1, 9, 9))
    return net


def _diffs(build, linked):
    net = build()
    assert net.graph.linkable
    net.runner.use_linked = linked
    rng = np.random.RandomState(1)
    for _ in range(2):
        caffe.set_random_seed(7)     # the same Dropout masks for both ways
        net.forward()
        assert (net.runner.last_pass.link is not None) == linked
        for name in net.outputs:
            if not net.blob_loss_weights[name]:
                net.blobs[name].diff[...] = rng.randn(*net.blobs[name].shape)
        net.backward()
    blobs = {name: blob.diff.copy() for name, blob in net.blobs.items()}
    params = {(name, j): p.diff.copy() for name, ps in net.params.items() for j, p in enumerate(ps)}
    return blobs, params


@pytest.mark.parametrize('build', [_mixed_net] + [lambda case=case: _golden_net(case) for case in GOLDEN_NETS],
                         ids=['mixed'] + GOLDEN_NETS)
def test_linked_and_per_layer_backward_agree(build):
    linked_blobs, linked_params = _diffs(build, True)
    walk_blobs, walk_params = _diffs(build, False)
    assert linked_blobs.keys() == walk_blobs.keys() and linked_params.keys() == walk_params.keys()
    for name in walk_blobs:
        np.testing.assert_array_equal(linked_blobs[name], walk_blobs[name], err_msg='blob %s' % name)
    for key in walk_params:
        np.testing.assert_array_equal(linked_params[key], walk_params[key], err_msg='param %s' % (key,))
    assert any(np.abs(d).max() > 0 for d in walk_params.values())


def test_a_backward_over_part_of_a_linked_pass_walks_the_layers_from_the_diffs_blobs_hold():
    """As Caffe's BackwardFromTo: a top whose readers lie beyond `start` brings the diff it holds."""
    net = _mixed_net()
    caffe.set_random_seed(7)
    net.forward()
    net.backward()
    whole = net.blobs['crop'].diff.copy()
    caffe.set_random_seed(7)
    net.forward()
    assert net.runner.last_pass.link is not None
    part = net.backward(start='score', end='cat')
    assert net.runner.last_pass.link is None
    np.testing.assert_array_equal(part['crop'], whole)
    assert np.abs(whole).max() > 0


def test_nets_the_link_cannot_express_keep_the_per_layer_walk(pymodule):
    mod = pymodule('double_mod', DOUBLE_LAYER)
    python_backward = make_net('force_backward: true\n' + input_layer('x', (2, 3)) + '''
layer { name: "d" type: "Python" bottom: "x" top: "y" python_param { module: "%s" layer: "Double" } }
''' % mod)
    blocked_in_place = make_net(input_layer('x', (2, 3)) + input_layer('label', (2,)) + '''
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 4 } }
layer { name: "r" type: "ReLU" bottom: "y" top: "y" propagate_down: false }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "y" bottom: "label" top: "loss" }
''', caffe.TRAIN)
    assert not python_backward.graph.linkable and not blocked_in_place.graph.linkable


@pytest.mark.parametrize('build', [_mixed_net, lambda: _golden_net('nets/slim_fcn8s')], ids=['mixed', 'slim_fcn8s'])
def test_linked_and_per_layer_backward_agree_in_fast_mode(build):
    caffe.set_fast_mode()
    test_linked_and_per_layer_backward_agree(build)
