"""fcn.weights: locating a net's caffemodel and checking that it sets the net's learnable layers."""
import os

import pytest

from backend import caffe
from fcn import paths, weights
from fcn.errors import MissingFile

DEPLOY = '''
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "score" type: "Convolution" bottom: "conv2" top: "score"
        convolution_param { num_output: 2 kernel_size: 1 weight_filler { type: "gaussian" std: 0.1 } } }
'''


@pytest.fixture
def net(tmp_path):
    path = tmp_path / 'deploy.prototxt'
    path.write_text(DEPLOY)
    return caffe.Net(str(path), caffe.TEST)


def caffemodel(path, layers, v1=False):
    """A caffemodel with a one-value blob for each named layer (V1 `layers` when asked)."""
    pb2 = weights.caffe_pb2()
    param = pb2.NetParameter(name='made')
    for name in layers:
        layer = param.layers.add() if v1 else param.layer.add()
        layer.name = name
        blob = layer.blobs.add()
        blob.data.append(1.0)
    layer = param.layer.add()     # a layer without blobs does not count
    layer.name = 'relu1'
    path.write_bytes(param.SerializeToString())
    return str(path)


def test_a_caffemodel_that_sets_every_learnable_layer_gives_no_warning(net, tmp_path):
    path = str(tmp_path / 'full.caffemodel')
    net.save(path)
    assert weights.layers_with_blobs(path) == ['conv1', 'conv2', 'score']
    assert weights.check(net, path) == []


def test_some_layers_unset_is_a_warning_naming_them(net, tmp_path):
    path = caffemodel(tmp_path / 'part.caffemodel', ['conv1', 'other'])
    (line,) = weights.check(net, path)
    assert 'set 1 of the net\'s 3' in line and 'conv2, score' in line and path in line


def test_v1_layers_count_too(net, tmp_path):
    path = caffemodel(tmp_path / 'v1.caffemodel', ['conv1', 'conv2', 'score'], v1=True)
    assert weights.coverage(net, path) == (['conv1', 'conv2', 'score'], [])


def test_none_set_is_an_error_unless_allowed(net, tmp_path):
    path = caffemodel(tmp_path / 'other.caffemodel', ['fc6', 'fc7'])
    with pytest.raises(weights.WeightsMismatch, match='set none of the net\'s 3 learnable layers.*--allow-partial'):
        weights.check(net, path)
    (line,) = weights.check(net, path, allow_partial=True)
    assert 'fillers' in line


def test_empty_and_garbage_files_are_errors_naming_them(net, tmp_path):
    empty = tmp_path / 'empty.caffemodel'
    empty.write_bytes(b'')
    with pytest.raises(weights.WeightsMismatch, match='%s is empty' % empty):
        weights.check(net, str(empty))
    garbage = tmp_path / 'garbage.caffemodel'
    garbage.write_bytes(b'\xff' * 64)
    with pytest.raises(weights.WeightsMismatch, match='%s is not a caffemodel' % garbage):
        weights.check(net, str(garbage))


def test_locate_suggests_make_weights_only_for_the_default_path(tmp_path, monkeypatch):
    monkeypatch.setattr(paths, 'WEIGHTS', str(tmp_path / 'weights'))
    with pytest.raises(MissingFile, match=r'run `make weights NET=voc-fcn8s`') as e:
        weights.locate('voc-fcn8s')
    assert os.path.join(str(tmp_path), 'weights', 'voc-fcn8s.caffemodel') in str(e.value)
    with pytest.raises(MissingFile, match='does not exist') as e:
        weights.locate('voc-fcn8s', str(tmp_path / 'mine.caffemodel'))
    assert 'make weights' not in str(e.value)
    (tmp_path / 'weights').mkdir()
    (tmp_path / 'weights' / 'voc-fcn8s.caffemodel').write_bytes(b'x')
    assert weights.locate('voc-fcn8s') == str(tmp_path / 'weights' / 'voc-fcn8s.caffemodel')
