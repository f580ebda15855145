"""Training with augmentation and batches (layers.augment) stopped by SIGINT and resumed: the data
layer's draws continue where they were, so the resumed run ends with the weights of an
uninterrupted one.  Real solve.py processes, driven as in test_solve_signals."""
import signal

import pytest

from backend import caffe
from solve_helpers import make_tiny_folder_fcn
from test_solve_processes import free_port
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


@pytest.mark.torchcaffe_only    # data parallelism (torchrun) is torchcaffe's
def test_two_gloo_ranks_with_augmented_batches_take_the_steps_of_one_process(tmp_path):
    """Each rank reads its own batches, augmentation drawn alike: 2 ranks = iter_size 2."""
    single_dir, _ = make_tiny_folder_fcn(tmp_path / 'single', AUGMENT, max_iter=4, iter_size=2)
    ranks_dir, _ = make_tiny_folder_fcn(tmp_path / 'ranks', AUGMENT, max_iter=4, iter_size=1)
    rc, out, err = finish(solve(tmp_path, single_dir, str(tmp_path / 'single' / 'out')))
    assert rc == 0, err
    group = dict(WORLD_SIZE='2', MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    procs = [solve(tmp_path, ranks_dir, str(tmp_path / 'ranks' / 'out'), RANK=str(r), LOCAL_RANK=str(r), **group)
             for r in range(2)]
    results = [finish(p) for p in procs]
    assert [rc for rc, _, _ in results] == [0, 0], [err for _, _, err in results]
    assert_same_weights(out.strip().splitlines()[-1].split()[-1], results[0][1].strip().splitlines()[-1].split()[-1])
