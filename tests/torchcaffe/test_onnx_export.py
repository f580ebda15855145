"""onnx_export: small nets exported to ONNX compute in onnxruntime what net.forward
computes (to float32 rounding, same argmax), at the net's current shape and
weights, and LeNet trained by Caffe gives Caffe's probabilities; layers with no
ONNX graph are refused with the layer's name."""

import numpy as np
import onnx
import onnxruntime
import pytest

import torchcaffe as caffe
from tc_helpers import DOUBLE_LAYER, FWD_TOL, REAL_MODELS, input_layer, make_net, rel_err
from torchcaffe.onnx_export import compare, export

# Float32 rounding of a few differently ordered sums: far below Caffe's own forward tolerance (1e-4).
TIGHT = 1e-5

GAUSS = 'weight_filler { type: "gaussian" std: 0.3 } bias_filler { type: "gaussian" std: 0.1 }'

CONV_NET = input_layer('data', (2, 4, 13, 11)) + input_layer('side', (2, 3, 7, 6)) + '''
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 6 kernel_size: 3 pad: 2 group: 2 dilation: 2 %(g)s } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" relu_param { negative_slope: 0.1 } }
layer { name: "max" type: "Pooling" bottom: "conv" top: "max"
        pooling_param { pool: MAX kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "ave" type: "Pooling" bottom: "conv" top: "ave"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "sum" type: "Eltwise" bottom: "max" bottom: "ave" top: "sum"
        eltwise_param { coeff: 0.5 coeff: -2 } }
layer { name: "cat" type: "Concat" bottom: "sum" bottom: "side" top: "cat" }
layer { name: "up" type: "Deconvolution" bottom: "cat" top: "up"
        convolution_param { num_output: 6 kernel_size: 4 stride: 2 group: 3 %(g)s } }
layer { name: "crop" type: "Crop" bottom: "up" bottom: "data" top: "crop"
        crop_param { axis: 2 offset: 1 offset: 2 } }
layer { name: "score" type: "Convolution" bottom: "crop" top: "score"
        param { name: "shared_w" } param { name: "shared_b" }
        convolution_param { num_output: 5 kernel_size: 1 %(g)s } }
layer { name: "score2" type: "Convolution" bottom: "crop" top: "score2"
        param { name: "shared_w" } param { name: "shared_b" }
        convolution_param { num_output: 5 kernel_size: 1 } }
layer { name: "fuse" type: "Eltwise" bottom: "score" bottom: "score2" top: "fuse"
        eltwise_param { operation: MAX } }
layer { name: "prob" type: "Softmax" bottom: "fuse" top: "prob" }
''' % {'g': GAUSS}

CLASSIFIER_NET = input_layer('data', (3, 6, 9, 9)) + '''
layer { name: "norm" type: "LRN" bottom: "data" top: "norm"
        lrn_param { local_size: 5 alpha: 0.5 beta: 0.75 k: 2 } }
layer { name: "wnorm" type: "LRN" bottom: "data" top: "wnorm"
        lrn_param { local_size: 3 alpha: 0.5 beta: 0.75 norm_region: WITHIN_CHANNEL } }
layer { name: "prod" type: "Eltwise" bottom: "norm" bottom: "wnorm" top: "prod"
        eltwise_param { operation: PROD } }
layer { name: "gpool" type: "Pooling" bottom: "prod" top: "gpool"
        pooling_param { pool: AVE global_pooling: true } }
layer { name: "scale" type: "Scale" bottom: "prod" top: "scale" scale_param { bias_term: true %(g_scale)s } }
layer { name: "gflat" type: "Flatten" bottom: "gpool" top: "gflat" }
layer { name: "scale2" type: "Scale" bottom: "scale" bottom: "gflat" top: "scale2" scale_param { axis: 0 } }
layer { name: "power" type: "Power" bottom: "scale2" top: "power" power_param { power: 2 scale: 0.5 shift: 1 } }
layer { name: "sig" type: "Sigmoid" bottom: "power" top: "sig" }
layer { name: "split" type: "Split" bottom: "sig" top: "a" top: "b" }
layer { name: "quiet" type: "Silence" bottom: "b" }
layer { name: "flat" type: "Flatten" bottom: "a" top: "flat" }
layer { name: "fc" type: "InnerProduct" bottom: "flat" top: "fc" inner_product_param { num_output: 20 %(g)s } }
layer { name: "tanh" type: "TanH" bottom: "fc" top: "fc" }
layer { name: "drop" type: "Dropout" bottom: "fc" top: "fc" dropout_param { dropout_ratio: 0.5 } }
layer { name: "shape" type: "Reshape" bottom: "fc" top: "shape"
        reshape_param { shape { dim: 0 dim: 4 dim: -1 } } }
layer { name: "fc2" type: "InnerProduct" bottom: "shape" top: "fc2"
        inner_product_param { num_output: 7 axis: 2 transpose: true %(g)s } }
layer { name: "prob" type: "Softmax" bottom: "fc2" top: "prob" softmax_param { axis: 1 } }
''' % {'g': GAUSS, 'g_scale': 'filler { type: "gaussian" std: 1 } bias_filler { type: "gaussian" std: 1 }'}

# (kernel, stride, pad): torch's ceil mode agrees with Caffe's size, Caffe's clipping rule drops a
# last window that would start in the padding, and pad beyond half the kernel (explicit padding).
POOLS = [(3, 2, 0), (2, 2, 0), (3, 2, 1), (2, 3, 1), (3, 3, 1), (3, 2, 2), (4, 3, 3)]


def pooling_net(size):
    text = input_layer('data', (1, 2, size, size - 1))
    for method in ('MAX', 'AVE'):
        for k, s, p in POOLS:
            name = '%s_k%d_s%d_p%d' % (method, k, s, p)
            text += ('layer { name: "%s" type: "Pooling" bottom: "data" top: "%s" pooling_param '
                     '{ pool: %s kernel_size: %d stride: %d pad: %d } }\n' % (name, name, method, k, s, p))
    return text


def random_inputs(net, seed=0):
    rng = np.random.RandomState(seed)
    return {name: rng.randn(*net.blobs[name].shape) for name in net.inputs}


def assert_exact_enough(stats):
    for name, s in stats.items():
        assert s['max_rel'] <= TIGHT and s['argmax_agreement'] == 1.0, (name, s)


def test_convolution_deconvolution_pooling_crop_and_shared_params(tmp_path):
    net = make_net(CONV_NET)
    path = export(net, tmp_path / 'conv.onnx')
    stats = compare(net, path, random_inputs(net))
    assert list(stats) == ['prob'] and net.blobs['prob'].shape == (2, 5, 13, 11)
    assert_exact_enough(stats)
    model = onnx.load(path)
    assert [i.name for i in model.graph.input] == ['data', 'side']
    assert [o.name for o in model.graph.output] == ['prob']


def test_classifier_layers(tmp_path):
    net = make_net(CLASSIFIER_NET)
    path = export(net, tmp_path / 'classifier.onnx')
    assert_exact_enough(compare(net, path, random_inputs(net, seed=1)))


@pytest.mark.parametrize('size', [7, 10])
def test_pooling_keeps_caffes_output_sizes_and_values(tmp_path, size):
    net = make_net(pooling_net(size))
    path = export(net, tmp_path / 'pool.onnx')
    stats = compare(net, path, random_inputs(net, seed=size))
    assert len(stats) == 2 * len(POOLS)
    assert_exact_enough(stats)


def test_the_export_has_the_current_shape_and_weights(tmp_path):
    net = make_net(CONV_NET)
    net.blobs['data'].reshape(1, 4, 21, 17)
    net.blobs['side'].reshape(1, 3, 11, 9)
    net.reshape()
    net.params['score'][0].data[...] *= 3
    path = export(net, tmp_path / 'conv.onnx')
    dims = [d.dim_value for d in onnx.load(path).graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 4, 21, 17]
    inputs = random_inputs(net, seed=2)
    assert_exact_enough(compare(net, path, inputs))
    net.params['score'][0].data[...] *= -1                    # the model keeps the weights it was given
    assert compare(net, path, inputs)['prob']['max_rel'] > 1e-3


def test_python_layers_are_refused_by_name(pymodule):
    mod = pymodule('tc_onnx_pylayer', DOUBLE_LAYER)
    net = make_net(input_layer('data', (1, 2)) + 'layer { name: "twice" type: "Python" bottom: "data" top: "y" '
                   'python_param { module: "%s" layer: "Double" } }' % mod)
    with pytest.raises(caffe.CaffeError, match="'twice'.*Python"):
        export(net, '/nonexistent/never-written.onnx')


@pytest.mark.parametrize('text,phase,match', [
    (input_layer('data', (2, 3)) + 'layer { name: "drop" type: "Dropout" bottom: "data" top: "data" }',
     caffe.TRAIN, "'drop'.*TRAIN"),
    (input_layer('data', (2, 3)) + 'layer { name: "best" type: "ArgMax" bottom: "data" top: "best" }',
     caffe.TEST, "'best'.*ArgMax"),
    (input_layer('data', (2, 3)) + input_layer('label', (2,)) +
     'layer { name: "loss" type: "SoftmaxWithLoss" bottom: "data" bottom: "label" top: "loss" }',
     caffe.TEST, "'loss'.*labels"),
    (input_layer('data', (2, 3)) + input_layer('label', (2,)) + input_layer('H', (1, 1, 3, 3)) +
     'layer { name: "weighted" type: "InfogainLoss" bottom: "data" bottom: "label" bottom: "H" top: "loss" }',
     caffe.TEST, "'weighted'.*InfogainLoss.*labels"),
], ids=['train-phase', 'argmax', 'loss', 'infogain'])
def test_layers_without_an_onnx_graph_are_refused(text, phase, match):
    with pytest.raises(caffe.CaffeError, match=match):
        export(make_net(text, phase), '/nonexistent/never-written.onnx')


def test_lenet_trained_by_caffe_gives_caffes_probabilities_in_onnxruntime(tmp_path):
    expected = np.load(REAL_MODELS / 'lenet-mnist' / 'expected.npz')
    x = expected['x'].astype(np.float32)
    net = caffe.Net(str(REAL_MODELS / 'lenet-mnist' / 'lenet.prototxt'),
                    str(REAL_MODELS / 'lenet-mnist' / 'lenet_iter_10000.caffemodel'), caffe.TEST)
    net.blobs['data'].reshape(*x.shape)
    net.reshape()
    path = export(net, tmp_path / 'lenet.onnx')
    assert_exact_enough(compare(net, path, {'data': x}))
    prob = onnxruntime.InferenceSession(path).run(['prob'], {'data': x})[0]
    assert rel_err(prob, expected['prob']) <= FWD_TOL
