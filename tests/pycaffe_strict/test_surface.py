"""The strict pycaffe stand-in: exactly pycaffe's surface (strict), torchcaffe's numbers (faithful).

pytest puts this folder on sys.path, so ``import caffe`` is the stand-in here
whatever FCN_BACKEND says.
"""
import pathlib
import sys

import numpy as np
import pytest

import caffe
import caffe.coord_map
import torchcaffe
import torchcaffe.coord_map

L, P = caffe.layers, caffe.params

NET = '''name: "small"
layer { name: "input" type: "Input" top: "data" top: "label"
        input_param { shape { dim: 2 dim: 3 dim: 8 dim: 8 } shape { dim: 2 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3 pad: 1
                            weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool" pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "pool" top: "fc"
        inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.3 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss" }
'''

SOLVER = '''net: "%s" base_lr: 0.05 momentum: 0.9 weight_decay: 0.001 lr_policy: "step" gamma: 0.5
stepsize: 2 max_iter: 4 display: 0 snapshot_prefix: "%s" iter_size: 2 random_seed: 5
'''

PYLAYERS = '''import caffe


class Indexing(caffe.Layer):
    """Copies its bottom to its top, by index, as pycaffe requires."""
    def setup(self, bottom, top):
        self.seen = (type(bottom).__name__, type(top).__name__, len(bottom), len(top))

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        top[0].data[...] = 2 * bottom[0].data


class Iterating(Indexing):
    def reshape(self, bottom, top):
        for t, b in zip(top, bottom):
            t.reshape(*b.data.shape)


class Failing(Indexing):
    def setup(self, bottom, top):
        raise KeyError('from the layer')
'''

PYNET = '''layer { name: "input" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "py" type: "Python" bottom: "x" top: "y" python_param { module: "strict_pylayers" layer: "%s" } }
'''


@pytest.fixture(autouse=True)
def _cpu_seeded():
    caffe.set_mode_cpu()
    caffe.set_random_seed(11)


@pytest.fixture
def files(tmp_path):
    net = tmp_path / 'net.prototxt'
    net.write_text(NET)
    solver = tmp_path / 'solver.prototxt'
    solver.write_text(SOLVER % (net, tmp_path / 'snap'))
    return net, solver


@pytest.fixture
def pynet(tmp_path, monkeypatch):
    """pynet(layer class) -> path of a net with one Python layer of strict_pylayers."""
    (tmp_path / 'strict_pylayers.py').write_text(PYLAYERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    yield lambda cls: _write(tmp_path / ('py_%s.prototxt' % cls), PYNET % cls)
    sys.modules.pop('strict_pylayers', None)


def _write(path, text):
    path.write_text(text)
    return str(path)


# -- the module surface ------------------------------------------------------------------------
PYCAFFE_NAMES = {  # python/caffe/__init__.py, without Classifier and Detector
    'Net', 'SGDSolver', 'NesterovSolver', 'AdaGradSolver', 'RMSPropSolver', 'AdaDeltaSolver',
    'AdamSolver', 'NCCL', 'Timer', 'init_log', 'log', 'set_mode_cpu', 'set_mode_gpu', 'set_device',
    'Layer', 'get_solver', 'layer_type_list', 'set_random_seed', 'solver_count',
    'set_solver_count', 'solver_rank', 'set_solver_rank', 'set_multiprocess', 'has_nccl',
    'TRAIN', 'TEST', 'io', 'layers', 'params', 'NetSpec', 'to_proto',
    # submodules bound by those imports
    '_caffe', 'pycaffe', 'proto', 'net_spec'}


def test_module_has_exactly_pycaffes_names():
    names = {n for n in dir(caffe) if not n.startswith('__')} - {'coord_map'}  # imported above
    assert names == PYCAFFE_NAMES
    for extra in ('set_fast_mode', 'set_faithful_mode', 'CaffeError', 'distributed', 'timing', 'Blob'):
        assert not hasattr(caffe, extra), extra
    assert (caffe.TRAIN, caffe.TEST) == (0, 1)
    assert caffe.proto.caffe_pb2.NetParameter is torchcaffe.proto.caffe_pb2.NetParameter
    assert not caffe.has_nccl() and caffe.solver_count() == 1 and caffe.solver_rank() == 0
    assert 'Convolution' in caffe.layer_type_list() and 'Python' in caffe.layer_type_list()


# -- Net ------------------------------------------------------------------------------------------
def test_net_constructors(files, tmp_path):
    net_file, _ = files
    net = caffe.Net(str(net_file), caffe.TEST)
    weights = str(tmp_path / 'w.caffemodel')
    net.save(weights)
    for loaded in (caffe.Net(str(net_file), weights, caffe.TEST),
                   caffe.Net(str(net_file), caffe.TEST, weights=weights),
                   caffe.Net(network_file=str(net_file), phase=caffe.TEST, level=0, stages=['a'],
                             weights=weights)):
        assert np.array_equal(loaded.params['conv'][0].data, net.params['conv'][0].data)
    with pytest.raises(TypeError):
        caffe.Net(pathlib.Path(net_file), caffe.TEST)      # boost converts only str
    with pytest.raises(TypeError):
        caffe.Net(torchcaffe.io.read_prototxt(str(net_file)), caffe.TEST)
    with pytest.raises(TypeError):
        caffe.Net(str(net_file))
    with pytest.raises(RuntimeError, match='Could not open file'):
        caffe.Net(str(tmp_path / 'missing.prototxt'), caffe.TEST)
    bad = _write(tmp_path / 'bad.prototxt', 'layer { name: "x" type: "NoSuchLayer" top: "x" }')
    with pytest.raises(RuntimeError) as err:
        caffe.Net(bad, caffe.TEST)
    assert type(err.value) is RuntimeError and 'NoSuchLayer' in str(err.value)


def test_net_attributes(files):
    net = caffe.Net(str(files[0]), caffe.TRAIN)
    assert list(net.blobs) == ['data', 'label', 'conv', 'pool', 'fc', 'loss']
    assert list(net.params) == ['conv', 'fc'] and list(net.layer_dict)[0] == 'input'
    assert net.inputs == ['data', 'label'] and net.outputs == ['loss']
    assert net.top_names['relu'] == ['conv'] and net.bottom_names['loss'] == ['fc', 'label']
    assert list(net._layer_names) == list(net.layer_dict) and list(net._blob_names) == list(net.blobs)
    assert net.blob_loss_weights['loss'] == 1 and net.blob_loss_weights['fc'] == 0
    assert net.layers[1].type == 'Convolution' and len(net.layers[1].blobs) == 2
    assert net.blobs is net.blobs and net.params is net.params      # built once, as in pycaffe
    for name in ('learnable_params', 'forward_backward', 'to_proto', 'first_nonfinite', 'phase'):
        assert not hasattr(net, name), name


def test_blob_surface(files):
    net = caffe.Net(str(files[0]), caffe.TEST)
    blob = net.blobs['data']
    assert blob.shape != (2, 3, 8, 8) and tuple(blob.shape) == (2, 3, 8, 8)   # a vector, not a tuple
    assert (blob.num, blob.channels, blob.height, blob.width, blob.count) == (2, 3, 8, 8, 384)
    with pytest.raises(AttributeError):
        blob.data = np.zeros((2, 3, 8, 8))
    with pytest.raises(TypeError):
        blob.reshape((1, 3, 4, 4))
    with pytest.raises(RuntimeError, match='no kwargs'):
        blob.reshape(1, 3, 4, w=4)
    blob.reshape(1, 3, 4, 4)
    assert blob.data.shape == (1, 3, 4, 4)
    with pytest.raises(AttributeError):
        blob.tensor


def test_param_vectors_index_and_iterate_layer_vectors_index(files):
    """net.params values are BlobVecs of shared_ptr, which boost can iterate (pycaffe itself zips them)."""
    net = caffe.Net(str(files[0]), caffe.TEST)
    conv = net.params['conv']
    assert len(conv) == 2 and [b.data.shape for b in conv] == [(4, 3, 3, 3), (4,)]
    assert conv[-1] is conv[1]
    with pytest.raises(IndexError):
        conv[2]
    with pytest.raises(TypeError):
        conv['0']
    assert not isinstance(conv, list) and not hasattr(conv, 'append')


def test_forward_and_backward_follow_pycaffe(files):
    net = caffe.Net(str(files[0]), caffe.TRAIN)
    x = np.random.RandomState(0).randn(2, 3, 8, 8).astype(np.float32)
    label = np.array([1, 3], dtype=np.float32)
    out = net.forward(data=x, label=label)
    assert set(out) == {'loss'}
    assert set(net.forward(blobs=['conv'], data=x, label=label)) == {'loss', 'conv'}
    assert set(net.forward(start='conv', end='pool')) == {'pool'}
    with pytest.raises(Exception, match='do not match net inputs'):
        net.forward(data=x)
    with pytest.raises(Exception, match='not batch sized'):
        net.forward(data=x[:1], label=label[:1])
    with pytest.raises(TypeError):
        net.forward(blobs=('conv',))      # pycaffe adds the list to the outputs list
    with pytest.raises(ValueError):
        net.forward(end='no such layer')
    net.forward()
    assert set(net.backward()) == {'data', 'label'}
    assert set(net.backward(start='fc', end='pool', diffs=['fc'])) == {'conv', 'fc'}  # pool's bottom
    with pytest.raises(Exception, match='do not match net outputs'):
        net.backward(fc=np.zeros((2, 5)))


def test_forward_all_batches_and_unpads(files):
    net = caffe.Net(str(files[0]), caffe.TEST)
    rng = np.random.RandomState(1)
    x, label = rng.randn(5, 3, 8, 8).astype(np.float32), np.zeros(5, np.float32)
    with pytest.raises(TypeError):      # pycaffe stacks outputs item by item: a scalar loss cannot be
        net.forward_all(data=x, label=label)
    deploy = files[0].parent / 'deploy.prototxt'
    deploy.write_text(NET.replace(' top: "label"', '').replace(' shape { dim: 2 }', '')
                      .split('layer { name: "loss"')[0])
    net = caffe.Net(str(deploy), caffe.TEST)
    out = net.forward_all(blobs=['pool'], data=x)
    assert set(out) == {'fc', 'pool'} and out['fc'].shape == (5, 5)
    two = net.forward(data=x[2:4])['fc']
    assert np.array_equal(out['fc'][2:4], two)


# -- Python layers: blob vectors are indexed, never iterated ------------------------------------
def test_python_layer_gets_index_only_vectors(pynet):
    net = caffe.Net(pynet('Indexing'), caffe.TRAIN)
    layer = net.layers[1]
    assert type(layer).__name__ == 'Indexing'                      # the Python object itself
    assert layer.seen == ('RawBlobVec', 'RawBlobVec', 1, 1)
    assert layer.param_str == '' and layer.phase == caffe.TRAIN
    net.blobs['x'].data[...] = np.arange(6).reshape(2, 3)
    net.forward()
    assert np.array_equal(net.blobs['y'].data, 2 * np.arange(6).reshape(2, 3))


def test_iterating_a_blob_vector_raises_as_boost_does(pynet):
    with pytest.raises(TypeError, match=r'No to_python \(by-value\) converter found for C\+\+ '
                                        r'type: caffe::Blob<float>\*'):
        caffe.Net(pynet('Iterating'), caffe.TEST)


def test_python_layer_errors_reach_the_caller_as_themselves(pynet):
    with pytest.raises(KeyError, match='from the layer'):
        caffe.Net(pynet('Failing'), caffe.TEST)


# -- Solver ------------------------------------------------------------------------------------------
def test_solver_param_has_only_pycaffes_fields(files):
    solver = caffe.SGDSolver(str(files[1]))
    p = solver.param
    assert (p.max_iter, p.display, p.layer_wise_reduce) == (4, 0, True)
    assert p.base_lr == pytest.approx(0.05)
    for name in ('iter_size', 'momentum', 'snapshot_prefix', 'type', 'test_iter'):
        with pytest.raises(AttributeError):
            getattr(p, name)
    with pytest.raises(AttributeError):
        p.max_iter = 3
    for name in ('smoothed_loss', 'history', 'current_step', 'test_all'):
        assert not hasattr(solver, name), name
    assert solver.lr == pytest.approx(0.05)
    p.base_lr = 0.5
    assert solver.lr == pytest.approx(0.5)
    with pytest.raises(TypeError):
        caffe.SGDSolver(pathlib.Path(files[1]))


def test_get_solver_gives_the_files_type(files, tmp_path):
    adam = tmp_path / 'adam.prototxt'
    adam.write_text(files[1].read_text() + 'type: "Adam"\nmomentum2: 0.999\n')
    assert type(caffe.get_solver(str(adam))) is caffe.AdamSolver
    assert type(caffe.get_solver(str(files[1]))) is caffe.SGDSolver


# -- coord_map: pycaffe's, without a Concat rule ----------------------------------------------
def _concat_graph():
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 32, 32]))
    n.conv = L.Convolution(n.data, kernel_size=3, stride=2, pad=5, num_output=4)
    n.a = L.Convolution(n.conv, kernel_size=1, num_output=2)
    n.b = L.Convolution(n.conv, kernel_size=3, pad=1, num_output=2)
    n.cat = L.Concat(n.a, n.b)
    n.up = L.Deconvolution(n.cat, convolution_param=dict(kernel_size=3, stride=2, num_output=4))
    return n


def test_coord_map_cannot_cross_concat():
    n = _concat_graph()
    with pytest.raises(RuntimeError):
        caffe.coord_map.crop(n.up, n.data)
    derived = torchcaffe.coord_map.crop(n.up, n.data)           # torchcaffe's passes Concat
    assert derived.fn.params['crop_param'] == dict(axis=2, offset=[5])
    # without the Concat both give the same crop
    up_b = L.Deconvolution(n.b, convolution_param=dict(kernel_size=3, stride=2, num_output=4))
    assert caffe.coord_map.crop(up_b, n.data).fn.params['crop_param'] == dict(axis=2, offset=[5])


def test_coord_map_reads_window_params_as_pycaffe_does():
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 32, 32]))
    n.pool = L.Pooling(n.data, pooling_param=dict(kernel_size=2, stride=2))
    n.up = L.Deconvolution(n.pool, convolution_param=dict(kernel_size=2, stride=2, num_output=3))
    with pytest.raises(KeyError):
        caffe.coord_map.crop(n.up, n.data)
    torchcaffe.coord_map.crop(n.up, n.data)


def test_netspec_missing_top_is_a_keyerror():
    n = caffe.NetSpec()
    with pytest.raises(KeyError):
        n.nothing
    with pytest.raises(KeyError):
        'data' in n


# -- faithful: the stand-in computes what torchcaffe computes -------------------------------------
def test_same_numbers_as_torchcaffe(files, tmp_path):
    net_file, _ = files
    strict = caffe.Net(str(net_file), caffe.TRAIN)
    weights = str(tmp_path / 'w.caffemodel')
    strict.save(weights)
    engine = torchcaffe.Net(str(net_file), caffe.TRAIN, weights=weights)
    rng = np.random.RandomState(3)
    x, label = rng.randn(2, 3, 8, 8).astype(np.float32), np.array([0, 4], np.float32)
    a = strict.forward(blobs=['fc'], data=x, label=label)
    b = engine.forward(blobs=['fc'], data=x, label=label)
    assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in a)
    da, db = strict.backward(diffs=['conv']), engine.backward(diffs=['conv'])
    assert np.array_equal(da['data'], db['data']) and np.array_equal(da['conv'], db['conv'])
    for name in ('conv', 'fc'):
        for i in range(2):
            assert np.array_equal(strict.params[name][i].diff, engine.params[name][i].diff)


def test_same_training_as_torchcaffe(files):
    _, solver_file = files
    rng = np.random.RandomState(4)
    x, label = rng.randn(2, 3, 8, 8).astype(np.float32), np.array([2, 1], np.float32)
    finals = []
    for make in (caffe.SGDSolver, torchcaffe.SGDSolver):
        solver = make(str(solver_file))
        solver.net.blobs['data'].data[...] = x
        solver.net.blobs['label'].data[...] = label
        solver.step(3)
        assert solver.iter == 3
        finals.append([solver.net.params[n][i].data.copy() for n in ('conv', 'fc') for i in range(2)])
    assert all(np.array_equal(p, q) for p, q in zip(*finals))
