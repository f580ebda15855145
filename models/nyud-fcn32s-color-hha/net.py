"""FCN-32s (VGG16) on NYUDv2 with late fusion: a color stream and an HHA stream,
each a full FCN-32s up to its class scores (names suffixed 'color' / 'hha'),
averaged and then upsampled.  40 classes.  Writes trainval, test and deploy
prototxts; the deploy net has two inputs, `color` and `hha`.

Run `python models/nyud-fcn32s-color-hha/net.py` to rewrite them.
"""
import os
import sys
from collections import OrderedDict

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from models import common as C  # noqa: E402

TOPS = ['color', 'hha', 'label']
MODALITIES = ('color', 'hha')
NUM_CLASSES = 40


def stream(n, modality, train):
    """One modality's VGG16 FCN up to its scores score_fr<modality>."""
    C.vgg16_trunk(n, n[modality], suffix=modality)
    feat = C.fc_head(n, n['pool5' + modality], suffix=modality, train=train)
    n['score_fr' + modality] = C.score_conv(feat, NUM_CLASSES)
    return n['score_fr' + modality]


def fcn(split):
    n = C.caffe.NetSpec()
    train = split != 'deploy'
    if train:
        n.color, n.hha, n.label = C.nyud_data(split, TOPS)
    else:
        n.color, n.hha = C.deploy_input(C.DEPLOY_SHAPE, C.DEPLOY_SHAPE)
    scores = [stream(n, m, train) for m in MODALITIES]
    n.score_fused = C.L.Eltwise(*scores, operation=C.P.Eltwise.SUM, coeff=[0.5, 0.5])
    n.upscore = C.upsample(n.score_fused, NUM_CLASSES, 32)
    n.score = C.crop(n.upscore, n.color)
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
