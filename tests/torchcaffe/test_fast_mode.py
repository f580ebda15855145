"""Fast mode is opt-in, really changes the arithmetic, stays close to the faithful
result, trains, and hands back Caffe's exact float32 when switched off."""
import numpy as np
import torch

import torchcaffe as caffe
from tc_helpers import REAL_MODELS, input_layer, make_net
from torchcaffe import mode

LENET = REAL_MODELS / 'lenet-mnist'

TRAIN_NET = input_layer('data', (2, 3, 12, 12)) + input_layer('label', (2, 1, 12, 12)) + '''
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 8 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "score" type: "Convolution" bottom: "conv" top: "score"
  convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "xavier" } } }
layer { name: "up" type: "Deconvolution" bottom: "score" top: "up"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 weight_filler { type: "xavier" } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "up" bottom: "label" top: "loss" }
'''


def lenet_prob():
    e = np.load(LENET / 'expected.npz')
    net = caffe.Net(str(LENET / 'lenet.prototxt'), str(LENET / 'lenet_iter_10000.caffemodel'), caffe.TEST)
    net.blobs['data'].reshape(*e['x'].shape)
    net.reshape()
    return net.forward(data=e['x'])['prob'].copy()


def test_faithful_is_the_default_and_fast_mode_sets_the_backend_flags():
    assert mode.arithmetic().faithful
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    caffe.set_fast_mode()
    assert mode.arithmetic() == mode.FAST
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert torch.backends.cudnn.benchmark
    caffe.set_faithful_mode()
    assert mode.arithmetic().faithful
    assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cudnn.benchmark


def test_fast_mode_moves_a_trained_nets_outputs_a_little_and_faithful_comes_back_exactly():
    faithful = lenet_prob()
    caffe.set_fast_mode()
    fast = lenet_prob()
    caffe.set_faithful_mode()
    again = lenet_prob()
    np.testing.assert_array_equal(faithful, again)
    assert fast.dtype == np.float32
    diff = np.abs(fast - faithful).max()
    assert 0 < diff < 0.05, diff                      # bf16 really ran, and stayed close
    assert np.mean(fast.argmax(1) == faithful.argmax(1)) >= 0.98


def test_channels_last_alone_keeps_float32_results():
    caffe.set_random_seed(3)
    net = make_net(TRAIN_NET)
    x = np.random.RandomState(0).randn(2, 3, 12, 12).astype(np.float32)
    label = np.zeros((2, 1, 12, 12), np.float32)
    ref = net.forward(data=x, label=label, end='up')['up'].copy()
    caffe.set_fast_mode(bf16=False, tf32=False, channels_last=True, cudnn_benchmark=False)
    got = net.forward(data=x, label=label, end='up')['up']
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)


def test_fast_mode_trains_with_gradients_close_to_the_faithful_ones():
    rng = np.random.RandomState(0)
    x = rng.randn(2, 3, 12, 12).astype(np.float32)
    label = rng.randint(0, 4, size=(2, 1, 12, 12)).astype(np.float32)

    def grads():
        caffe.set_random_seed(5)
        net = make_net(TRAIN_NET, caffe.TRAIN)
        net.blobs['data'].data[...] = x
        net.blobs['label'].data[...] = label
        loss = net.forward_backward()
        return loss, {k: v[0].diff.copy() for k, v in net.params.items()}, net

    loss_ref, ref, _ = grads()
    caffe.set_fast_mode()
    loss, got, net = grads()
    assert net.blobs['up'].data.dtype == np.float32 and net.blobs['conv'].diff.dtype == np.float32
    assert abs(loss - loss_ref) < 0.02 * abs(loss_ref)
    for name in ref:
        assert np.all(np.isfinite(got[name]))
        scale = np.abs(ref[name]).max()
        assert np.abs(got[name] - ref[name]).max() < 0.05 * scale, name
        assert not np.array_equal(got[name], ref[name])


def test_a_net_built_in_fast_mode_stores_weights_channels_last_with_the_same_values(tmp_path):
    caffe.set_random_seed(3)
    ref = make_net(TRAIN_NET)
    caffe.set_fast_mode(bf16=False, tf32=False, channels_last=True, cudnn_benchmark=False)
    caffe.set_random_seed(3)
    net = make_net(TRAIN_NET)
    weight = net.params['conv'][0]
    assert weight.tensor.is_contiguous(memory_format=torch.channels_last)
    assert not weight.tensor.is_contiguous()
    for name in ref.params:
        np.testing.assert_array_equal(net.params[name][0].data, ref.params[name][0].data)
    x = np.random.RandomState(0).randn(2, 3, 12, 12).astype(np.float32)
    view = weight.data                       # a numpy view held across passes, as pycaffe users do
    view[...] *= 2
    ref.params['conv'][0].data[...] *= 2
    label = np.zeros((2, 1, 12, 12), np.float32)
    np.testing.assert_allclose(net.forward(data=x, label=label, end='up')['up'],
                               ref.forward(data=x, label=label, end='up')['up'], rtol=1e-5, atol=1e-6)
    net.save(str(tmp_path / 'w.caffemodel'))
    caffe.set_faithful_mode()
    back = make_net(TRAIN_NET, weights=str(tmp_path / 'w.caffemodel'))
    for name in ref.params:
        np.testing.assert_array_equal(back.params[name][0].data, ref.params[name][0].data)


def test_bf16_on_a_cpu_without_native_bf16_warns_that_it_is_slower(monkeypatch, recwarn):
    caffe.set_fast_mode()
    for native in (True, False, None):       # None: a torch too old to tell, so no warning
        monkeypatch.setattr(mode, 'cpu_has_native_bf16', lambda: native)
        recwarn.clear()
        with mode.autocast():
            pass
        slower = [w for w in recwarn if 'no native bfloat16' in str(w.message)]
        assert len(slower) == (1 if native is False else 0)
    caffe.set_fast_mode(bf16=False)
    recwarn.clear()
    with mode.autocast():
        pass
    assert not [w for w in recwarn if 'no native bfloat16' in str(w.message)]
