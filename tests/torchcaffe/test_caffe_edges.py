"""Edges where Caffe accepts or refuses something, each as BVLC Caffe's source behaves."""
import numpy as np
import pytest

import torchcaffe as caffe
from tc_helpers import make_net
from torchcaffe.proto import caffe_pb2
from torchcaffe.solver import learning_rate


def test_loss_refuses_a_label_whose_first_dimension_is_not_the_scores():
    # two score maps of 3 x 4 x 5 beside ONE label map twice as wide: the same count of labels,
    # which would be read misaligned (loss_layer.cpp checks the first dimension)
    text = ('layer { name: "score" type: "Input" top: "score" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 5 } } }\n'
            'layer { name: "label" type: "Input" top: "label" input_param { shape { dim: 1 dim: 1 dim: 4 dim: 10 } } }\n'
            'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" }\n')
    with pytest.raises(caffe.CaffeError, match='same first dimension'):
        make_net(text, caffe.TRAIN)
    ok = make_net(text.replace('dim: 1 dim: 1 dim: 4 dim: 10', 'dim: 2 dim: 1 dim: 4 dim: 5'), caffe.TRAIN)
    ok.blobs['label'].reshape(1, 1, 4, 10)    # and when a reshape brings the mismatch at run time
    with pytest.raises(caffe.CaffeError, match='same first dimension'):
        ok.forward()


PERMISSIVE = '''force_backward: true
layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 6 } } }
layer { name: "y" type: "Input" top: "y" input_param { shape { dim: 2 dim: 2 dim: 1 dim: 3 } } }
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "ip"
  param { name: "w" } inner_product_param { num_output: 6 bias_term: false weight_filler { type: "gaussian" } } }
layer { name: "conv" type: "Convolution" bottom: "y" top: "conv"
  param { name: "w" share_mode: PERMISSIVE }
  convolution_param { num_output: 6 kernel_h: 1 kernel_w: 3 bias_term: false } }
'''


def test_permissive_sharing_keeps_each_layers_shape_over_the_same_values():
    # a 6 x 6 InnerProduct weight shared with a 6 x 2 x 1 x 3 convolution kernel (equal counts)
    net = make_net(PERMISSIVE, caffe.TRAIN)
    w_ip, w_conv = net.params['ip'][0], net.params['conv'][0]
    assert w_ip.data.shape == (6, 6) and w_conv.data.shape == (6, 2, 1, 3)
    np.testing.assert_array_equal(w_conv.data.reshape(6, 6), w_ip.data)
    assert len(net.learnable_params) == 1
    x = np.arange(12, dtype=np.float32).reshape(2, 6) / 10
    y = np.linspace(-1, 1, 12, dtype=np.float32).reshape(2, 2, 1, 3)
    net.blobs['x'].data[...], net.blobs['y'].data[...] = x, y
    net.forward()
    W = w_ip.data.copy()
    np.testing.assert_allclose(net.blobs['ip'].data, x @ W.T, rtol=1e-5)
    np.testing.assert_allclose(net.blobs['conv'].data.reshape(2, 6), y.reshape(2, 6) @ W.T, rtol=1e-5)
    net.backward(ip=np.ones((2, 6), np.float32), conv=np.ones((2, 6, 1, 1), np.float32))
    # both layers' gradients land in the one diff: with all-ones top diffs, every row of dW is
    # the sum over the batch of each layer's input
    want = x.sum(0) + y.reshape(2, 6).sum(0)
    np.testing.assert_allclose(w_ip.diff, np.broadcast_to(want, (6, 6)), rtol=1e-5)
    np.testing.assert_array_equal(w_conv.diff.reshape(6, 6), w_ip.diff)
    w_conv.data[0, 0, 0, 0] = 42     # one memory: a write through either shape is seen by the other
    assert w_ip.data[0, 0] == 42
    with pytest.raises(caffe.CaffeError, match='shares param'):
        make_net(PERMISSIVE.replace(' share_mode: PERMISSIVE', ''), caffe.TRAIN)


def test_poly_past_max_iter_is_refused_clearly():
    p = caffe_pb2.SolverParameter(base_lr=0.1, lr_policy='poly', power=0.9, max_iter=10)
    assert learning_rate(p, 10, 0)[0] == 0
    with pytest.raises(caffe.CaffeError, match='past max_iter 10'):
        learning_rate(p, 11, 0)


@pytest.mark.parametrize('kind, shape', [('Reshape', 'reshape_param { shape { dim: 0 dim: -1 } }'),
                                         ('Flatten', '')])
def test_in_place_reshape_and_flatten_are_refused(kind, shape):
    text = ('layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 4 } } }\n'
            'layer { name: "r" type: "%s" bottom: "x" top: "%%s" %s }\n' % (kind, shape))
    with pytest.raises(caffe.CaffeError, match='does not allow in-place computation'):
        make_net(text % 'x')
    assert make_net(text % 'flat').blobs['flat'].data.shape == (2, 12)


def test_eltwise_max_takes_coefficients_and_ignores_them_prod_refuses_them():
    text = ('layer { name: "a" type: "Input" top: "a" input_param { shape { dim: 1 dim: 4 } } }\n'
            'layer { name: "b" type: "Input" top: "b" input_param { shape { dim: 1 dim: 4 } } }\n'
            'layer { name: "e" type: "Eltwise" bottom: "a" bottom: "b" top: "e"\n'
            '  eltwise_param { operation: %s coeff: 2 coeff: -3 } }\n')
    net = make_net(text % 'MAX')
    net.blobs['a'].data[...] = [[1, -5, 3, 0]]
    net.blobs['b'].data[...] = [[2, -6, 1, 0]]
    np.testing.assert_array_equal(net.forward()['e'], [[2, -5, 3, 0]])
    with pytest.raises(caffe.CaffeError, match='only takes coefficients for summation'):
        make_net(text % 'PROD')
