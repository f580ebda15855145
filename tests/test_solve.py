"""solve.py: training through the real data layer, seg tests and their log, snapshots, and resume."""
import csv
import os

import numpy as np
import pytest
from PIL import Image

import solve
import vis
from backend import caffe

SOLVER = '''train_net: "train.prototxt"
test_net: "val.prototxt"
test_iter: 2
test_interval: 1000000
test_initialization: false
base_lr: 0.05
lr_policy: "fixed"
momentum: 0.9
weight_decay: 0.0005
display: 0
max_iter: 6
snapshot: 2
random_seed: 7
'''

NET = '''layer {{ name: "data" type: "Python" top: "data" top: "label"
  python_param {{ module: "layers.voc" layer: "VOCSegDataLayer"
    param_str: "{{'voc_dir': '{voc}', 'split': '{split}', 'mean': (100.0, 110.0, 120.0), 'randomize': False}}" }} }}
layer {{ name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param {{ num_output: 4 kernel_size: 3 pad: 1 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "relu" type: "ReLU" bottom: "conv" top: "conv" }}
layer {{ name: "score" type: "Convolution" bottom: "conv" top: "score"
  convolution_param {{ num_output: 3 kernel_size: 1 weight_filler {{ type: "xavier" }} }} }}
layer {{ name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss"
  loss_param {{ ignore_label: 255 }} }}
'''


def write_voc(root, ids, rng):
    """A tiny dataset in PASCAL VOC's layout: JPEGs, palette label PNGs, split lists."""
    for sub in ('JPEGImages', 'SegmentationClass', 'ImageSets/Segmentation'):
        os.makedirs(os.path.join(root, sub), exist_ok=True)
    for i in ids:
        label = np.zeros((12, 16), np.uint8)
        label[2:8, 3:9] = 1
        label[6:11, 10:15] = 2
        rgb = rng.randint(0, 60, size=(12, 16, 3)).astype(np.uint8)
        rgb[label == 1] += np.uint8(150)
        rgb[..., 2][label == 2] += np.uint8(180)
        Image.fromarray(rgb).save(os.path.join(root, 'JPEGImages', i + '.jpg'), quality=95)
        vis.save_label_png(os.path.join(root, 'SegmentationClass', i + '.png'), label)


@pytest.fixture
def tiny_fcn(tmp_path):
    voc = str(tmp_path / 'voc')
    write_voc(voc, ['a', 'b', 'c'], np.random.RandomState(0))
    splits = {'train': ['a'], 'val': ['b', 'c']}
    for split, ids in splits.items():
        with open(os.path.join(voc, 'ImageSets', 'Segmentation', split + '.txt'), 'w') as f:
            f.write('\n'.join(ids) + '\n')
    net_dir = tmp_path / 'tiny-fcn'
    net_dir.mkdir()
    (net_dir / 'solver.prototxt').write_text(SOLVER)
    (net_dir / 'train.prototxt').write_text(NET.format(voc=voc, split='train'))
    (net_dir / 'val.prototxt').write_text(NET.format(voc=voc, split='val'))
    ids_file = tmp_path / 'val_ids.txt'
    ids_file.write_text('b\nc\n')
    return str(net_dir), str(ids_file)


def weights_of(path):
    """{(layer, index): array} of a caffemodel, read as a plain protobuf."""
    model = caffe.proto.caffe_pb2.NetParameter()
    with open(path, 'rb') as f:
        model.ParseFromString(f.read())
    return {(l.name, i): np.array(b.data, np.float32) for l in model.layer for i, b in enumerate(l.blobs)}


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
        assert 0.0 <= float(r['mean_iu']) <= 1.0 and float(r['loss']) > 0
    assert sorted(os.listdir(os.path.join(out, 'segs-iter6'))) == ['b.png', 'c.png']
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


def test_aliases_and_unknown_nets():
    assert solve.net_dir('fcn8s').endswith(os.path.join('models', 'voc-fcn8s'))
    with pytest.raises(SystemExit, match='no net'):
        solve.net_dir('no-such-net')
