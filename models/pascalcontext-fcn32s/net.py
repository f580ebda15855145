"""FCN-32s (VGG16) on PASCAL-Context, 59 classes + background = 60 outputs:
train, val and deploy prototxts.

Run `python models/pascalcontext-fcn32s/net.py` to rewrite them.
"""
import os
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from models import common as C  # noqa: E402


def fcn(split):
    n = C.caffe.NetSpec()
    train = split != 'deploy'
    if train:
        n.data, n.label = C.pascalcontext_data(split)
    else:
        n.data = C.deploy_input()
    C.vgg16_fcn(n, n.data, 60, stride=32, train=train)
    if train:
        n.loss = C.softmax_loss(n.score, n.label)
    return n.to_proto()


def prototxts():
    return OrderedDict([('train.prototxt', fcn('train')),
                        ('val.prototxt', fcn('val')),
                        ('deploy.prototxt', fcn('deploy'))])


def make_net(net_dir=HERE):
    """Write the prototxts into net_dir (this folder by default)."""
    return C.write_prototxts(net_dir, prototxts())


if __name__ == '__main__':
    make_net()
