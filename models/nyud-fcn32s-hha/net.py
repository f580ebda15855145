"""FCN-32s (VGG16) on NYUDv2, HHA input, 40 classes: trainval, test and deploy prototxts.

Run `python models/nyud-fcn32s-hha/net.py` to rewrite them.
"""
import os
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from models import common as C  # noqa: E402

TOPS = ['hha', 'label']


def fcn(split):
    n = C.caffe.NetSpec()
    train = split != 'deploy'
    if train:
        n.data, n.label = C.nyud_data(split, TOPS)
    else:
        n.data = C.deploy_input()
    C.vgg16_fcn(n, n.data, 40, stride=32, train=train)
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
