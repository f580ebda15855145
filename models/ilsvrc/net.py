"""Deploy nets of the ILSVRC classifiers that FCNs start from, written with NetSpec.

    vgg16/deploy.prototxt      VGG_ILSVRC_16_layers (Simonyan & Zisserman)
    caffenet/deploy.prototxt   bvlc_reference_caffenet
    googlenet/deploy.prototxt  bvlc_googlenet

Layer names, types and shapes are those of the published deploy nets, so the
published caffemodels (see each folder's caffemodel-url) load into them by
name, ready for surgery.transplant into an FCN.

Run `python models/ilsvrc/net.py` to rewrite them.
"""
import os
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from models import common as C  # noqa: E402


def fc(bottom, nout, param=None):
    kw = dict(num_output=nout)
    if param is not None:
        kw['param'] = param
    return C.L.InnerProduct(bottom, **kw)


def vgg16():
    """VGG16: 13 3x3 convolutions, 3 fully connected layers, 1000 classes."""
    n = C.caffe.NetSpec()
    n.data = C.L.Input(shape=dict(dim=[10, 3, 224, 224]))
    C.vgg16_trunk(n, n.data, pad=1, param=None, stride=None)
    n.fc6 = fc(n.pool5, 4096)
    n.relu6 = C.L.ReLU(n.fc6, in_place=True)
    n.drop6 = C.dropout(n.relu6)
    n.fc7 = fc(n.drop6, 4096)
    n.relu7 = C.L.ReLU(n.fc7, in_place=True)
    n.drop7 = C.dropout(n.relu7)
    n.fc8 = fc(n.drop7, 1000)
    n.prob = C.L.Softmax(n.fc8)
    proto = n.to_proto()
    proto.name = 'VGG_ILSVRC_16_layers'
    return proto


def caffenet():
    """CaffeNet: AlexNet with pooling before normalization, 1000 classes."""
    n = C.caffe.NetSpec()
    n.data = C.L.Input(shape=dict(dim=[10, 3, 227, 227]))
    C.caffenet_trunk(n, n.data, pad=0, explicit=False)
    n.fc6 = fc(n.pool5, 4096)
    n.relu6 = C.L.ReLU(n.fc6, in_place=True)
    n.drop6 = C.dropout(n.relu6)
    n.fc7 = fc(n.drop6, 4096)
    n.relu7 = C.L.ReLU(n.fc7, in_place=True)
    n.drop7 = C.dropout(n.relu7)
    n.fc8 = fc(n.drop7, 1000)
    n.prob = C.L.Softmax(n.fc8)
    proto = n.to_proto()
    proto.name = 'CaffeNet'
    return proto


def googlenet():
    """GoogLeNet (deploy: no auxiliary classifiers), 1000 classes."""
    n = C.caffe.NetSpec()
    n.data = C.L.Input(shape=dict(dim=[10, 3, 224, 224]))
    top = C.googlenet_trunk(n, n.data, pad=3)
    n['pool5/7x7_s1'] = C.L.Pooling(top, pool=C.P.Pooling.AVE, kernel_size=7, stride=1)
    n['pool5/drop_7x7_s1'] = C.dropout(n['pool5/7x7_s1'], 0.4)
    n['loss3/classifier'] = fc(n['pool5/drop_7x7_s1'], 1000, param=C.LEARN)
    n.prob = C.L.Softmax(n['loss3/classifier'])
    proto = n.to_proto()
    proto.name = 'GoogleNet'
    return proto


NETS = OrderedDict([('vgg16', vgg16), ('caffenet', caffenet), ('googlenet', googlenet)])


def prototxts():
    return OrderedDict((os.path.join(name, 'deploy.prototxt'), fn()) for name, fn in NETS.items())


def make_net(net_dir=HERE):
    """Write <net>/deploy.prototxt for each classifier into net_dir (this folder by default)."""
    for name in NETS:
        os.makedirs(os.path.join(net_dir, name), exist_ok=True)
    return C.write_prototxts(net_dir, prototxts())


if __name__ == '__main__':
    make_net()
