"""Training with augmentation and batches (layers.augment) stopped by SIGINT and resumed: the data
layer's draws continue where they were, so the resumed run ends with the weights of an
uninterrupted one.  Real solve.py processes, driven as in test_solve_signals."""
import signal

from backend import caffe
from solve_helpers import make_tiny_folder_fcn
from test_solve_signals import assert_same_weights, finish, snapshot_iters, solve

AUGMENT = {'mirror': True, 'scale': (0.5, 1.5), 'crop': 16, 'batch': 2}


def test_sigint_resumed_run_with_augmentation_is_bit_identical(tmp_path):
    net_dir, ids = make_tiny_folder_fcn(tmp_path, AUGMENT)
    net = caffe.Net(net_dir + '/train.prototxt', caffe.TRAIN)
    assert net.blobs['data'].data.shape == (2, 3, 16, 16) and net.blobs['label'].data.shape == (2, 1, 16, 16)
    del net
    whole = str(tmp_path / 'whole')
    rc, out, err = finish(solve(tmp_path, net_dir, whole, '--val', ids, '--test-interval', '3'))
    assert rc == 0, err
    final = out.strip().splitlines()[-1].split()[-1]
    part = str(tmp_path / 'part')
    rc, out, err = finish(solve(tmp_path, net_dir, part, '--val', ids, '--test-interval', '3', SIGNALS='4:INT'))
    assert rc == 128 + signal.SIGINT and 'stopped by SIGINT at iteration 4' in err, err
    assert snapshot_iters(part) == [4]
    rc, out, err = finish(solve(tmp_path, net_dir, part, '--val', ids, '--test-interval', '3'))
    assert rc == 0, err
    assert snapshot_iters(part) == [4, 9]
    assert_same_weights(final, out.strip().splitlines()[-1].split()[-1])
    assert_same_weights(whole + '/best.caffemodel', part + '/best.caffemodel')
