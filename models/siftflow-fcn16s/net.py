"""FCN-16s (VGG16) on SIFT Flow, multi-task: one trunk, two score heads and two
losses, 33 semantic classes (score_sem, loss) and 3 geometric classes
(score_geo, loss_geo).  Writes trainval, test and deploy prototxts.

Run `python models/siftflow-fcn16s/net.py` to rewrite them.
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
        n.data, n.sem, n.geo = C.siftflow_data(split)
    else:
        n.data = C.deploy_input()
    C.vgg16_trunk(n, n.data)
    feat = C.fc_head(n, n.pool5, train=train)
    C.fcn_head(n, feat, n.data, 33, stride=16, suffix='_sem', pool4=n.pool4, pool3=n.pool3)
    if train:
        # the semantic loss is plain 'loss', as in the reference release
        n.loss = C.softmax_loss(n.score_sem, n.sem)
    C.fcn_head(n, feat, n.data, 3, stride=16, suffix='_geo', pool4=n.pool4, pool3=n.pool3)
    if train:
        n.loss_geo = C.softmax_loss(n.score_geo, n.geo)
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
