"""FCN-32s (VGG16) on PASCAL-Context, 59 classes + background = 60 outputs:
train, val and deploy prototxts.

Run `python models/pascalcontext-fcn32s/net.py` to rewrite them.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from models import common as C  # noqa: E402


def fcn(split):
    return C.pascalcontext_fcn(32, split)


prototxts, make_net = C.net_script(__name__, __file__, fcn, C.CONTEXT_SPLITS)
