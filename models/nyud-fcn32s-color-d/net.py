"""FCN-32s (VGG16) on NYUDv2 with early fusion: color (BGR) and log-depth stacked
into a 4-channel input, 40 classes.  Writes trainval, test and deploy prototxts.

The first convolution is named conv1_1_bgrd so the 3-channel VGG16 conv1_1
does not load into it by name; solve-time surgery fills it (VGG16's filters
for BGR, their channel mean for depth).  The deploy net takes the stacked
4-channel blob as `data`.

Run `python models/nyud-fcn32s-color-d/net.py` to rewrite them.
"""
import os
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from models import common as C  # noqa: E402

TOPS = ['color', 'depth', 'label']


def fcn(split):
    n = C.caffe.NetSpec()
    train = split != 'deploy'
    if train:
        n.color, n.depth, n.label = C.nyud_data(split, TOPS)
        n.data = C.L.Concat(n.color, n.depth)
    else:
        n.data = C.deploy_input((1, 4, 500, 500))
    C.vgg16_trunk(n, n.data, first_conv='conv1_1_bgrd')
    feat = C.fc_head(n, n.pool5, train=train)
    C.fcn_head(n, feat, n.data, 40, stride=32)
    if train:
        n.loss = C.softmax_loss(n.score, n.label)
    return n.to_proto()


def prototxts():
    return OrderedDict([('trainval.prototxt', fcn('trainval')),
                        ('test.prototxt', fcn('test')),
                        ('deploy.prototxt', fcn('deploy'))])


def make_net(net_dir=HERE):
    """Write the prototxts into net_dir (this folder by default)."""
    return C.write_prototxts(net_dir, prototxts())


if __name__ == '__main__':
    make_net()
