"""A tiny FCN in a tiny VOC-layout dataset, for training tests through the real data layer."""
import os

import numpy as np
from PIL import Image

import vis

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
max_iter: {max_iter}
snapshot: {snapshot}
iter_size: {iter_size}
random_seed: 7
'''

NET = '''layer {{ name: "data" type: "Python" top: "data" top: "label"
  python_param {{ module: "layers.voc" layer: "VOCSegDataLayer"
    param_str: "{{'voc_dir': '{voc}', 'split': '{split}', 'mean': (100.0, 110.0, 120.0), {order}}}" }} }}
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
        top, left = rng.randint(0, 4, size=2)
        label[2 + top:8 + top, 3 + left:9 + left] = 1
        label[6:11, 10:15] = 2
        rgb = rng.randint(0, 60, size=(12, 16, 3)).astype(np.uint8)
        rgb[label == 1] += np.uint8(150)
        rgb[..., 2][label == 2] += np.uint8(180)
        Image.fromarray(rgb).save(os.path.join(root, 'JPEGImages', i + '.jpg'), quality=95)
        vis.save_label_png(os.path.join(root, 'SegmentationClass', i + '.png'), label)


def make_tiny_fcn(tmp_path, train_ids=('a',), max_iter=6, snapshot=2, iter_size=1, seed=None):
    """(net folder, val ids file) of a tiny FCN; with a seed its train layer draws examples at random."""
    train_ids = list(train_ids)
    voc = str(tmp_path / 'voc')
    write_voc(voc, train_ids + ['v1', 'v2'], np.random.RandomState(0))
    for split, ids in {'train': train_ids, 'val': ['v1', 'v2']}.items():
        with open(os.path.join(voc, 'ImageSets', 'Segmentation', split + '.txt'), 'w') as f:
            f.write('\n'.join(ids) + '\n')
    net_dir = tmp_path / 'tiny-fcn'
    net_dir.mkdir()
    (net_dir / 'solver.prototxt').write_text(SOLVER.format(max_iter=max_iter, snapshot=snapshot,
                                                           iter_size=iter_size))
    order = "'randomize': False" if seed is None else "'randomize': True, 'seed': %d" % seed
    (net_dir / 'train.prototxt').write_text(NET.format(voc=voc, split='train', order=order))
    (net_dir / 'val.prototxt').write_text(NET.format(voc=voc, split='val', order="'randomize': False"))
    ids_file = tmp_path / 'val_ids.txt'
    ids_file.write_text('v1\nv2\n')
    return str(net_dir), str(ids_file)


def make_rank_pair(tmp_path, max_iter, snapshot):
    """(single, ranks) net folders of one seeded task: iter_size 2 for one process, 1 for two ranks,
    which together take the same steps."""
    ids = ['a', 'b', 'c', 'd', 'e', 'f']
    single, _ = make_tiny_fcn(tmp_path / 'single', train_ids=ids, max_iter=max_iter, snapshot=snapshot,
                              iter_size=2, seed=5)
    ranks, _ = make_tiny_fcn(tmp_path / 'ranks', train_ids=ids, max_iter=max_iter, snapshot=snapshot,
                             iter_size=1, seed=5)
    return single, ranks


def weights_of(path):
    """{(layer, index): array} of a caffemodel, read as a plain protobuf."""
    from backend import caffe
    model = caffe.proto.caffe_pb2.NetParameter()
    with open(path, 'rb') as f:
        model.ParseFromString(f.read())
    return {(l.name, i): np.array(b.data, np.float32) for l in model.layer for i, b in enumerate(l.blobs)}


FOLDER_NET = '''layer {{ name: "data" type: "Python" top: "data" top: "label"
  python_param {{ module: "layers.folder" layer: "FolderSegDataLayer"
    param_str: "{{'dataset_dir': '{root}', 'split': '{split}', 'mean': (100.0, 110.0, 120.0), {extra}}}" }} }}
''' + NET[NET.index('layer {{ name: "conv"'):]


def make_tiny_folder_fcn(tmp_path, augment, max_iter=9, snapshot=100, iter_size=1):
    """(net folder, val ids file) of the tiny FCN over a tiny dataset in the folder layout (3 classes),
    its train data layer seeded and given the param_str keys in `augment` (mirror, scale, crop, batch)."""
    from owndata_helpers import make_dataset
    root = str(tmp_path / 'owndata')
    make_dataset(root, n_train=5, n_val=2, size=(20, 24))
    net_dir = tmp_path / 'tiny-folder-fcn'
    net_dir.mkdir()
    (net_dir / 'solver.prototxt').write_text(SOLVER.format(max_iter=max_iter, snapshot=snapshot,
                                                           iter_size=iter_size))
    extra = ', '.join(["'seed': 11"] + ['%r: %r' % kv for kv in augment.items()])
    (net_dir / 'train.prototxt').write_text(FOLDER_NET.format(root=root, split='train', extra=extra))
    (net_dir / 'val.prototxt').write_text(FOLDER_NET.format(root=root, split='val', extra="'randomize': False"))
    return str(net_dir), os.path.join(root, 'val.txt')
