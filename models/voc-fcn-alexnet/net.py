"""FCN-AlexNet on PASCAL VOC: the CaffeNet trunk made fully convolutional, one
32-stride stream, trained with a normalized loss.  Writes train/val/deploy
prototxts.

Run `python models/voc-fcn-alexnet/net.py` to rewrite them.
"""
from models import common as C


def body(n, train):
    C.caffenet_trunk(n, n.data, pad=100)
    feat = C.fc_head(n, n.pool5, ks=6, train=train, param=None)
    # a 63-pixel kernel keeps the x32 upsampling aligned on whole pixels
    C.fcn_head(n, feat, n.data, C.VOC_CLASSES, stride=32, up_ks=63)


def fcn(split):
    return C.fcn_net(split, C.voc_data, body, normalize=True)


prototxts, make_net = C.net_script(__name__, __file__, fcn, C.VOC_SPLITS)
