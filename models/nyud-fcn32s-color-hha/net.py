"""FCN-32s (VGG16) on NYUDv2 with late fusion: a color stream and an HHA stream,
each a full FCN-32s up to its class scores (names suffixed 'color' / 'hha'),
averaged and then upsampled.  40 classes.  Writes trainval, test and deploy
prototxts; the deploy net has two inputs, `color` and `hha`.

Run `python models/nyud-fcn32s-color-hha/net.py` to rewrite them.
"""
from models import common as C

TOPS = ('color', 'hha', 'label')
MODALITIES = ('color', 'hha')


def stream(n, modality, train):
    """One modality's VGG16 FCN up to its scores score_fr<modality>."""
    C.vgg16_trunk(n, n[modality], suffix=modality)
    feat = C.fc_head(n, n['pool5' + modality], suffix=modality, train=train)
    n['score_fr' + modality] = C.score_conv(feat, C.NYUD_CLASSES)
    return n['score_fr' + modality]


def body(n, train):
    scores = [stream(n, m, train) for m in MODALITIES]
    n.score_fused = C.L.Eltwise(*scores, operation=C.P.Eltwise.SUM, coeff=[0.5, 0.5])
    n.upscore = C.upsample(n.score_fused, C.NYUD_CLASSES, 32)
    n.score = C.crop(n.upscore, n.color)


def fcn(split):
    return C.fcn_net(split, lambda s: C.nyud_data(s, TOPS), body, tops=TOPS,
                     inputs=[(m, C.DEPLOY_SHAPE) for m in MODALITIES])


prototxts, make_net = C.net_script(__name__, __file__, fcn, C.NYUD_SPLITS)
