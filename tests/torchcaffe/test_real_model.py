"""A model trained by real Caffe (LeNet on MNIST, tests/real_models/lenet-mnist)
loads and gives Caffe's own output: the same probabilities (max relative error
1e-4) and therefore the same accuracy on the carried digits."""
import numpy as np
import pytest

import torchcaffe as caffe
from tc_helpers import REAL_MODELS, rel_err
from torchcaffe.proto import caffe_pb2

LENET = REAL_MODELS / 'lenet-mnist'


@pytest.fixture(scope='module')
def expected():
    return np.load(LENET / 'expected.npz')


def _lenet():
    return caffe.Net(str(LENET / 'lenet.prototxt'), str(LENET / 'lenet_iter_10000.caffemodel'), caffe.TEST)


def test_caffemodel_holds_layers_the_deploy_net_lacks():
    """The premise of the next tests: loading must skip the training-only layers."""
    model = caffe.io.read_binary(LENET / 'lenet_iter_10000.caffemodel', caffe_pb2.NetParameter, 'caffemodel')
    names = {l.name for l in model.layer} | {l.name for l in model.layers}
    net = caffe.Net(str(LENET / 'lenet.prototxt'), caffe.TEST)
    assert names - set(net.layer_dict), 'the caffemodel should carry layers the deploy net does not have'


def test_lenet_probabilities_match_caffe(expected):
    x, prob_ref = expected['x'], expected['prob']
    net = _lenet()
    net.blobs['data'].reshape(*x.shape)
    net.reshape()
    out = net.forward(data=x)
    assert out['prob'].shape == prob_ref.shape
    err = rel_err(out['prob'], prob_ref)
    assert err <= 1e-4, 'LeNet prob: rel err %.2e' % err


def test_lenet_accuracy_equals_caffe(expected):
    x, prob_ref, target = expected['x'], expected['prob'], expected['target']
    caffe_acc = float(np.mean(prob_ref.argmax(1) == target))
    assert abs(caffe_acc - 0.855) < 0.001          # what the model's README says Caffe gets
    net = _lenet()
    batch = net.blobs['data'].shape[0]              # the deploy batch (64); run in its own batches
    preds = []
    for start in range(0, len(x), batch):
        chunk = x[start:start + batch]
        assert len(chunk) == batch
        preds.append(net.forward(data=chunk)['prob'].argmax(1).copy())
    preds = np.concatenate(preds)
    assert np.mean(preds == target) == caffe_acc
    assert np.array_equal(preds, prob_ref.argmax(1))


def test_forward_all_batches_and_trims_the_padding(expected):
    """forward_all feeds 100 digits through the 64-image input in two batches, the last one padded."""
    net = _lenet()
    assert net.blobs['data'].shape[0] == 64
    out = net.forward_all(data=expected['x'][:100])
    assert out['prob'].shape == (100, 10)
    assert rel_err(out['prob'], expected['prob'][:100]) <= 1e-4
