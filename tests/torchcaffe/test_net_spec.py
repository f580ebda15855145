"""Tests for torchcaffe.net_spec: prototxt generated from Python net specs."""

import pytest
from google.protobuf import text_format

from torchcaffe import net_spec
from torchcaffe.net_spec import NetSpec, layers as L, params as P, to_proto
from torchcaffe.proto import caffe_pb2


def _layer(net, name):
    return next(l for l in net.layer if l.name == name)


def small_net():
    n = NetSpec()
    n.data, n.label = L.DummyData(
        shape=[dict(dim=[2, 3, 8, 8]), dict(dim=[2])], ntop=2)
    n.conv1 = L.Convolution(
        n.data, kernel_size=3, num_output=4, pad=1,
        param=[dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)],
        weight_filler=dict(type='xavier'))
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    n.pool1 = L.Pooling(n.relu1, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    n.ip = L.InnerProduct(n.pool1, num_output=10)
    n.loss = L.SoftmaxWithLoss(n.ip, n.label, loss_weight=1,
                               loss_param=dict(normalization=P.Loss.NONE))
    n.acc = L.Accuracy(n.ip, n.label, include=dict(phase=caffe_pb2.TEST))
    return n


def test_layer_order_names_and_tops():
    net = small_net().to_proto()
    assert [l.name for l in net.layer] == [
        'data', 'conv1', 'relu1', 'pool1', 'ip', 'loss', 'acc']
    assert [l.type for l in net.layer] == [
        'DummyData', 'Convolution', 'ReLU', 'Pooling', 'InnerProduct',
        'SoftmaxWithLoss', 'Accuracy']
    data = _layer(net, 'data')
    assert list(data.top) == ['data', 'label'] and not data.bottom
    relu = _layer(net, 'relu1')  # in place: top reuses the bottom name
    assert list(relu.bottom) == ['conv1'] and list(relu.top) == ['conv1']
    assert list(_layer(net, 'pool1').bottom) == ['conv1']
    assert list(_layer(net, 'loss').bottom) == ['ip', 'label']


def test_params_routing():
    net = small_net().to_proto()
    conv = _layer(net, 'conv1')
    cp = conv.convolution_param
    assert list(cp.kernel_size) == [3] and list(cp.pad) == [1]
    assert cp.num_output == 4 and cp.weight_filler.type == 'xavier'
    assert [(p.lr_mult, p.decay_mult) for p in conv.param] == [(1, 1), (2, 0)]
    pool = _layer(net, 'pool1').pooling_param
    assert pool.pool == caffe_pb2.PoolingParameter.MAX
    assert (pool.kernel_size, pool.stride) == (2, 2)
    loss = _layer(net, 'loss')
    assert list(loss.loss_weight) == [1.0]
    assert loss.loss_param.normalization == caffe_pb2.LossParameter.NONE
    acc = _layer(net, 'acc')
    assert [r.phase for r in acc.include] == [caffe_pb2.TEST]
    dummy = _layer(net, 'data').dummy_data_param
    assert [list(s.dim) for s in dummy.shape] == [[2, 3, 8, 8], [2]]


def test_text_format_roundtrip():
    text = text_format.MessageToString(small_net().to_proto())
    assert 'name: "conv1"' in text
    assert 'type: "Convolution"' in text
    assert 'pool: MAX' in text
    assert 'normalization: NONE' in text
    assert 'phase: TEST' in text
    assert 'weight_filler {\n      type: "xavier"\n    }' in text
    parsed = text_format.Parse(text, caffe_pb2.NetParameter())
    assert parsed == small_net().to_proto()


def test_enum_params():
    assert P.Pooling.MAX == caffe_pb2.PoolingParameter.MAX
    assert P.Pooling.AVE == caffe_pb2.PoolingParameter.AVE
    assert P.Eltwise.SUM == caffe_pb2.EltwiseParameter.SUM
    assert P.Eltwise.PROD == caffe_pb2.EltwiseParameter.PROD
    assert P.Loss.VALID == caffe_pb2.LossParameter.VALID
    with pytest.raises(AttributeError, match='no enum value'):
        P.Pooling.NOPE
    with pytest.raises(AttributeError, match='NoSuchParameter'):
        P.NoSuch


def test_enum_by_name_and_tuple_repeated():
    top = L.Pooling(L.Input(shape=dict(dim=[1, 1, 4, 4])), pool='AVE',
                    kernel_size=2)
    net = top.to_proto()
    assert net.layer[1].pooling_param.pool == caffe_pb2.PoolingParameter.AVE
    conv = L.Convolution(L.Input(), kernel_size=(3, 5), num_output=1)
    assert list(conv.to_proto().layer[1].convolution_param.kernel_size) == \
        [3, 5]


def test_auto_names():
    data = L.Input(shape=dict(dim=[1, 3, 4, 4]))
    a = L.ReLU(data)
    b = L.ReLU(a)
    c = L.Eltwise(a, b, operation=P.Eltwise.SUM)
    net = to_proto(c)
    assert [l.name for l in net.layer] == ['Input1', 'ReLU1', 'ReLU2',
                                           'Eltwise1']
    assert list(net.layer[3].bottom) == ['ReLU1', 'ReLU2']
    assert net.layer[3].eltwise_param.operation == \
        caffe_pb2.EltwiseParameter.SUM
    assert c.to_proto() == net


def test_multiple_unnamed_tops_and_partial_names():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 6]))
    halves = L.Slice(n.data, axis=1, ntop=2)
    n.out = L.Eltwise(*halves)
    net = n.to_proto()
    sl = net.layer[1]
    assert sl.name == 'Slice1' and list(sl.top) == ['Slice1', 'Slice2']
    assert list(net.layer[2].bottom) == ['Slice1', 'Slice2']
    assert sl.slice_param.axis == 1


def test_ntop_zero_layer():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1]))
    silence = L.Silence(n.data, ntop=0)
    assert isinstance(silence, net_spec.Function)
    n.silence = silence
    net = n.to_proto()
    assert net.layer[1].name == 'silence' and not net.layer[1].top
    assert list(net.layer[1].bottom) == ['data']
    assert to_proto(L.Silence(L.Input(), ntop=0)).layer[1].name == 'Silence1'


def test_python_layer():
    n = NetSpec()
    n.data, n.label = L.Python(module='voc_layers', layer='VOCSegDataLayer',
                               param_str="{'split': 'train'}", ntop=2)
    lp = n.to_proto().layer[0]
    assert lp.type == 'Python' and list(lp.top) == ['data', 'label']
    assert lp.python_param.module == 'voc_layers'
    assert lp.python_param.layer == 'VOCSegDataLayer'
    assert lp.python_param.param_str == "{'split': 'train'}"


def test_explicit_sub_message_and_message_values():
    filler = caffe_pb2.FillerParameter(type='constant', value=0.5)
    top = L.Deconvolution(
        L.Input(), convolution_param=dict(num_output=2, kernel_size=4,
                                          stride=2, bias_term=False),
        param=[dict(lr_mult=0)])
    lp = top.to_proto().layer[1]
    assert lp.convolution_param.num_output == 2
    assert list(lp.convolution_param.stride) == [2]
    assert lp.convolution_param.bias_term is False
    assert lp.param[0].lr_mult == 0 and lp.param[0].HasField('lr_mult')
    # bare keywords on Deconvolution reach convolution_param too
    lp = L.Deconvolution(L.Input(), num_output=3, kernel_size=2,
                         weight_filler=filler).to_proto().layer[1]
    assert lp.convolution_param.num_output == 3
    assert lp.convolution_param.weight_filler == filler


def test_layer_fields_and_name_override():
    lp = L.ReLU(L.Input(), name='myrelu', propagate_down=[False],
                exclude=[dict(phase=caffe_pb2.TRAIN)],
                relu_param=dict(negative_slope=0.1)).to_proto().layer[1]
    assert lp.name == 'myrelu'
    assert list(lp.propagate_down) == [False]
    assert lp.exclude[0].phase == caffe_pb2.TRAIN
    assert lp.relu_param.negative_slope == pytest.approx(0.1)
    lp = L.ReLU(L.Input(), negative_slope=0.2).to_proto().layer[1]
    assert lp.relu_param.negative_slope == pytest.approx(0.2)


def test_shared_subgraph_emitted_once():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3]))
    n.a = L.ReLU(n.data)
    n.b = L.TanH(n.a)
    n.c = L.Sigmoid(n.a)
    n.sum = L.Eltwise(n.b, n.c)
    assert [l.name for l in n.to_proto().layer] == ['data', 'a', 'b', 'c',
                                                    'sum']


def test_topological_order_independent_of_assignment_order():
    n = NetSpec()
    data = L.Input(shape=dict(dim=[1]))
    relu = L.ReLU(data)
    n.relu = relu  # assigned before its input
    n.data = data
    net = n.to_proto()
    assert [l.name for l in net.layer] == ['data', 'relu']
    assert list(net.layer[1].bottom) == ['data']


def test_netspec_item_access_and_errors():
    n = NetSpec()
    n['data'] = L.Input()
    assert n['data'] is n.data and 'data' in n
    with pytest.raises(AttributeError):
        n.missing
    with pytest.raises(TypeError):
        n.pair = L.Slice(n.data, ntop=2)  # a tuple, not a Top
    with pytest.raises(TypeError, match='not a Top'):
        L.ReLU('data')
    with pytest.raises(AttributeError, match='no_such_field'):
        L.Convolution(n.data, no_such_field=1).to_proto()


def test_param_name_dict():
    names = net_spec.param_name_dict()
    assert names['Convolution'] == 'convolution'
    assert names['InnerProduct'] == 'inner_product'
    assert names['Python'] == 'python'
    assert names['HDF5Data'] == 'hdf5_data'
    assert names['Loss'] == 'loss'
