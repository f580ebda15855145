"""Bad input gives one clear torchcaffe.CaffeError whose message names the
problem (file, line, layer, blob, shapes), never a bare traceback from deep
inside protobuf or torch."""
import re

import numpy as np
import pytest

import torchcaffe as caffe
from tc_helpers import input_layer, make_net, write

IP_NET = input_layer('data', (2, 10)) + '''
layer { name: "conv_like" type: "InnerProduct" bottom: "data" top: "h"
  inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "ip" type: "InnerProduct" bottom: "h" top: "out"
  inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 1 } } }
'''


def _raises(fn, *args, **kwargs):
    with pytest.raises(caffe.CaffeError) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_malformed_prototxt_names_file_and_line(tmp_path):
    text = ('name: "bad"\n'
            + input_layer('data', (1, 2))
            + 'layer {\n  name: "ip"\n  type: "InnerProduct"\n  bottom: "data" top: "ip"\n'
              '  inner_product_param { num_output: three }\n}\n')
    line = text.splitlines().index('  inner_product_param { num_output: three }') + 1
    path = write(tmp_path / 'bad.prototxt', text)
    msg = _raises(caffe.Net, path, caffe.TEST)
    assert path in msg
    assert re.search(r'(line |:)%d\b' % line, msg), msg


def test_unbalanced_braces_name_file(tmp_path):
    path = write(tmp_path / 'open.prototxt', input_layer('data', (1, 2)) + 'layer { name: "x"\n')
    msg = _raises(caffe.Net, path, caffe.TEST)
    assert path in msg


def test_malformed_solver_prototxt_names_file_and_line(tmp_path):
    path = write(tmp_path / 'solver.prototxt', 'base_lr: 0.1\nlr_policy: fixed_typo_without_quotes\n')
    msg = _raises(caffe.get_solver, path)
    assert path in msg
    assert re.search(r'(line |:)2\b', msg), msg


def test_binary_file_given_as_prototxt(tmp_path):
    net = make_net(IP_NET)
    model = str(tmp_path / 'm.caffemodel')
    net.save(model)
    msg = _raises(caffe.Net, model, caffe.TEST)
    assert model in msg


def test_unknown_layer_type_names_layer_and_type():
    text = input_layer('data', (1, 2)) + \
        'layer { name: "mystery" type: "NoSuchLayerType" bottom: "data" top: "y" }\n'
    msg = _raises(make_net, text)
    assert 'mystery' in msg and 'NoSuchLayerType' in msg


def test_unknown_bottom_blob_names_layer_and_blob():
    text = input_layer('data', (1, 2)) + \
        'layer { name: "relu" type: "ReLU" bottom: "not_a_blob" top: "y" }\n'
    msg = _raises(make_net, text)
    assert 'relu' in msg and 'not_a_blob' in msg


def test_bottom_excluded_by_phase_is_unknown():
    """A layer that reads a blob made only in the other phase fails to build, naming the blob."""
    text = input_layer('data', (1, 2)) + '''
layer { name: "train_only" type: "ReLU" bottom: "data" top: "t" include { phase: TRAIN } }
layer { name: "reader" type: "ReLU" bottom: "t" top: "u" }
'''
    make_net(text, caffe.TRAIN)
    msg = _raises(make_net, text, caffe.TEST)
    assert 'reader' in msg and "'t'" in msg


def test_missing_prototxt_file(tmp_path):
    path = str(tmp_path / 'nowhere.prototxt')
    msg = _raises(caffe.Net, path, caffe.TEST)
    assert path in msg and 'not found' in msg


def test_missing_caffemodel_file(tmp_path):
    proto = write(tmp_path / 'net.prototxt', IP_NET)
    model = str(tmp_path / 'missing.caffemodel')
    msg = _raises(caffe.Net, proto, model, caffe.TEST)
    assert model in msg and 'not found' in msg
    net = caffe.Net(proto, caffe.TEST)
    msg = _raises(net.copy_from, model)
    assert model in msg


def test_truncated_caffemodel(tmp_path):
    net = make_net(IP_NET)
    good = tmp_path / 'good.caffemodel'
    net.save(str(good))
    data = good.read_bytes()
    # Cut inside the last weight blob's float array: certainly not a message boundary.
    cut = tmp_path / 'cut.caffemodel'
    cut.write_bytes(data[:len(data) - 7])
    proto = write(tmp_path / 'net.prototxt', IP_NET)
    msg = _raises(caffe.Net, proto, str(cut), caffe.TEST)
    assert str(cut) in msg
    assert 'truncated' in msg or 'corrupt' in msg


def test_mean_file_with_a_negative_dimension(tmp_path):
    # Found by a 3,000-input fuzz campaign: legacy num = -2**31 with no values.
    from torchcaffe import io
    from torchcaffe.proto import caffe_pb2
    bp = caffe_pb2.BlobProto(num=-2 ** 31, channels=0, height=0, width=0)
    path = tmp_path / 'mean.binaryproto'
    path.write_bytes(bp.SerializeToString())
    msg = _raises(io.load_mean, str(path))
    assert 'negative dimension' in msg


def test_copy_from_shape_mismatch_names_layer_and_both_shapes_and_changes_nothing(tmp_path):
    source = make_net(IP_NET)
    model = str(tmp_path / 'm.caffemodel')
    source.save(model)
    wider = IP_NET.replace('num_output: 5', 'num_output: 7')
    net = make_net(wider)
    before = {k: [b.data.copy() for b in v] for k, v in net.params.items()}
    assert not np.array_equal(before['conv_like'][0], source.params['conv_like'][0].data)
    msg = _raises(net.copy_from, model)
    assert "'ip'" in msg or '"ip"' in msg
    assert re.search(r'5\s*[,x]\s*4', msg), msg     # the caffemodel's (5, 4)
    assert re.search(r'7\s*[,x]\s*4', msg), msg     # the net's (7, 4)
    # all-or-nothing: the layer that did match was not copied either
    for k, blobs in net.params.items():
        for b, old in zip(blobs, before[k]):
            assert np.array_equal(b.data, old), k


def test_copy_from_wrong_number_of_param_blobs(tmp_path):
    with_bias = make_net(IP_NET)
    model = str(tmp_path / 'm.caffemodel')
    with_bias.save(model)
    no_bias = IP_NET.replace('num_output: 5', 'num_output: 5 bias_term: false')
    net = make_net(no_bias)
    assert len(net.params['ip']) == 1
    msg = _raises(net.copy_from, model)
    assert 'ip' in msg and '2' in msg and '1' in msg


def test_more_param_specs_than_blobs():
    text = input_layer('data', (1, 3)) + '''
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "y"
  param { lr_mult: 1 } param { lr_mult: 2 } param { lr_mult: 3 }
  inner_product_param { num_output: 2 } }
'''
    msg = _raises(make_net, text)
    assert 'ip' in msg and '3' in msg and '2' in msg


LOSS_NET = input_layer('score', (2, 3, 2, 2)) + input_layer('label', (2, 1, 2, 2)) + '''
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" %s }
'''


def test_label_outside_class_range():
    net = make_net(LOSS_NET % '')
    net.blobs['score'].data[...] = np.random.RandomState(0).randn(2, 3, 2, 2)
    net.blobs['label'].data[...] = 0
    net.blobs['label'].data[1, 0, 1, 0] = 3
    msg = _raises(net.forward)
    assert 'loss' in msg and '3' in msg and 'range' in msg
    net.blobs['label'].data[1, 0, 1, 0] = -1
    msg = _raises(net.forward)
    assert '-1' in msg


def test_ignore_label_is_not_out_of_range_but_other_values_are():
    net = make_net(LOSS_NET % 'loss_param { ignore_label: 255 }')
    net.blobs['score'].data[...] = np.random.RandomState(0).randn(2, 3, 2, 2)
    net.blobs['label'].data[...] = 1
    net.blobs['label'].data[0, 0, 0, :] = 255
    loss = float(net.forward()['loss'])
    assert np.isfinite(loss) and loss > 0
    net.blobs['label'].data[0, 0, 1, 1] = 7
    msg = _raises(net.forward)
    assert '7' in msg and '255' in msg


def test_python_layer_module_missing():
    text = input_layer('data', (1, 2)) + '''
layer { name: "py" type: "Python" bottom: "data" top: "y"
  python_param { module: "no_such_module_for_torchcaffe_tests" layer: "Nope" } }
'''
    msg = _raises(make_net, text)
    assert 'py' in msg and 'no_such_module_for_torchcaffe_tests' in msg


def test_python_layer_class_missing(pymodule):
    pymodule('tc_err_pymod', 'import torchcaffe as caffe\n')
    text = input_layer('data', (1, 2)) + '''
layer { name: "py" type: "Python" bottom: "data" top: "y"
  python_param { module: "tc_err_pymod" layer: "Missing" } }
'''
    msg = _raises(make_net, text)
    assert 'tc_err_pymod' in msg and 'Missing' in msg


def _solver_file(tmp_path, body):
    write(tmp_path / 'train.prototxt', input_layer('data', (2, 3)) + input_layer('label', (2,)) + '''
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip" inner_product_param { num_output: 3 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
''')
    return write(tmp_path / 'solver.prototxt', 'train_net: "%s"\nbase_lr: 0.1\n%s'
                 % (tmp_path / 'train.prototxt', body))


def test_solver_with_bad_lr_policy(tmp_path):
    path = _solver_file(tmp_path, 'lr_policy: "cosine_dream"\n')

    def build_and_step():
        solver = caffe.get_solver(path)
        solver.step(1)

    msg = _raises(build_and_step)
    assert 'cosine_dream' in msg and 'lr_policy' in msg


def test_solver_with_unknown_type(tmp_path):
    path = _solver_file(tmp_path, 'lr_policy: "fixed"\ntype: "Lion"\n')
    msg = _raises(caffe.get_solver, path)
    assert 'Lion' in msg


def test_missing_solver_file(tmp_path):
    path = str(tmp_path / 'no_solver.prototxt')
    msg = _raises(caffe.get_solver, path)
    assert path in msg


def test_forward_with_a_name_that_is_not_an_input():
    net = make_net(IP_NET)
    msg = _raises(net.forward, h=np.zeros((2, 4), np.float32))
    assert "'h'" in msg and 'input' in msg


def test_net_without_phase():
    msg = _raises(caffe.Net, caffe.io.parse_text(IP_NET, caffe.proto.caffe_pb2.NetParameter()))
    assert 'phase' in msg
