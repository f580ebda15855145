"""FCN-8s (VGG16) on PASCAL-Context, 59 classes + background = 60 outputs:
train, val and deploy prototxts.

Run `python models/pascalcontext-fcn8s/net.py` to rewrite them.
"""
from models import common as C


def fcn(split):
    return C.pascalcontext_fcn(8, split)


prototxts, make_net = C.net_script(__name__, __file__, fcn, C.CONTEXT_SPLITS)
