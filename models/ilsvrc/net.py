"""Deploy nets of the ILSVRC classifiers that FCNs start from, written with NetSpec.

    vgg16/deploy.prototxt      VGG_ILSVRC_16_layers (Simonyan & Zisserman)
    caffenet/deploy.prototxt   bvlc_reference_caffenet
    googlenet/deploy.prototxt  bvlc_googlenet

Layer names, types and shapes are those of the published deploy nets, so the
published caffemodels (`make weights NET=vgg16`; URLs in fcn/download.py) load into them by
name, ready for surgery.transplant into an FCN.

Run `python models/ilsvrc/net.py` to rewrite them.
"""
import os
from collections import OrderedDict


from models import common as C


def fc(bottom, nout, param=None):
    kw = dict(num_output=nout)
    if param is not None:
        kw['param'] = param
    return C.L.InnerProduct(bottom, **kw)


def fc_classifier(n, bottom):
    """fc6, fc7 (4096 outputs, in-place ReLU, dropout 0.5), fc8 (1000 classes) and prob."""
    top = bottom
    for i in (6, 7):
        fc_name, relu, drop = 'fc%d' % i, 'relu%d' % i, 'drop%d' % i
        n[fc_name] = fc(top, 4096)
        n[relu] = C.L.ReLU(n[fc_name], in_place=True)
        n[drop] = C.dropout(n[relu])
        top = n[drop]
    n.fc8 = fc(top, 1000)
    n.prob = C.L.Softmax(n.fc8)


def deploy_net(name, size, features):
    """NetParameter ``name``: Input ``data`` (10 x 3 x size x size), then features(n, n.data)."""
    n = C.caffe.NetSpec()
    n.data = C.L.Input(shape=dict(dim=[10, 3, size, size]))
    features(n, n.data)
    proto = n.to_proto()
    proto.name = name
    return proto


def vgg16():
    """VGG16: 13 3x3 convolutions, 3 fully connected layers, 1000 classes."""
    def features(n, data):
        C.vgg16_trunk(n, data, pad=1, param=None, stride=None)
        fc_classifier(n, n.pool5)
    return deploy_net('VGG_ILSVRC_16_layers', 224, features)


def caffenet():
    """CaffeNet: AlexNet with pooling before normalization, 1000 classes."""
    def features(n, data):
        C.caffenet_trunk(n, data, pad=0, explicit=False)
        fc_classifier(n, n.pool5)
    return deploy_net('CaffeNet', 227, features)


def googlenet():
    """GoogLeNet (deploy: no auxiliary classifiers), 1000 classes."""
    def features(n, data):
        top = C.googlenet_trunk(n, data, pad=3)
        n['pool5/7x7_s1'] = C.L.Pooling(top, pool=C.P.Pooling.AVE, kernel_size=7, stride=1)
        n['pool5/drop_7x7_s1'] = C.dropout(n['pool5/7x7_s1'], 0.4)
        n['loss3/classifier'] = fc(n['pool5/drop_7x7_s1'], 1000, param=C.LEARN)
        n.prob = C.L.Softmax(n['loss3/classifier'])
    return deploy_net('GoogleNet', 224, features)


NETS = OrderedDict([('vgg16', vgg16), ('caffenet', caffenet), ('googlenet', googlenet)])


def classifier(name):
    """The deploy NetParameter of classifier ``name`` (a key of NETS)."""
    return NETS[name]()


# <name>/deploy.prototxt for each classifier
prototxts, make_net = C.net_script(__name__, __file__, classifier,
                                   [(os.path.join(name, 'deploy.prototxt'), name) for name in NETS])
