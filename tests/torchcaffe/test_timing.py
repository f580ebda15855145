"""timing.LayerTimes: per-layer forward/backward seconds while attached, nothing after."""
import numpy as np

from tc_helpers import input_layer, make_net
from torchcaffe.timing import LayerTimes
import torchcaffe as caffe

NET = input_layer('data', (1, 2, 8, 8)) + '''
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool" pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
'''


def test_layer_times_cover_forward_and_backward_and_detach():
    net = make_net('force_backward: true\n' + NET, caffe.TRAIN)
    net.blobs['data'].data[...] = np.random.RandomState(0).randn(1, 2, 8, 8)
    with LayerTimes(net) as times:
        for _ in range(3):
            net.forward()
            net.backward()
    rows = {name: (type_, f, b) for name, type_, f, b in times.rows()}
    assert list(rows) == ['data', 'conv', 'relu', 'pool']
    assert rows['conv'][0] == 'Convolution'
    for name in ('conv', 'relu', 'pool'):
        assert rows[name][1] > 0 and rows[name][2] > 0
    table = times.format(top=2)
    assert len(table.splitlines()) == 3 and 'forward s' in table
    before = dict(times.forward)
    net.forward()
    assert dict(times.forward) == before and net.runner.timer is None
