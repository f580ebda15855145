"""FCN-8s at-once (VGG16) on PASCAL VOC: all three streams learned together from
VGG16, with the pool4 and pool3 skips scaled by fixed factors (0.01, 0.0001)
to condition the optimization.  Writes train/val/deploy prototxts.

Run `python models/voc-fcn8s-atonce/net.py` to rewrite them.
"""
import os
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from models import common as C  # noqa: E402

SKIP_SCALES = {'pool4': 0.01, 'pool3': 0.0001}


def fcn(split):
    n = C.caffe.NetSpec()
    train = split != 'deploy'
    if train:
        n.data, n.label = C.voc_data(split)
    else:
        n.data = C.deploy_input()
    C.vgg16_fcn(n, n.data, 21, stride=8, train=train, scales=SKIP_SCALES)
    if train:
        n.loss = C.softmax_loss(n.score, n.label)
    return n.to_proto()


def prototxts():
    return OrderedDict([('train.prototxt', fcn('train')),
                        ('val.prototxt', fcn('seg11valid')),
                        ('deploy.prototxt', fcn('deploy'))])


def make_net(net_dir=HERE):
    """Write the prototxts into net_dir (this folder by default)."""
    return C.write_prototxts(net_dir, prototxts())


if __name__ == '__main__':
    make_net()
