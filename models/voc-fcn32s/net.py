"""FCN-32s (VGG16) on PASCAL VOC: train (SBD), val (seg11valid) and deploy prototxts.

Run `python models/voc-fcn32s/net.py` to rewrite them.
"""
from models import common as C


def fcn(split):
    return C.voc_fcn(32, split)


prototxts, make_net = C.net_script(__name__, __file__, fcn, C.VOC_SPLITS)
