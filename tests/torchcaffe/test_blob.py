"""Blob values as pycaffe shows them, across passes: what a write reaches and what a read sees.

The contract is the same on either device. Where values live off the CPU, numpy works on a host
copy that goes through Caffe's SyncedMemory states: newer than the device, equal to it (handed
back without a download) and stale once the device changed the blob in place. Every test runs
twice: as the device is, and with a host copy kept even for CPU tensors, so that CI, which has
no GPU, drives that state machine too (`make test-gpu` drives it on a real GPU).
"""
import numpy as np
import pytest

import torchcaffe as caffe
import torchcaffe.blob
import test_golden
from tc_helpers import input_layer, make_net


@pytest.fixture(autouse=True, params=['native', 'host copy'])
def host_copy(request, monkeypatch):
    if request.param == 'host copy':
        monkeypatch.setattr(torchcaffe.blob, '_host_copy_needed', lambda device: True)
    return request.param

SCALE_NET = input_layer('x', (2, 3)) + '''
layer { name: "double" type: "Power" bottom: "x" top: "y" power_param { scale: 2 } }
'''


def test_the_host_copy_is_a_copy_only_where_it_must_be(host_copy):
    blob = caffe.Blob((2, 3))
    blob.data[...] = 5
    shared = np.shares_memory(blob.data, blob.tensor.cpu().numpy())
    assert shared == (host_copy == 'native' and torchcaffe.mode.device().type != 'cuda')


def test_a_new_blob_reads_as_zeros_and_so_does_a_reshaped_one():
    blob = caffe.Blob((2, 3))
    assert np.array_equal(blob.data, np.zeros((2, 3), np.float32))
    blob.data[...] = 7
    blob.reshape(4)
    assert np.array_equal(blob.data, np.zeros(4, np.float32))
    assert np.array_equal(blob.diff, np.zeros(4, np.float32))


def test_a_blob_gets_memory_on_first_use_and_loses_it_on_a_new_shape():
    blob = caffe.Blob((2, 3))
    assert not blob.allocated
    blob.data[...] = 1
    assert blob.allocated
    blob.reshape(2, 3)                 # the same shape keeps the values
    assert blob.allocated and blob.data.sum() == 6
    blob.reshape(4)
    assert not blob.allocated


def test_every_pass_sees_the_input_written_before_it():
    net = make_net(SCALE_NET)
    for i in range(4):
        x = np.full((2, 3), i + 0.5, np.float32)
        net.blobs['x'].data[...] = x
        net.forward()
        assert np.array_equal(net.blobs['y'].data, 2 * x)
        assert np.array_equal(net.blobs['x'].data, x)   # read back unchanged after the pass


def test_an_input_reshaped_every_pass_like_a_voc_data_layer():
    net = make_net(SCALE_NET)
    for h, w in [(3, 5), (6, 2), (3, 5), (1, 1)]:
        x = np.arange(h * w, dtype=np.float32).reshape(1, 1, h, w)
        net.blobs['x'].reshape(*x.shape)
        net.blobs['x'].data[...] = x
        net.reshape()
        net.forward()
        assert np.array_equal(net.blobs['y'].data, 2 * x)


def test_an_input_edited_in_place_after_a_read_back_is_seen():
    """The host copy handed back after a pass is the one the next pass uploads."""
    net = make_net(SCALE_NET)
    net.blobs['x'].data[...] = 1
    net.forward()
    net.blobs['x'].data[0, 0] += 10
    net.forward()
    assert net.blobs['y'].data[0, 0] == 22
    assert np.array_equal(net.blobs['y'].data.ravel()[1:], np.full(5, 2, np.float32))


def test_a_read_after_the_device_changed_a_blob_in_place_sees_the_change(tmp_path):
    """The solver updates weights in place on the device; a weight read before the update must
    not be handed back stale after it."""
    net_file = tmp_path / 'net.prototxt'
    net_file.write_text(input_layer('x', (4, 3)) + input_layer('t', (4,)) + '''
layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" inner_product_param { num_output: 2 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "y" bottom: "t" top: "loss" }
''')
    solver_file = tmp_path / 'solver.prototxt'
    solver_file.write_text('net: "%s"\nbase_lr: 0.1\nlr_policy: "fixed"\nmax_iter: 10\n'
                           'snapshot_prefix: "%s"\n' % (net_file, tmp_path / 'snap'))
    solver = caffe.SGDSolver(str(solver_file))
    net = solver.net
    rng = np.random.default_rng(0)
    net.blobs['x'].data[...] = rng.standard_normal((4, 3))
    net.blobs['t'].data[...] = [0, 1, 1, 0]
    net.params['ip'][0].data[...] = rng.standard_normal((2, 3))
    for _ in range(3):
        before = net.params['ip'][0].data.copy()
        solver.step(1)
        diff = net.params['ip'][0].diff.copy()
        after = net.params['ip'][0].data
        assert np.abs(diff).max() > 0
        np.testing.assert_allclose(after, before - diff, rtol=1e-6, atol=1e-7)


def test_param_diffs_read_between_backward_calls_show_the_accumulation():
    net = make_net('force_backward: true\n' + SCALE_NET.replace(
        'layer { name: "double" type: "Power" bottom: "x" top: "y" power_param { scale: 2 } }',
        'layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" '
        'inner_product_param { num_output: 2 weight_filler { type: "gaussian" } } }'))
    net.blobs['x'].data[...] = np.arange(6, dtype=np.float32).reshape(2, 3)
    net.forward()
    net.blobs['y'].diff[...] = 1
    net.backward()
    once = net.params['ip'][0].diff.copy()
    assert np.abs(once).max() > 0
    net.blobs['y'].diff[...] = 1
    net.backward()
    np.testing.assert_allclose(net.params['ip'][0].diff, 2 * once, rtol=1e-6)


@pytest.mark.parametrize('case', ['nets/slim_fcn8s', 'nets/multitask_two_losses', 'layers/layer_pool_max_pad'])
def test_caffes_numbers_hold_through_the_host_copy(case):
    test_golden.test_net_case(case)


def test_a_caffe_solver_run_holds_through_the_host_copy(tmp_path, monkeypatch):
    test_golden.test_solver_run('sgd_step_itersize_clip', tmp_path, monkeypatch)
