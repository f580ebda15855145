"""FCN-32s (VGG16) on NYUDv2 with early fusion: color (BGR) and log-depth stacked
into a 4-channel input, 40 classes.  Writes trainval, test and deploy prototxts.

The first convolution is named conv1_1_bgrd so the 3-channel VGG16 conv1_1
does not load into it by name; solve-time surgery fills it (VGG16's filters
for BGR, their channel mean for depth).  The deploy net takes the stacked
4-channel blob as `data`.

Run `python models/nyud-fcn32s-color-d/net.py` to rewrite them.
"""
from models import common as C

TOPS = ('color', 'depth', 'label')


def body(n, train):
    if train:
        n.data = C.L.Concat(n.color, n.depth)
    C.vgg16_fcn(n, n.data, C.NYUD_CLASSES, 32, train=train, first_conv='conv1_1_bgrd')


def fcn(split):
    return C.fcn_net(split, lambda s: C.nyud_data(s, TOPS), body, tops=TOPS,
                     inputs=[('data', (1, 4, 500, 500))])


prototxts, make_net = C.net_script(__name__, __file__, fcn, C.NYUD_SPLITS)
