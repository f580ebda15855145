"""FCN-GoogLeNet on PASCAL VOC (beyond the reference release; see README.md).

bvlc_googlenet up to inception_5b/output (stride 32), padded by 100 like the
other FCNs; the average pooling and classifier are replaced by a 1x1 score
layer, upsampled x32 by a fixed bilinear deconvolution and cropped to the
input.  Writes train/val/deploy prototxts.

Run `python models/voc-fcn-googlenet/net.py` to rewrite them.
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
        n.data, n.label = C.voc_data(split)
    else:
        n.data = C.deploy_input()
    feat = C.googlenet_trunk(n, n.data, pad=100)
    if train:
        # GoogLeNet's own dropout (0.4), which followed the discarded pooling
        n['inception_5b/drop'] = C.dropout(feat, 0.4)
        feat = n['inception_5b/drop']
    # a 63-pixel kernel keeps the x32 upsampling aligned on whole pixels
    C.fcn_head(n, feat, n.data, 21, stride=32, up_ks=63)
    if train:
        n.loss = C.softmax_loss(n.score, n.label, normalize=True)
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
