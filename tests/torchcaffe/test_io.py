"""Caffe's files: caffemodel save/load, legacy V1 models and legacy input
declarations, solverstate round trips, atomic snapshots, binaryproto means,
and copy_from's match-by-name rule."""
import os

import numpy as np
import pytest

import torchcaffe as caffe
import torchcaffe.io as cio
from tc_helpers import GOLDEN, input_layer, make_net, net_param, write
from torchcaffe.proto import caffe_pb2
from torchcaffe.upgrade import upgrade_net

V1_DIR = GOLDEN / 'nets' / 'v1_classifier_transplant'

PARAM_NET = input_layer('data', (2, 3, 8, 8)) + '''
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1
    weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "uniform" min: -1 max: 1 } } }
layer { name: "up" type: "Deconvolution" bottom: "conv" top: "up"
  convolution_param { num_output: 4 kernel_size: 4 stride: 2 bias_term: false
    weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "ip" type: "InnerProduct" bottom: "up" top: "ip"
  inner_product_param { num_output: 5 weight_filler { type: "xavier" } bias_filler { type: "gaussian" std: 1 } } }
'''


def _param_values(net):
    return {(name, i): b.data.copy() for name, blobs in net.params.items() for i, b in enumerate(blobs)}


def test_save_then_load_gives_identical_values(tmp_path):
    net = make_net(PARAM_NET)
    before = _param_values(net)
    assert all(np.any(v != 0) for v in before.values())
    path = str(tmp_path / 'm.caffemodel')
    net.save(path)
    proto_path = write(tmp_path / 'net.prototxt', PARAM_NET)
    loaded = caffe.Net(proto_path, path, caffe.TEST)
    fresh = caffe.Net(proto_path, caffe.TEST)      # different random fill, overwritten by the weights
    fresh.copy_from(path)
    for other in (loaded, fresh):
        after = _param_values(other)
        assert after.keys() == before.keys()
        for key in before:
            assert after[key].dtype == np.float32
            assert np.array_equal(after[key], before[key]), key
    x = np.random.RandomState(0).randn(2, 3, 8, 8).astype(np.float32)
    assert np.array_equal(net.forward(data=x)['ip'], loaded.forward(data=x)['ip'])


def test_saved_caffemodel_is_a_caffe_netparameter(tmp_path):
    net = make_net(PARAM_NET)
    path = tmp_path / 'm.caffemodel'
    net.save(str(path))
    msg = cio.read_binary(path, caffe_pb2.NetParameter, 'caffemodel')
    by_name = {l.name: l for l in msg.layer}
    assert [l.name for l in msg.layer] == ['data', 'conv', 'up', 'ip']
    assert by_name['ip'].type == 'InnerProduct'
    assert [tuple(b.shape.dim) for b in by_name['conv'].blobs] == [(4, 3, 3, 3), (4,)]
    assert [tuple(b.shape.dim) for b in by_name['up'].blobs] == [(4, 4, 4, 4)]
    w = np.asarray(by_name['ip'].blobs[0].data, dtype=np.float32).reshape(by_name['ip'].blobs[0].shape.dim)
    assert np.array_equal(w, net.params['ip'][0].data)


def test_v1_caffemodel_loads_into_current_shapes():
    raw = cio.read_binary(V1_DIR / 'classifier_v1.caffemodel', caffe_pb2.NetParameter, 'caffemodel')
    assert len(raw.layers) and not len(raw.layer), 'the fixture should be a legacy V1 model'
    v1 = {l.name: l for l in raw.layers}
    # V1 InnerProduct weights carry 4-D legacy dims (1, 1, out, in).
    fc6 = v1['fc6'].blobs[0]
    assert not fc6.HasField('shape') and (fc6.num, fc6.channels) == (1, 1)

    net = caffe.Net(str(V1_DIR / 'classifier.prototxt'), str(V1_DIR / 'classifier_v1.caffemodel'), caffe.TEST)
    fresh = caffe.Net(str(V1_DIR / 'classifier.prototxt'), caffe.TEST)
    for name, blobs in net.params.items():
        for i, blob in enumerate(blobs):
            assert blob.data.shape == fresh.params[name][i].data.shape     # the current net's shapes
            src = v1[name].blobs[i]
            assert blob.data.size == src.height * src.width * src.num * src.channels
            assert np.array_equal(blob.data.ravel(), np.asarray(src.data, dtype=np.float32))
    assert net.params['fc6'][0].data.shape == (fc6.height, fc6.width)
    assert net.params['fc6'][1].data.ndim == 1


def test_v1_prototxt_text_is_upgraded(tmp_path):
    text = '''
name: "v1"
input: "data"
input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 3
layers { name: "conv" type: CONVOLUTION bottom: "data" top: "conv"
  blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
  convolution_param { num_output: 2 kernel_size: 1 weight_filler { type: "constant" value: 1 } } }
layers { name: "relu" type: RELU bottom: "conv" top: "conv" }
layers { name: "prob" type: SOFTMAX bottom: "conv" top: "prob" }
'''
    net = caffe.Net(write(tmp_path / 'v1.prototxt', text), caffe.TEST)
    assert [type(l).type for l in net.layers] == ['Input', 'Convolution', 'ReLU', 'Softmax']
    assert list(net.layer_dict) == ['input', 'conv', 'relu', 'prob']
    upgraded = upgrade_net(net_param(text))
    conv = [l for l in upgraded.layer if l.name == 'conv'][0]
    assert [(p.lr_mult, p.decay_mult) for p in conv.param] == [(1, 1), (2, 0)]
    x = np.arange(18, dtype=np.float32).reshape(1, 2, 3, 3) - 9
    out = net.forward(data=x)['prob']
    assert np.allclose(out, 0.5)   # both channels get the same (ReLU'd) sum


@pytest.mark.parametrize('header', [
    'input: "data" input_dim: 2 input_dim: 3 input_dim: 4 input_dim: 5 '
    'input: "aux" input_dim: 2 input_dim: 1 input_dim: 1 input_dim: 7',
    'input: "data" input_shape { dim: 2 dim: 3 dim: 4 dim: 5 } '
    'input: "aux" input_shape { dim: 2 dim: 1 dim: 1 dim: 7 }',
], ids=['input_dim', 'input_shape'])
def test_legacy_input_declarations(tmp_path, header):
    text = 'name: "legacy"\n' + header + '''
layer { name: "flat" type: "Flatten" bottom: "data" top: "flat" }
layer { name: "aflat" type: "Flatten" bottom: "aux" top: "aflat" }
layer { name: "cat" type: "Concat" bottom: "flat" bottom: "aflat" top: "cat" }
'''
    net = caffe.Net(write(tmp_path / 'legacy.prototxt', text), caffe.TEST)
    assert net.inputs == ['data', 'aux']
    assert net.blobs['data'].shape == (2, 3, 4, 5)
    assert net.blobs['aux'].shape == (2, 1, 1, 7)
    assert net.blobs['cat'].shape == (2, 60 + 7)
    d = np.random.RandomState(1).rand(2, 3, 4, 5).astype(np.float32)
    a = np.random.RandomState(2).rand(2, 1, 1, 7).astype(np.float32)
    out = net.forward(data=d, aux=a)['cat']
    assert np.array_equal(out, np.concatenate([d.reshape(2, -1), a.reshape(2, -1)], 1))


TINY_TRAIN = input_layer('data', (4, 3)) + input_layer('label', (4,)) + '''
layer { name: "ip" type: "InnerProduct" bottom: "data" top: "ip"
  inner_product_param { num_output: 3 weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "ip" bottom: "label" top: "loss" }
'''


def _tiny_solver(tmp_path, extra=''):
    write(tmp_path / 'train.prototxt', TINY_TRAIN)
    path = write(tmp_path / 'solver.prototxt', 'train_net: "%s"\nbase_lr: 0.1\nlr_policy: "fixed"\n'
                 'momentum: 0.9\nweight_decay: 0.01\nsnapshot_prefix: "%s"\n%s'
                 % (tmp_path / 'train.prototxt', tmp_path / 'snap', extra))
    solver = caffe.get_solver(path)
    rng = np.random.RandomState(3)
    solver.net.blobs['data'].data[...] = rng.randn(4, 3)
    solver.net.blobs['label'].data[...] = [0, 1, 2, 1]
    return solver, path


def _feed_like(dst, src):
    for k in ('data', 'label'):
        dst.net.blobs[k].data[...] = src.net.blobs[k].data


def test_solverstate_round_trip(tmp_path):
    solver, path = _tiny_solver(tmp_path, 'type: "Adam"\nmomentum2: 0.999\n')
    solver.step(3)
    model, state = solver.snapshot()
    assert os.path.basename(model) == 'snap_iter_3.caffemodel'
    assert os.path.basename(state) == 'snap_iter_3.solverstate'

    resumed = caffe.get_solver(path)
    _feed_like(resumed, solver)
    resumed.restore(state)
    assert resumed.iter == solver.iter == 3
    assert resumed.current_step == solver.current_step
    assert len(resumed.history) == len(solver.history) == 4   # Adam: m and v for W and b
    for h, h2 in zip(solver.history, resumed.history):
        assert np.array_equal(h.numpy(), h2.numpy())
    for name in solver.net.params:
        for a, b in zip(solver.net.params[name], resumed.net.params[name]):
            assert np.array_equal(a.data, b.data)
    # both continue identically
    solver.step(2)
    resumed.step(2)
    assert float(solver.net.blobs['loss'].data) == float(resumed.net.blobs['loss'].data)
    for name in solver.net.params:
        for a, b in zip(solver.net.params[name], resumed.net.params[name]):
            assert np.array_equal(a.data, b.data)


def test_solverstate_fields_are_caffes(tmp_path):
    solver, _ = _tiny_solver(tmp_path, 'lr_policy: "step"\nstepsize: 2\ngamma: 0.5\n')
    solver.step(5)
    model, state = solver.snapshot()
    msg = cio.read_binary(state, caffe_pb2.SolverState, 'solverstate')
    assert msg.iter == 5
    assert msg.current_step == 4 // 2       # set by the rate of the last update (iteration 4)
    assert msg.learned_net == model
    assert [tuple(h.shape.dim) for h in msg.history] == [(3, 3), (3,)]
    assert np.array_equal(cio.blobproto_to_array(msg.history[0]), solver.history[0].numpy())


def test_restore_finds_the_caffemodel_beside_a_moved_solverstate(tmp_path):
    solver, path = _tiny_solver(tmp_path)
    solver.step(2)
    model, state = solver.snapshot()
    moved = tmp_path / 'moved'
    moved.mkdir()
    for f in (model, state):
        os.replace(f, moved / os.path.basename(f))
    resumed = caffe.get_solver(path)
    resumed.restore(str(moved / os.path.basename(state)))
    assert resumed.iter == 2
    assert np.array_equal(resumed.net.params['ip'][0].data, solver.net.params['ip'][0].data)


def test_snapshot_files_are_complete_and_no_temp_files_remain(tmp_path):
    solver, _ = _tiny_solver(tmp_path, 'snapshot: 2\n')
    solver.step(4)
    names = sorted(os.listdir(tmp_path))
    assert names == ['snap_iter_2.caffemodel', 'snap_iter_2.rngstate', 'snap_iter_2.solverstate',
                     'snap_iter_4.caffemodel', 'snap_iter_4.rngstate', 'snap_iter_4.solverstate',
                     'solver.prototxt', 'train.prototxt']
    model = cio.read_binary(tmp_path / 'snap_iter_4.caffemodel', caffe_pb2.NetParameter, 'caffemodel')
    assert model.SerializeToString() == solver.net.to_proto().SerializeToString()
    assert (tmp_path / 'snap_iter_4.caffemodel').stat().st_size == len(model.SerializeToString())


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path, monkeypatch):
    net = make_net(PARAM_NET)
    path = tmp_path / 'm.caffemodel'
    net.save(str(path))
    old = path.read_bytes()
    net.params['ip'][0].data[...] += 1

    def broken_replace(src, dst):
        raise OSError('disk full (simulated)')

    monkeypatch.setattr(cio.os, 'replace', broken_replace)
    with pytest.raises(OSError):
        net.save(str(path))
    monkeypatch.undo()
    assert path.read_bytes() == old
    assert os.listdir(tmp_path) == ['m.caffemodel']


def test_binaryproto_mean_round_trip(tmp_path):
    mean = np.random.RandomState(4).rand(1, 3, 5, 6).astype(np.float32) * 255
    path = tmp_path / 'mean.binaryproto'
    path.write_bytes(cio.array_to_blobproto(mean).SerializeToString())
    loaded = cio.load_mean(str(path))
    assert loaded.shape == (1, 3, 5, 6)
    assert np.array_equal(loaded, mean)


def test_binaryproto_with_legacy_dims(tmp_path):
    """compute_image_mean writes num/channels/height/width instead of `shape`."""
    mean = np.random.RandomState(5).rand(1, 3, 2, 4).astype(np.float32)
    bp = caffe_pb2.BlobProto(num=1, channels=3, height=2, width=4)
    bp.data.extend(mean.ravel().tolist())
    path = tmp_path / 'legacy_mean.binaryproto'
    path.write_bytes(bp.SerializeToString())
    assert np.array_equal(cio.load_mean(str(path)), mean)


def test_array_to_blobproto_with_diff():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    d = -a
    bp = cio.array_to_blobproto(a, d)
    assert tuple(bp.shape.dim) == (2, 3)
    assert np.array_equal(cio.blobproto_to_array(bp), a)
    assert np.array_equal(cio.blobproto_to_array(bp, return_diff=True), d)
    assert list(bp.data) == a.ravel().tolist()       # plain protobuf fields, readable by Caffe


def test_copy_from_ignores_layers_not_in_the_net(tmp_path):
    source = make_net(PARAM_NET)
    path = str(tmp_path / 'm.caffemodel')
    source.save(path)
    other = input_layer('data', (2, 3, 8, 8)) + '''
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "fresh" type: "InnerProduct" bottom: "conv" top: "fresh"
  inner_product_param { num_output: 2 weight_filler { type: "constant" value: 0.25 } } }
'''
    net = make_net(other)
    net.copy_from(path)
    assert np.array_equal(net.params['conv'][0].data, source.params['conv'][0].data)
    assert np.array_equal(net.params['conv'][1].data, source.params['conv'][1].data)
    assert np.all(net.params['fresh'][0].data == 0.25)
    assert np.all(net.params['fresh'][1].data == 0)
    assert 'up' not in net.params and 'ip' not in net.params


def test_net_accepts_netparameter_and_both_argument_orders(tmp_path):
    source = make_net(PARAM_NET)
    weights = str(tmp_path / 'm.caffemodel')
    source.save(weights)
    proto = write(tmp_path / 'net.prototxt', PARAM_NET)
    nets = [caffe.Net(proto, weights, caffe.TEST), caffe.Net(proto, caffe.TEST, weights=weights),
            caffe.Net(net_param(PARAM_NET), caffe.TEST, weights=weights)]
    for net in nets:
        assert net.phase == caffe.TEST
        assert np.array_equal(net.params['ip'][0].data, source.params['ip'][0].data)
