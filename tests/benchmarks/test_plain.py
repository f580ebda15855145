"""The plain-PyTorch yardstick computes what the engine computes: the same scores
forward, the same loss and weight gradients backward, for every benchmarked net."""
import numpy as np
import pytest
import torch

import torchcaffe as caffe
from benchmarks import measure
from benchmarks.plain import plain_fcn

HW = (48, 64)


@pytest.fixture(autouse=True)
def faithful_cpu():
    caffe.set_mode_cpu()
    caffe.set_faithful_mode()


def rel(a, b):
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.mark.parametrize('name', measure.NETS)
def test_plain_module_matches_the_engine_forward_and_backward(name):
    param = measure.train_param(name, HW)
    for lp in param.layer:                        # dropout off on both sides: the masks cannot match
        if lp.type == 'Dropout':
            lp.dropout_param.dropout_ratio = 0.0
    net = caffe.Net(param, caffe.TRAIN)
    measure.randomize(net)
    rng = np.random.RandomState(0)
    x = rng.randn(1, 3, *HW).astype(np.float32)   # scores small enough that no probability underflows
    label = rng.randint(0, 21, size=(1, 1) + HW).astype(np.float32)
    label[0, 0, :5] = 255
    net.blobs['data'].data[...] = x
    net.blobs['label'].data[...] = label
    loss = net.forward_backward()
    frozen = measure.frozen_layers(name)
    model = plain_fcn(name).load_from(net).freeze(frozen).eval()   # eval: no dropout, as set above
    score = model(torch.from_numpy(x))
    assert rel(score.detach().numpy(), net.blobs['score'].data) < 1e-5
    plain_loss = model.loss(score, torch.from_numpy(label))
    plain_loss.backward()
    assert abs(plain_loss.item() - loss) <= 1e-5 * abs(loss)
    assert frozen and all(model.layers[f].weight.grad is None for f in frozen)
    for layer_name, module in model.layers.items():
        if layer_name not in frozen:
            assert rel(module.weight.grad.numpy(), net.params[layer_name][0].diff) < 1e-4, layer_name


def test_flops_of_fcn8s_at_500x500_are_the_papers_order_of_magnitude():
    net = caffe.Net(str(measure.ROOT + '/models/voc-fcn8s/deploy.prototxt'), caffe.TEST)
    gflops = measure.flops(net) / 1e9
    assert 300 < gflops < 450, gflops
