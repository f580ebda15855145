"""Net.forward/backward/forward_backward_all as BVLC's pycaffe.py defines them.

These fail on the engine as it is (issue 12): forward accepts keyword arrays
for only some of the inputs, backward does not check the batch size of the
diffs it is given, and forward_backward_all is missing.
"""
import numpy as np
import pytest

from tc_helpers import make_net

NET = '''
layer { name: "input" type: "Input" top: "data" top: "label"
        input_param { shape { dim: 2 dim: 3 } shape { dim: 2 } } }
layer { name: "fc" type: "InnerProduct" bottom: "data" top: "fc"
        inner_product_param { num_output: 4 weight_filler { type: "gaussian" std: 1 } } }
layer { name: "silence" type: "Silence" bottom: "label" }
'''
BACKWARD_NET = 'force_backward: true\n' + NET


def test_forward_keywords_must_be_exactly_the_inputs():
    """pycaffe: 'Input blob arguments do not match net inputs.' unless every input is given."""
    net = make_net(NET)
    with pytest.raises(Exception, match='inputs'):
        net.forward(data=np.ones((2, 3), np.float32))
    out = net.forward(data=np.ones((2, 3), np.float32), label=np.zeros(2, np.float32))
    assert set(out) == {'fc'}


def test_backward_checks_the_batch_size_of_the_diffs():
    """pycaffe: 'Diff is not batch sized' (the engine broadcasts a 1-row diff over the batch)."""
    net = make_net(BACKWARD_NET)
    net.forward(data=np.ones((2, 3), np.float32), label=np.zeros(2, np.float32))
    with pytest.raises(Exception, match='batch'):
        net.backward(fc=np.ones((1, 4), np.float32))


def test_forward_backward_all():
    """pycaffe: forward and backward over whole arrays in batches; ({blob: data}, {blob: diff})."""
    net = make_net(BACKWARD_NET)
    rng = np.random.RandomState(0)
    data, label, top = rng.randn(4, 3), np.zeros(4), rng.randn(4, 4)
    outs, diffs = net.forward_backward_all(data=data, label=label, fc=top)
    w = net.params['fc'][0].data
    assert set(outs) == {'fc'} and set(diffs) == {'data', 'label'}
    assert np.allclose(outs['fc'], data @ w.T, atol=1e-5)
    assert np.allclose(diffs['data'], top @ w, atol=1e-5)
