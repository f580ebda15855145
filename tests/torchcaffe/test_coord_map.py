"""Tests for torchcaffe.coord_map: crop placement through NetSpec graphs."""

import numpy as np
import pytest

from torchcaffe.coord_map import (CoordMapError, coord_map_from_to, crop,
                                  UndefinedMapException, coord_map)
from torchcaffe.net_spec import NetSpec, layers as L, params as P
from torchcaffe.proto import caffe_pb2

FRZ = [dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)]


def conv_relu(bottom, nout, ks=3, stride=1, pad=1):
    conv = L.Convolution(bottom, kernel_size=ks, stride=stride,
                         num_output=nout, pad=pad, param=FRZ)
    return conv, L.ReLU(conv, in_place=True)


def max_pool(bottom, ks=2, stride=2):
    return L.Pooling(bottom, pool=P.Pooling.MAX, kernel_size=ks, stride=stride)


def upsample(bottom, factor):
    return L.Deconvolution(
        bottom, param=[dict(lr_mult=0)],
        convolution_param=dict(num_output=21, kernel_size=2 * factor,
                               stride=factor, bias_term=False))


def score(bottom):
    return L.Convolution(bottom, num_output=21, kernel_size=1, pad=0,
                         param=FRZ)


def fcn(stride):
    """VGG16 FCN-32s/16s/8s (pad 100) with crops placed by coord_map."""
    n = NetSpec()
    n.data, n.label = L.Python(module='voc_layers', layer='VOCSegDataLayer',
                               param_str='{}', ntop=2)
    bottom = n.data
    for block, (reps, width) in enumerate(
            [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)], 1):
        for i in range(1, reps + 1):
            pad = 100 if (block, i) == (1, 1) else 1
            conv, relu = conv_relu(bottom, width, pad=pad)
            n['conv%d_%d' % (block, i)], n['relu%d_%d' % (block, i)] = \
                conv, relu
            bottom = relu
        bottom = n['pool%d' % block] = max_pool(bottom)
    n.fc6, n.relu6 = conv_relu(n.pool5, 4096, ks=7, pad=0)
    n.drop6 = L.Dropout(n.relu6, dropout_ratio=0.5, in_place=True)
    n.fc7, n.relu7 = conv_relu(n.drop6, 4096, ks=1, pad=0)
    n.drop7 = L.Dropout(n.relu7, dropout_ratio=0.5, in_place=True)
    n.score_fr = score(n.drop7)
    if stride == 32:
        n.upscore = upsample(n.score_fr, 32)
        n.score = crop(n.upscore, n.data)
    else:
        n.upscore2 = upsample(n.score_fr, 2)
        n.score_pool4 = score(n.pool4)
        n.score_pool4c = crop(n.score_pool4, n.upscore2)
        n.fuse_pool4 = L.Eltwise(n.upscore2, n.score_pool4c,
                                 operation=P.Eltwise.SUM)
        if stride == 16:
            n.upscore16 = upsample(n.fuse_pool4, 16)
            n.score = crop(n.upscore16, n.data)
        else:
            n.upscore_pool4 = upsample(n.fuse_pool4, 2)
            n.score_pool3 = score(n.pool3)
            n.score_pool3c = crop(n.score_pool3, n.upscore_pool4)
            n.fuse_pool3 = L.Eltwise(n.upscore_pool4, n.score_pool3c,
                                     operation=P.Eltwise.SUM)
            n.upscore8 = upsample(n.fuse_pool3, 8)
            n.score = crop(n.upscore8, n.data)
    n.loss = L.SoftmaxWithLoss(n.score, n.label,
                               loss_param=dict(normalize=False,
                                               ignore_label=255))
    return n


def crops(n):
    """{crop layer name: (bottoms, axis, offsets)} of a NetSpec."""
    return {l.name: (list(l.bottom), l.crop_param.axis,
                     list(l.crop_param.offset))
            for l in n.to_proto().layer if l.type == 'Crop'}


def test_fcn32s_crop():
    assert crops(fcn(32)) == {'score': (['upscore', 'data'], 2, [19])}


def test_fcn16s_crops():
    assert crops(fcn(16)) == {
        'score_pool4c': (['score_pool4', 'upscore2'], 2, [5]),
        'score': (['upscore16', 'data'], 2, [27])}


def test_fcn8s_crops():
    assert crops(fcn(8)) == {
        'score_pool4c': (['score_pool4', 'upscore2'], 2, [5]),
        'score_pool3c': (['score_pool3', 'upscore_pool4'], 2, [9]),
        'score': (['upscore8', 'data'], 2, [31])}


def test_fcn_net_layer_order():
    names = [l.name for l in fcn(8).to_proto().layer]
    assert names[:3] == ['data', 'conv1_1', 'relu1_1']
    assert names.index('score_pool4c') < names.index('fuse_pool4')
    assert names[-2:] == ['score', 'loss']


def test_coord_map_values():
    n = fcn(32)
    ax, a, b = coord_map_from_to(n.upscore, n.data)
    assert ax == 1
    np.testing.assert_array_equal(a, [1.0])
    np.testing.assert_array_equal(b, [-19.0])
    ax, a, b = coord_map_from_to(n.pool5, n.data)
    np.testing.assert_array_equal(a, [32.0])
    ax, a, b = coord_map_from_to(n.data, n.pool5)
    np.testing.assert_array_equal(a, [1 / 32.0])


def test_per_dimension_params_and_legacy_hw():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 20, 20]))
    n.conv = L.Convolution(n.data, kernel_size=[3, 5], pad=[0, 0],
                           num_output=1)
    n.c = crop(n.data, n.conv)
    assert crops(n)['c'] == (['data', 'conv'], 2, [1, 2])
    n2 = NetSpec()
    n2.data = L.Input(shape=dict(dim=[1, 1, 20, 20]))
    n2.pool = L.Pooling(n2.data, kernel_h=3, kernel_w=5, stride=1)
    n2.c = crop(n2.data, n2.pool)
    assert crops(n2)['c'] == (['data', 'pool'], 2, [1, 2])


def test_dilation_and_pass_through_layers():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 32, 32]))
    x = L.Convolution(n.data, kernel_size=3, dilation=2, num_output=3)
    for t in ['ReLU', 'Sigmoid', 'TanH', 'Power', 'Dropout', 'BatchNorm',
              'Scale', 'Softmax']:
        x = getattr(L, t)(x)
    x = L.Eltwise(x, L.Split(x))
    n.cat = L.Concat(x, L.AbsVal(x))
    n.c = crop(n.data, n.cat)
    assert crops(n)['c'] == (['data', 'cat'], 2, [2])


def test_crop_of_crop_and_convolution_param_dict():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 20, 20]))
    n.ref = L.Convolution(n.data, convolution_param=dict(kernel_size=5,
                                                         num_output=1))
    n.c1 = crop(n.data, n.ref)  # offset 2
    n.c2 = L.Crop(n.c1, n.ref, crop_param=dict(offset=[1]))
    n.big = L.Convolution(n.data, kernel_size=1, pad=4, num_output=1)
    n.c3 = crop(n.big, n.c2)  # big starts 4 before data, c2 starts 3 after
    assert crops(n)['c3'] == (['big', 'c2'], 2, [7])


def test_no_common_ancestor():
    n = NetSpec()
    n.a = L.Input(shape=dict(dim=[1, 1, 8, 8]))
    n.b = L.Input(shape=dict(dim=[1, 1, 8, 8]))
    with pytest.raises(CoordMapError, match='no common ancestor'):
        crop(n.a, n.b)
    # an unmapped layer (InnerProduct) cuts the path as well
    n.ip = L.InnerProduct(n.a, num_output=64)
    n.r = L.Reshape(n.ip, shape=dict(dim=[1, 1, 8, 8]))
    with pytest.raises(CoordMapError, match='no common ancestor'):
        coord_map_from_to(n.r, n.a)
    with pytest.raises(UndefinedMapException):
        coord_map(n.ip.fn)


def test_scale_mismatch():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 8, 8]))
    n.pool = L.Pooling(n.data, kernel_size=2, stride=2)
    with pytest.raises(CoordMapError, match='scale'):
        crop(n.pool, n.data)


def test_non_integral_offset():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 8, 8]))
    n.conv = L.Convolution(n.data, kernel_size=2, num_output=1)
    with pytest.raises(CoordMapError, match='not integral'):
        crop(n.data, n.conv)


def test_negative_offset():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 8, 8]))
    n.conv = L.Convolution(n.data, kernel_size=3, num_output=1)
    with pytest.raises(CoordMapError, match='negative offset'):
        crop(n.conv, n.data)  # conv output starts 1 pixel inside data


def test_crop_returns_crop_top():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 8, 8]))
    n.c = crop(n.data, n.data)
    lp = n.to_proto().layer[1]
    assert lp.type == 'Crop' and list(lp.crop_param.offset) == [0]
    assert isinstance(lp, caffe_pb2.LayerParameter)
