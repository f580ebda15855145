"""Helpers shared by the engine tests: where the carried Caffe data lives,
Caffe's error measure, and small nets written inline as prototxt text."""
import json
from pathlib import Path

import numpy as np

import torchcaffe as caffe
from torchcaffe.proto import caffe_pb2

TESTS = Path(__file__).resolve().parents[1]
GOLDEN = TESTS / 'golden'
REAL_MODELS = TESTS / 'real_models'

# Tolerances of tests/golden/README.md (max abs error / max abs reference).
FWD_TOL, BWD_TOL, SOLVER_TOL = 1e-4, 1e-3, 2e-3


def rel_err(got, want):
    """max |got - want| / max |want| (the 1e-6 keeps an all-zero reference finite).

    The shapes must agree exactly; a shape mismatch is an infinite error."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float('inf')
    if not want.size:
        return 0.0
    return float(np.abs(got - want).max() / (np.abs(want).max() + 1e-6))


def net_param(text):
    """A NetParameter parsed from prototxt text."""
    return caffe.io.parse_text(text, caffe_pb2.NetParameter())


def make_net(text, phase=caffe.TEST, **kwargs):
    """A Net built from prototxt text (no file needed)."""
    return caffe.Net(net_param(text), phase, **kwargs)


def golden_net(case):
    """The Net of a carried Caffe case (tests/golden/<case>) with its weights and inputs, reshaped
    to them but not yet run."""
    d = GOLDEN / case
    meta = json.loads((d / 'meta.json').read_text())
    fwd = np.load(d / 'forward.npz')
    net = caffe.Net(str(d / 'net.prototxt'), str(d / 'weights.caffemodel'), getattr(caffe, meta['phase']))
    for k in meta['inputs']:
        net.blobs[k].reshape(*fwd[k].shape)
        net.blobs[k].data[...] = fwd[k]
    net.reshape()
    return net


def write(path, text):
    """Write text to path; returns the path as a string."""
    path = Path(path)
    path.write_text(text)
    return str(path)


def input_layer(name, shape):
    """Prototxt of an Input layer with one top of the given shape."""
    dims = ' '.join('dim: %d' % d for d in shape)
    return ('layer { name: "%s" type: "Input" top: "%s" input_param { shape { %s } } }\n'
            % (name, name, dims))


def run_layer(layer, bottoms, phase=caffe.TEST, top_diffs=None, force=True):
    """A net of Input layers (one per bottom) plus `layer`; forward, then backward if top_diffs."""
    text = ('force_backward: true\n' if force else '') + \
        ''.join(input_layer(name, a.shape) for name, a in bottoms.items()) + layer
    net = make_net(text, phase)
    for name, a in bottoms.items():
        net.blobs[name].data[...] = a
    net.forward()
    if top_diffs is not None:
        for name, g in top_diffs.items():
            net.blobs[name].diff[...] = g
        net.backward()
    return net


# A module of one Python layer, `Double` (top = 2 x bottom, with backward), for tests that
# need a Python layer in a net; write it with the `pymodule` fixture.
DOUBLE_LAYER = '''
import torchcaffe as caffe

class Double(caffe.Layer):
    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        top[0].data[...] = 2 * bottom[0].data

    def backward(self, top, propagate_down, bottom):
        bottom[0].diff[...] = 2 * top[0].diff
'''
