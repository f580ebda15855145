"""FCN-32s (VGG16) on NYUDv2, HHA input, 40 classes: trainval, test and deploy prototxts.

Run `python models/nyud-fcn32s-hha/net.py` to rewrite them.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from models import common as C  # noqa: E402


def fcn(split):
    return C.nyud_fcn('hha', split)


prototxts, make_net = C.net_script(__name__, __file__, fcn, C.NYUD_SPLITS)
