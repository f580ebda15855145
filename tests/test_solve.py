"""solve.py: training through the real data layer, seg tests and their log, snapshots, and resume."""
import csv
import os

import numpy as np
import pytest

import solve
from solve_helpers import make_tiny_fcn, weights_of


@pytest.fixture
def tiny_fcn(tmp_path):
    return make_tiny_fcn(tmp_path)


def test_train_writes_snapshots_seg_tests_and_a_log(tiny_fcn, tmp_path):
    net_dir, ids = tiny_fcn
    out = str(tmp_path / 'run')
    final = solve.train(net_dir, val=ids, test_interval=3, out=out, save_segs=True)
    assert final.endswith('train_iter_6.caffemodel') and os.path.exists(final)
    for it in (2, 4, 6):
        assert os.path.exists(os.path.join(out, 'snapshots', 'train_iter_%d.solverstate' % it))
    rows = list(csv.DictReader(open(os.path.join(out, 'log.csv'))))
    assert [int(r['iteration']) for r in rows] == [3, 6]
    for r in rows:
        assert 0.0 <= float(r['mean_iu']) <= 1.0 and float(r['loss']) > 0 and float(r['train_loss']) > 0
        assert float(r['lr']) == 0.05
    assert os.path.getsize(os.path.join(out, 'learning_curve.png')) > 0
    assert sorted(os.listdir(os.path.join(out, 'segs-iter6'))) == ['v1.png', 'v2.png']
    assert not [f for f in os.listdir(os.path.join(out, 'snapshots')) if f.endswith('.tmp')]


def test_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tiny_fcn, tmp_path):
    net_dir, ids = tiny_fcn
    whole = solve.train(net_dir, out=str(tmp_path / 'whole'))
    part = str(tmp_path / 'part')
    solve.train(net_dir, iters=4, out=part)
    # killed while writing the snapshot at 4: only its caffemodel made it to disk
    os.remove(os.path.join(part, 'snapshots', 'train_iter_4.solverstate'))
    resumed = solve.train(net_dir, out=part)                # resumes from the complete pair at 2
    a, b = weights_of(whole), weights_of(resumed)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_latest_snapshot_ignores_incomplete_pairs(tmp_path):
    snaps = tmp_path / 'snapshots'
    snaps.mkdir()
    for name in ('train_iter_4.caffemodel', 'train_iter_4.solverstate',
                 'train_iter_8.solverstate',                       # its caffemodel never got written
                 'train_iter_12.caffemodel'):                      # its solverstate never got written
        (snaps / name).write_bytes(b'x')
    assert solve.latest_snapshot(str(tmp_path)) == (4, str(snaps / 'train_iter_4.solverstate'))
    assert solve.latest_snapshot(str(tmp_path / 'nothing')) is None


def test_resolved_solver_points_at_the_net_folder_and_the_output(tiny_fcn, tmp_path):
    net_dir, _ = tiny_fcn
    path, param = solve.resolve_solver(net_dir, str(tmp_path / 'o'), iters=3)
    assert param.train_net == os.path.join(net_dir, 'train.prototxt')
    assert list(param.test_net) == [os.path.join(net_dir, 'val.prototxt')]
    assert param.snapshot_prefix == str(tmp_path / 'o' / 'snapshots' / 'train') and param.max_iter == 3
    assert os.path.exists(path)


def test_resolved_solver_replaces_the_file_rather_than_rewriting_it(tiny_fcn, tmp_path):
    # torchrun ranks all write it and read it back: a reader must never see it emptied mid-write
    net_dir, _ = tiny_fcn
    out = tmp_path / 'o'
    path, _ = solve.resolve_solver(net_dir, str(out))
    with open(path, 'w') as f:
        f.write('# what another rank is reading')
    with open(path) as reader:
        solve.resolve_solver(net_dir, str(out))
        assert reader.read() == '# what another rank is reading'
    assert 'snapshot_prefix' in open(path).read()


def test_aliases_and_unknown_nets():
    assert solve.net_dir('fcn8s').endswith(os.path.join('models', 'voc-fcn8s'))
    with pytest.raises(SystemExit, match='no net'):
        solve.net_dir('no-such-net')
