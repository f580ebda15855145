"""fcn.training (training.py): training through the real data layer, seg tests and their log, snapshots, and resume."""
import csv
import os

import numpy as np
import pytest

from fcn import training
from fcn.errors import FCNError, MissingFile, NetNotFound
from solve_helpers import make_tiny_fcn, weights_of


@pytest.fixture
def tiny_fcn(tmp_path):
    return make_tiny_fcn(tmp_path)


def test_train_writes_snapshots_seg_tests_and_a_log(tiny_fcn, tmp_path):
    net_dir, ids = tiny_fcn
    out = str(tmp_path / 'run')
    final = training.train(net_dir, val=ids, test_interval=3, out=out, save_segs=True)
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
    whole = training.train(net_dir, out=str(tmp_path / 'whole'))
    part = str(tmp_path / 'part')
    training.train(net_dir, iters=4, out=part)
    # killed while writing the snapshot at 4: only its caffemodel made it to disk
    os.remove(os.path.join(part, 'snapshots', 'train_iter_4.solverstate'))
    resumed = training.train(net_dir, out=part)                # resumes from the complete pair at 2
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
    assert training.latest_snapshot(str(tmp_path)) == (4, str(snaps / 'train_iter_4.solverstate'))
    assert training.latest_snapshot(str(tmp_path / 'nothing')) is None


def test_resolved_solver_points_at_the_net_folder_and_the_output(tiny_fcn, tmp_path):
    net_dir, _ = tiny_fcn
    path, param = training.resolve_solver(net_dir, str(tmp_path / 'o'), iters=3)
    assert param.train_net == os.path.join(net_dir, 'train.prototxt')
    assert list(param.test_net) == [os.path.join(net_dir, 'val.prototxt')]
    assert param.snapshot_prefix == str(tmp_path / 'o' / 'snapshots' / 'train') and param.max_iter == 3
    assert os.path.exists(path)


def test_resolved_solver_replaces_the_file_rather_than_rewriting_it(tiny_fcn, tmp_path):
    # torchrun ranks all write it and read it back: a reader must never see it emptied mid-write
    net_dir, _ = tiny_fcn
    out = tmp_path / 'o'
    path, _ = training.resolve_solver(net_dir, str(out))
    with open(path, 'w') as f:
        f.write('# what another rank is reading')
    with open(path) as reader:
        training.resolve_solver(net_dir, str(out))
        assert reader.read() == '# what another rank is reading'
    assert 'snapshot_prefix' in open(path).read()


def test_unknown_net_is_named_and_leaves_no_output(tmp_path):
    with pytest.raises(NetNotFound, match='no-such-net'):
        training.train('no-such-net', out=str(tmp_path / 'o'))
    assert not (tmp_path / 'o').exists()


def test_resume_falls_back_past_a_corrupt_newest_pair(tiny_fcn, tmp_path):
    net_dir, _ = tiny_fcn
    whole = training.train(net_dir, out=str(tmp_path / 'whole'))
    part = str(tmp_path / 'part')
    training.train(net_dir, iters=4, out=part)
    with open(os.path.join(part, 'snapshots', 'train_iter_4.caffemodel'), 'r+b') as f:
        f.truncate(100)                                   # complete pair on disk, unreadable weights
    said = []
    resumed = training.train(net_dir, out=part, log=said.append)
    assert any('skipping snapshot 4' in s and 'train_iter_4.caffemodel' in s for s in said)
    assert any(s.startswith('resuming from') and 'train_iter_2' in s for s in said)
    a, b = weights_of(whole), weights_of(resumed)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])


def test_iters_below_the_newest_snapshot_says_so_and_keeps_it(tiny_fcn, tmp_path):
    net_dir, _ = tiny_fcn
    out = str(tmp_path / 'o')
    final = training.train(net_dir, out=out)
    before = os.stat(final).st_mtime_ns
    said = []
    assert training.train(net_dir, iters=3, out=out, log=said.append) == final
    assert any('already holds iteration 6' in s and 'max_iter 3' in s for s in said)
    assert os.stat(final).st_mtime_ns == before


@pytest.mark.torchcaffe_only    # the full disk is simulated inside the engine's snapshot writer
def test_a_full_disk_while_snapshotting_keeps_the_previous_pair_and_stops(tiny_fcn, tmp_path, monkeypatch):
    import errno
    from torchcaffe import io
    net_dir, _ = tiny_fcn
    out = str(tmp_path / 'o')
    write = io.write_binary

    def full_after_iter_2(path, message):
        if '_iter_4.' in path:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return write(path, message)

    monkeypatch.setattr(io, 'write_binary', full_after_iter_2)
    with pytest.raises(training.SnapshotError, match='No space left on device'):
        training.train(net_dir, out=out)
    assert training.latest_snapshot(out) == (2, os.path.join(out, 'snapshots', 'train_iter_2.solverstate'))
    assert training.readable(training.latest_snapshot(out)[1]) is None


def test_a_run_that_cannot_start_leaves_no_output_folder(tiny_fcn, tmp_path):
    net_dir, _ = tiny_fcn
    os.remove(str(tmp_path / 'voc' / 'ImageSets' / 'Segmentation' / 'train.txt'))   # the dataset is not there
    with pytest.raises(Exception, match='split file not found.*train.txt.*data/README.md'):
        training.train(net_dir, out=str(tmp_path / 'o'))
    assert not (tmp_path / 'o').exists()
    with pytest.raises(MissingFile, match='missing-ids.txt'):
        training.train(net_dir, out=str(tmp_path / 'o'), val=str(tmp_path / 'missing-ids.txt'))
    assert not (tmp_path / 'o').exists()


@pytest.mark.torchcaffe_only    # BVLC Caffe trains on through NaN; stopping there is torchcaffe's
def test_a_nan_stop_says_which_snapshot_is_the_last_good_state(tiny_fcn, tmp_path):
    net_dir, _ = tiny_fcn
    solver = os.path.join(net_dir, 'solver.prototxt')
    text = open(solver).read()
    open(solver, 'w').write(text.replace('base_lr: 0.05', 'base_lr: 1e30'))
    with pytest.raises(FCNError, match='the loss is (nan|inf).*no snapshot has been written yet'):
        training.train(net_dir, out=str(tmp_path / 'o'))


def test_late_fusion_starts_from_each_stream_under_its_suffix(tmp_path, monkeypatch):
    """nyud-fcn32s-color-hha's start: the trained color and HHA nets, layer c -> c<suffix>."""
    from backend import caffe
    from models import records
    conv = ('layer { name: "c%s" type: "Convolution" bottom: "data" top: "c%s" '
            'convolution_param { num_output: 2 kernel_size: 1 } }\n')
    head = 'layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }\n'
    weights, rng = {}, np.random.RandomState(0)
    for suffix in ('color', 'hha'):
        folder = tmp_path / suffix
        folder.mkdir()
        (folder / 'deploy.prototxt').write_text(head + conv % ('', ''))
        net = caffe.Net(str(folder / 'deploy.prototxt'), caffe.TEST)
        for blob in net.params['c']:
            blob.data[...] = rng.randn(*blob.data.shape)
        weights[str(folder)] = str(folder / 'w.caffemodel')
        net.save(weights[str(folder)])
    (tmp_path / 'fused.prototxt').write_text(head + conv % ('color', 'color') + conv % ('hha', 'hha'))

    class Solver:
        net = caffe.Net(str(tmp_path / 'fused.prototxt'), caffe.TEST)

    rec = records.Record(name='fused', folder=str(tmp_path), init=('streams', ''),
                         init_streams=(('color', str(tmp_path / 'color')), ('hha', str(tmp_path / 'hha'))))
    monkeypatch.setattr(training, 'trained_weights', lambda rec, source: weights[source])
    training.initialize(Solver, rec)
    for suffix in ('color', 'hha'):
        stream = weights_of(weights[str(tmp_path / suffix)])
        for i, blob in enumerate(Solver.net.params['c' + suffix]):
            np.testing.assert_array_equal(blob.data.ravel(), stream[('c', i)])
