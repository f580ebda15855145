"""surgery: transplant (fc -> conv), interp (bilinear upsampling), expand_score,
convolutionalize, and the golden check against Caffe's own fully convolutional
twin of a legacy V1 classifier."""
import os

import numpy as np
import pytest

from backend import caffe
import surgery
from surgery import SurgeryError

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                      'golden', 'nets', 'v1_classifier_transplant')


@pytest.fixture(autouse=True)
def _cpu():
    caffe.set_mode_cpu()


def write_net(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def net_from(tmp_path, name, text, phase=None):
    return caffe.Net(write_net(tmp_path, name, text), caffe.TEST if phase is None else phase)


def input_layer(shape, top='data'):
    return ('layer { name: "input" type: "Input" top: "%s" input_param { shape { %s } } }\n'
            % (top, ' '.join('dim: %d' % d for d in shape)))


CLASSIFIER = input_layer((1, 2, 4, 4)) + """
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 3 kernel_size: 3 pad: 1 } }
layer { name: "fc6" type: "InnerProduct" bottom: "conv1" top: "fc6"
        inner_product_param { num_output: 5 } }
layer { name: "fc7" type: "InnerProduct" bottom: "fc6" top: "fc7"
        inner_product_param { num_output: 4 } }
"""

FULLY_CONV = input_layer((1, 2, 6, 7)) + """
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 3 kernel_size: 3 pad: 1 } }
layer { name: "fc6" type: "Convolution" bottom: "conv1" top: "fc6"
        convolution_param { num_output: 5 kernel_size: 4 } }
layer { name: "fc7" type: "Convolution" bottom: "fc6" top: "fc7"
        convolution_param { num_output: 4 kernel_size: 1 } }
"""


def randomize(net, seed=0):
    rng = np.random.RandomState(seed)
    for blobs in net.params.values():
        for b in blobs:
            b.data[...] = rng.randn(*b.data.shape)


# -- transplant ---------------------------------------------------------------------------------
def test_transplant_copies_and_coerces_fc_into_conv(tmp_path):
    cls = net_from(tmp_path, 'cls.prototxt', CLASSIFIER)
    randomize(cls)
    fcn = net_from(tmp_path, 'fcn.prototxt', FULLY_CONV)
    report = surgery.transplant(fcn, cls)
    assert sorted(report['copied']) == [('conv1', 0), ('conv1', 1), ('fc6', 1), ('fc7', 1)]
    assert sorted(report['coerced']) == [('fc6', 0), ('fc7', 0)]
    assert report['dropped'] == []
    for name in ('conv1', 'fc6', 'fc7'):
        for old, new in zip(cls.params[name], fcn.params[name]):
            assert np.array_equal(old.data.ravel(), new.data.ravel())
    assert fcn.params['fc6'][0].data.shape == (5, 3, 4, 4)
    x = np.random.RandomState(1).randn(1, 2, 6, 7).astype(np.float32)
    fcn.blobs['data'].data[...] = x
    fc7_map = fcn.forward()['fc7']
    # fc6 as a convolution over conv1 equals the inner product of each window
    w = cls.params['fc6'][0].data
    b = cls.params['fc6'][1].data
    conv1 = fcn.blobs['conv1'].data[0]
    for i, j in [(0, 0), (2, 3), (1, 2)]:
        window = conv1[:, i:i + 4, j:j + 4].ravel()
        assert np.allclose(fcn.blobs['fc6'].data[0, :, i, j], w @ window + b, rtol=1e-4, atol=1e-4)
    assert fc7_map.shape == (1, 4, 3, 4)


def test_transplant_with_suffix_and_dropped_layers(tmp_path):
    cls = net_from(tmp_path, 'cls.prototxt', CLASSIFIER)
    randomize(cls)
    text = FULLY_CONV.replace('"conv1"', '"conv1color"').replace('"fc6"', '"fc6color"')
    fcn = net_from(tmp_path, 'fcn.prototxt', text.replace(
        'layer { name: "fc7"', 'layer { name: "other"').replace('top: "fc7"', 'top: "other"'))
    report = surgery.transplant(fcn, cls, suffix='color')
    assert ('fc7', None) in report['dropped']
    assert np.array_equal(fcn.params['conv1color'][0].data, cls.params['conv1'][0].data)
    assert np.array_equal(fcn.params['fc6color'][0].data.ravel(), cls.params['fc6'][0].data.ravel())
    assert not fcn.params['other'][0].data.any()


def test_transplant_refuses_mismatched_counts_and_writes_nothing(tmp_path):
    cls = net_from(tmp_path, 'cls.prototxt', CLASSIFIER)
    randomize(cls)
    fcn = net_from(tmp_path, 'fcn.prototxt', FULLY_CONV.replace('kernel_size: 4', 'kernel_size: 3'))
    with pytest.raises(SurgeryError, match=r'fc6 param 0.*240 values of shape \(5, 48\).*135 values'):
        surgery.transplant(fcn, cls)
    assert not fcn.params['conv1'][0].data.any()  # nothing copied before the check failed


# -- interp / upsample_filt --------------------------------------------------------------------------
def test_upsample_filt():
    f4 = surgery.upsample_filt(4)
    ramp = np.array([0.25, 0.75, 0.75, 0.25])
    assert np.allclose(f4, np.outer(ramp, ramp))
    f3 = surgery.upsample_filt(3)
    assert np.allclose(f3, np.outer([0.5, 1, 0.5], [0.5, 1, 0.5]))
    f64 = surgery.upsample_filt(64)
    assert f64.shape == (64, 64) and np.allclose(f64, f64.T) and np.allclose(f64, f64[::-1, ::-1])
    # the 1-D ramp of a 2s kernel: copies shifted by the stride s sum to 1 (partition of unity)
    for size in (4, 16, 64):
        ramp = np.sqrt(np.diag(surgery.upsample_filt(size)))
        assert np.allclose(ramp[:size // 2] + ramp[size // 2:], 1)
    f63 = surgery.upsample_filt(63)
    assert f63[31, 31] == 1 and f63.shape == (63, 63)


DECONV = input_layer((1, 3, 5, 5)) + """
layer { name: "up" type: "Deconvolution" bottom: "data" top: "up" param { lr_mult: 0 }
        convolution_param { num_output: 3 kernel_size: 4 stride: 2 bias_term: false } }
"""


def test_interp_sets_class_diagonal_bilinear_weights(tmp_path):
    net = net_from(tmp_path, 'deconv.prototxt', DECONV)
    net.params['up'][0].data[...] = 7  # stale values off the diagonal are cleared
    surgery.interp(net, ['up'])
    w = net.params['up'][0].data
    filt = surgery.upsample_filt(4)
    for i in range(3):
        for j in range(3):
            assert np.allclose(w[i, j], filt if i == j else 0)
    # upsampling a constant map gives the constant in the interior, per class
    net.blobs['data'].data[...] = np.arange(3, dtype=np.float32)[None, :, None, None] + 1
    up = net.forward()['up']
    assert up.shape == (1, 3, 12, 12)
    for c in range(3):
        assert np.allclose(up[0, c, 2:-2, 2:-2], c + 1)
    assert surgery.deconv_layers(net) == ['up']


def test_interp_errors(tmp_path):
    net = net_from(tmp_path, 'rect.prototxt', DECONV.replace(
        'kernel_size: 4', 'kernel_h: 4 kernel_w: 2'))
    with pytest.raises(SurgeryError, match='square'):
        surgery.interp(net, ['up'])
    net = net_from(tmp_path, 'mismatch.prototxt', DECONV.replace('num_output: 3', 'num_output: 2'))
    with pytest.raises(SurgeryError, match='3 input and 2 output channels'):
        surgery.interp(net, ['up'])
    with pytest.raises(SurgeryError, match='no layer'):
        surgery.interp(net, ['nope'])


def test_interp_accepts_one_output_per_group(tmp_path):
    net = net_from(tmp_path, 'group.prototxt', DECONV.replace(
        'bias_term: false', 'bias_term: false group: 3'))
    assert net.params['up'][0].data.shape == (3, 1, 4, 4)
    surgery.interp(net, ['up'])
    assert np.allclose(net.params['up'][0].data, surgery.upsample_filt(4)[None, None])


# -- expand_score -------------------------------------------------------------------------------------
def test_expand_score(tmp_path):
    score = input_layer((1, 6, 2, 2)) + """
layer { name: "score_fr" type: "Convolution" bottom: "data" top: "score_fr"
        convolution_param { num_output: %d kernel_size: 1 } }
"""
    old = net_from(tmp_path, 'old.prototxt', score % 21)
    randomize(old)
    new = net_from(tmp_path, 'new.prototxt', score % 60)
    surgery.expand_score(new, 'score_fr', old, 'score_fr')
    assert np.array_equal(new.params['score_fr'][0].data[:21], old.params['score_fr'][0].data)
    assert np.array_equal(new.params['score_fr'][1].data[:21], old.params['score_fr'][1].data)
    assert not new.params['score_fr'][0].data[21:].any()
    with pytest.raises(SurgeryError, match='fewer'):
        surgery.expand_score(old, 'score_fr', new, 'score_fr')


def test_expand_input_gives_extra_channels_the_mean_filter(tmp_path):
    def conv(channels, name):
        return input_layer((1, channels, 5, 5)) + (
            'layer { name: "%s" type: "Convolution" bottom: "data" top: "c" '
            'convolution_param { num_output: 4 kernel_size: 3 } }\n' % name)
    rgb = net_from(tmp_path, 'rgb.prototxt', conv(3, 'conv1_1'))
    randomize(rgb)
    rgbd = net_from(tmp_path, 'rgbd.prototxt', conv(4, 'conv1_1_bgrd'))
    surgery.expand_input(rgbd, 'conv1_1_bgrd', rgb, 'conv1_1')
    w, old = rgbd.params['conv1_1_bgrd'][0].data, rgb.params['conv1_1'][0].data
    assert np.array_equal(w[:, :3], old)
    np.testing.assert_allclose(w[:, 3], old.mean(axis=1), rtol=1e-6)
    assert np.array_equal(rgbd.params['conv1_1_bgrd'][1].data, rgb.params['conv1_1'][1].data)
    with pytest.raises(SurgeryError, match='does not extend'):
        surgery.expand_input(rgb, 'conv1_1', rgbd, 'conv1_1_bgrd')


# -- golden: Caffe's fully convolutional twin of a legacy V1 classifier --------------------------------
def rel_err(got, ref):
    return np.abs(got - ref).max() / np.abs(ref).max()


def test_golden_v1_classifier_transplant():
    expected = np.load(os.path.join(GOLDEN, 'expected.npz'))
    cls = caffe.Net(os.path.join(GOLDEN, 'classifier.prototxt'),
                    os.path.join(GOLDEN, 'classifier_v1.caffemodel'), caffe.TEST)
    cls.blobs['data'].data[...] = expected['x']
    assert rel_err(cls.forward()['prob'], expected['prob']) < 1e-4

    fcn = caffe.Net(os.path.join(GOLDEN, 'fully_conv.prototxt'), caffe.TEST)
    report = surgery.transplant(fcn, cls)
    assert sorted(report['coerced']) == [('fc6', 0), ('fc7', 0)]
    fcn.blobs['data'].data[...] = expected['x_big']
    prob_map = fcn.forward()['prob']
    assert prob_map.shape == expected['prob_map'].shape
    assert rel_err(prob_map, expected['prob_map']) < 1e-4
    # the top-left window is the classifier's own input
    assert rel_err(prob_map[..., 0, 0], expected['prob']) < 1e-4


def test_convolutionalize_reproduces_the_golden_twin():
    expected = np.load(os.path.join(GOLDEN, 'expected.npz'))
    fcn = surgery.convolutionalize(os.path.join(GOLDEN, 'classifier.prototxt'),
                                   os.path.join(GOLDEN, 'classifier_v1.caffemodel'),
                                   os.path.join(GOLDEN, 'fully_conv.prototxt'))
    fcn.blobs['data'].data[...] = expected['x_big']
    assert rel_err(fcn.forward()['prob'], expected['prob_map']) < 1e-4


def test_convolutionalize_interps_upsampling(tmp_path):
    cls = write_net(tmp_path, 'cls.prototxt', CLASSIFIER)
    net = caffe.Net(cls, caffe.TEST)
    randomize(net, seed=3)
    weights = str(tmp_path / 'cls.caffemodel')
    net.save(weights)
    fcn_text = FULLY_CONV + """
layer { name: "upscore" type: "Deconvolution" bottom: "fc7" top: "upscore" param { lr_mult: 0 }
        convolution_param { num_output: 4 kernel_size: 4 stride: 2 bias_term: false } }
"""
    fcn = surgery.convolutionalize(cls, weights, write_net(tmp_path, 'fcn.prototxt', fcn_text))
    assert np.array_equal(fcn.params['fc6'][0].data.ravel(), net.params['fc6'][0].data.ravel())
    w = fcn.params['upscore'][0].data
    assert np.allclose(w[np.arange(4), np.arange(4)], surgery.upsample_filt(4))
    assert np.count_nonzero(w) == np.count_nonzero(surgery.upsample_filt(4)) * 4
