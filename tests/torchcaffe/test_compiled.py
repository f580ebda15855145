"""Fast mode's compiled inference (torchcaffe/compiled.py): every blob as the
uncompiled pass gives it, Python layers between segments, weights and shapes
that change between passes, backward after a compiled pass, and clear errors.

Compile-only fast mode (float32, no channels_last) is used so the compiled
pass can be held to float32 rounding of the uncompiled one.
"""
import numpy as np
import pytest

import torchcaffe as caffe
from tc_helpers import DOUBLE_LAYER, input_layer, make_net

BODY = '''
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 8 kernel_size: 3 pad: 1 weight_filler { type: "xavier" }
                      bias_filler { type: "gaussian" std: 0.1 } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool"
  pooling_param { pool: MAX kernel_size: 3 stride: 2 } }
%s
layer { name: "score" type: "Convolution" bottom: "%s" top: "score"
  convolution_param { num_output: 4 kernel_size: 1 weight_filler { type: "xavier" } } }
layer { name: "up" type: "Deconvolution" bottom: "score" top: "up"
  convolution_param { num_output: 4 kernel_size: 4 stride: 2 weight_filler { type: "xavier" } } }
layer { name: "crop" type: "Crop" bottom: "up" bottom: "data" top: "crop" crop_param { offset: 1 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "crop" bottom: "label" top: "loss" }
'''
NET = input_layer('data', (2, 3, 13, 13)) + input_layer('label', (2, 1, 13, 13)) + BODY % ('', 'pool')

PY_NET = input_layer('data', (2, 3, 13, 13)) + input_layer('label', (2, 1, 13, 13)) + BODY % (
    'layer { name: "double" type: "Python" bottom: "pool" top: "doubled" '
    'python_param { module: "%s" layer: "Double" } }', 'doubled')


def compile_only():
    caffe.set_fast_mode(bf16=False, tf32=False, channels_last=False, cudnn_benchmark=False, compile=True)


def feed(net, seed=0, size=13):
    rng = np.random.RandomState(seed)
    net.blobs['data'].reshape(2, 3, size, size)
    net.blobs['label'].reshape(2, 1, size, size)
    net.reshape()
    net.blobs['data'].data[...] = rng.randn(2, 3, size, size)
    net.blobs['label'].data[...] = rng.randint(0, 4, size=(2, 1, size, size))


def all_blobs(net):
    return {name: b.data.copy() for name, b in net.blobs.items()}


def assert_close(got, want):
    assert got.keys() == want.keys()
    for name in want:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5, err_msg=name)


def test_compiled_pass_gives_every_blob_of_the_uncompiled_one_and_follows_weights_and_shapes():
    caffe.set_random_seed(1)
    net = make_net(NET)
    feed(net)
    net.forward()
    ref = all_blobs(net)
    compile_only()
    net.forward()
    assert list(net.runner.compiled.segments) == [(2, len(net.layers) - 1)]   # the layers after the two inputs, as one
    assert_close(all_blobs(net), ref)

    net.params['score'][0].data[...] *= -3          # new weights reach the compiled segment
    caffe.set_faithful_mode()
    net.forward()
    ref = all_blobs(net)
    compile_only()
    net.forward()
    assert_close(all_blobs(net), ref)

    feed(net, seed=1, size=17)                      # a new shape compiles again
    net.forward()
    got = all_blobs(net)
    caffe.set_faithful_mode()
    net.forward()
    assert got['crop'].shape == (2, 4, 17, 17)
    assert_close(got, all_blobs(net))


def test_python_layers_run_between_compiled_segments(pymodule):
    name = pymodule('doubler_for_compile', DOUBLE_LAYER)
    caffe.set_random_seed(2)
    net = make_net(PY_NET % name)
    feed(net)
    net.forward()
    ref = all_blobs(net)
    compile_only()
    net.forward()
    assert len(net.runner.compiled.segments) == 2
    assert_close(all_blobs(net), ref)
    np.testing.assert_allclose(net.blobs['doubled'].data, 2 * net.blobs['pool'].data, rtol=1e-6)


def test_backward_after_a_compiled_pass_equals_backward_after_an_uncompiled_one():
    caffe.set_random_seed(3)
    net = make_net(NET)                             # TEST phase: backward re-records when asked
    feed(net)
    net.forward()
    net.backward()
    ref = {name: [b.diff.copy() for b in blobs] for name, blobs in net.params.items()}
    ref_data = net.blobs['conv'].diff.copy()
    for blobs in net.params.values():
        for b in blobs:
            b.diff[...] = 0                         # param diffs accumulate, as in Caffe
    compile_only()
    net.forward()
    assert net.runner.compiled.segments
    net.backward()
    for name, blobs in net.params.items():
        for got, want in zip(blobs, ref[name]):
            np.testing.assert_allclose(got.diff, want, rtol=1e-5, atol=1e-6, err_msg=name)
    np.testing.assert_allclose(net.blobs['conv'].diff, ref_data, rtol=1e-5, atol=1e-6)
    assert np.abs(ref_data).max() > 0


def test_a_layer_failing_inside_a_compiled_segment_is_named():
    caffe.set_random_seed(4)
    net = make_net(NET)
    feed(net)
    net.blobs['label'].data[0, 0, 3, 3] = 7         # only 4 classes
    compile_only()
    with pytest.raises(caffe.CaffeError) as info:
        net.forward()
    assert 'loss' in str(info.value) and '7' in str(info.value)


def test_every_net_compiles_its_own_segments_past_torchs_recompile_limit():
    # torch.compile caps the variants it keeps per code object (8): were every segment to share
    # one, the ninth net of a process would silently run uncompiled.
    from torch._dynamo.utils import counters
    compile_only()
    x = np.random.RandomState(5).randn(1, 2, 3, 3).astype(np.float32)
    for k in range(10):
        net = make_net(input_layer('data', (1, 2, 3, 3)) +
                       'layer { name: "p" type: "Power" bottom: "data" top: "p" power_param { scale: %d } }' % (k + 1))
        graphs = counters['stats']['unique_graphs']
        out = net.forward(data=x)['p']
        assert counters['stats']['unique_graphs'] == graphs + 1, k
        np.testing.assert_allclose(out, (k + 1) * x, rtol=1e-6)
