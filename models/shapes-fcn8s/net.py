"""A slim FCN-8s, trained from scratch, for the synthetic shapes dataset (data/shapes).

Run `python models/shapes-fcn8s/net.py` to rewrite train/val/deploy.prototxt.

The topology is FCN-8s's, layer for layer and with the release's layer names:
the VGG16 trunk (conv1_1 padded by 100, five blocks of 3x3 convolutions with
ReLU and 2x2 max pooling), fc6 (7x7) and fc7 (1x1) as convolutions with
dropout, score_fr, upscore2, score_pool4 cropped and fused, upscore_pool4,
score_pool3 cropped and fused, upscore8, and the final crop to the input,
every crop offset from coord_map.  Only the widths differ: every channel
count is VGG16's divided by WIDTH_DIVISOR (64..512 -> 8..64, 4096 -> 512).

Initialization is for training from scratch: MSRA (He) fillers for the
convolutions that feed a ReLU, constant 0 for the class-scoring layers (as
the release does: zero scores give a log(n) loss and a well-defined first
gradient), biases 0.

The upsampling layers are fixed (lr_mult 0) bilinear Deconvolutions with
group = num_output and the `bilinear` weight filler, so each class channel
is interpolated on its own: the weights are (classes, 1, k, k) and correct
straight from the filler.  solve.py's initialize() also runs surgery.interp
on every layer named 'up*', which fills such grouped weights with the same
kernel, so the net is right with or without that surgery (an ungrouped
Deconvolution would need it: the bilinear filler writes the kernel into
every input/output channel pair, mixing the classes).
"""
import os
from collections import OrderedDict

from backend import caffe
from models import common as C   # crop by coord_map, prototxt writing

HERE = os.path.dirname(os.path.abspath(__file__))

L = caffe.layers
P = caffe.params

NAME = 'shapes-fcn8s'
# VGG16's channel widths are divided by this (FCN-8s: 64, 128, 256, 512, 512, 4096).
WIDTH_DIVISOR = 8
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
FC_WIDTH = 4096
N_CLASSES = 4                      # data/shapes/classes.txt
# The generated dataset, relative to the data root (data/).
DATA_DIR = 'shapes/generated'
MEAN = (104.00699, 116.66877, 122.67892)   # BGR, the mean infer.py subtracts too
SEED = 1337
DROPOUT = 0.5                      # fc6/fc7 dropout ratio, as in the release (0: no Dropout layers)
IMAGE_SIZE = 320                   # the deploy net's example input; reshape it to any size

LEARN = [dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)]
FROZEN = [dict(lr_mult=0)]
MSRA = dict(type='msra')
ZERO = dict(type='constant', value=0)


def conv_relu(bottom, nout, ks=3, pad=1):
    conv = L.Convolution(bottom, num_output=nout, kernel_size=ks, stride=1, pad=pad, param=LEARN,
                         weight_filler=MSRA, bias_filler=ZERO)
    return conv, L.ReLU(conv, in_place=True)


def max_pool(bottom):
    return L.Pooling(bottom, pool=P.Pooling.MAX, kernel_size=2, stride=2)


def score(bottom, nout):
    return L.Convolution(bottom, num_output=nout, kernel_size=1, pad=0, param=LEARN,
                         weight_filler=ZERO, bias_filler=ZERO)


def upsample(bottom, nout, factor):
    """Fixed bilinear upsampling by `factor`: kernel 2 x factor, one kernel per class (grouped)."""
    return L.Deconvolution(bottom, param=FROZEN,
                           convolution_param=dict(num_output=nout, group=nout, kernel_size=2 * factor,
                                                  stride=factor, bias_term=False,
                                                  weight_filler=dict(type='bilinear')))


def fcn(split, data_dir=DATA_DIR, width_divisor=WIDTH_DIVISOR, image_size=IMAGE_SIZE,
        n_classes=N_CLASSES, dropout=DROPOUT):
    """The NetParameter of the train ('train'), val ('val') or deploy ('deploy') net."""
    n = caffe.NetSpec()
    train = split != 'deploy'
    if train:
        params = OrderedDict([('voc_dir', data_dir), ('split', split), ('mean', MEAN),
                              ('randomize', split == 'train'), ('seed', SEED)])
        n.data, n.label = L.Python(module='layers.voc', layer='VOCSegDataLayer', ntop=2,
                                   param_str=str(dict(params)))
    else:
        n.data = L.Input(name='input', shape=[dict(dim=[1, 3, image_size, image_size])])

    # the trunk: VGG16's layout, slim
    top = n.data
    for b, (width, reps) in enumerate(VGG16_BLOCKS, 1):
        for r in range(1, reps + 1):
            pad = 100 if (b, r) == (1, 1) else 1
            n['conv%d_%d' % (b, r)], n['relu%d_%d' % (b, r)] = conv_relu(top, width // width_divisor,
                                                                         pad=pad)
            top = n['relu%d_%d' % (b, r)]
        n['pool%d' % b] = max_pool(top)
        top = n['pool%d' % b]

    # fully connected layers as convolutions
    fc = FC_WIDTH // width_divisor
    n.fc6, n.relu6 = conv_relu(n.pool5, fc, ks=7, pad=0)
    top = n.relu6
    if train and dropout:
        n.drop6 = top = L.Dropout(n.relu6, dropout_ratio=dropout, in_place=True)
    n.fc7, n.relu7 = conv_relu(top, fc, ks=1, pad=0)
    top = n.relu7
    if train and dropout:
        n.drop7 = top = L.Dropout(n.relu7, dropout_ratio=dropout, in_place=True)

    # FCN-8s head: stride 32 -> 16 -> 8 -> 1
    n.score_fr = score(top, n_classes)
    n.upscore2 = upsample(n.score_fr, n_classes, 2)
    n.score_pool4 = score(n.pool4, n_classes)
    n.score_pool4c = C.crop(n.score_pool4, n.upscore2)
    n.fuse_pool4 = L.Eltwise(n.upscore2, n.score_pool4c, operation=P.Eltwise.SUM)
    n.upscore_pool4 = upsample(n.fuse_pool4, n_classes, 2)
    n.score_pool3 = score(n.pool3, n_classes)
    n.score_pool3c = C.crop(n.score_pool3, n.upscore_pool4)
    n.fuse_pool3 = L.Eltwise(n.upscore_pool4, n.score_pool3c, operation=P.Eltwise.SUM)
    n.upscore8 = upsample(n.fuse_pool3, n_classes, 8)
    n.score = C.crop(n.upscore8, n.data)
    if train:
        # normalized (averaged over the non-void pixels) loss, so the rate is an ordinary one
        n.loss = L.SoftmaxWithLoss(n.score, n.label,
                                   loss_param=dict(normalize=True, ignore_label=255))
    return n.to_proto()


def prototxts(data_dir=DATA_DIR, **kw):
    return OrderedDict([('train.prototxt', fcn('train', data_dir, **kw)),
                        ('val.prototxt', fcn('val', data_dir, **kw)),
                        ('deploy.prototxt', fcn('deploy', data_dir, **kw))])


def make_net(net_dir=HERE, data_dir=DATA_DIR, **kw):
    """Write the prototxts into net_dir (this folder by default); returns their paths."""
    return C.write_prototxts(net_dir, prototxts(data_dir, **kw))


if __name__ == '__main__':
    make_net()
