"""FCN-32s (VGG16) on NYUDv2, HHA input, 40 classes: trainval, test and deploy prototxts.

Run `python models/nyud-fcn32s-hha/net.py` to rewrite them.
"""
from models import common as C


def fcn(split):
    return C.nyud_fcn('hha', split)


prototxts, make_net = C.net_script(__name__, __file__, fcn, C.NYUD_SPLITS)
