"""FCN-32s (VGG16) on SIFT Flow, multi-task: one trunk, two score heads and two
losses, 33 semantic classes (score_sem, loss) and 3 geometric classes
(score_geo, loss_geo).  Writes trainval, test and deploy prototxts.

Run `python models/siftflow-fcn32s/net.py` to rewrite them.
"""
from models import common as C


def fcn(split):
    return C.siftflow_fcn(32, split)


prototxts, make_net = C.net_script(__name__, __file__, fcn, C.SIFTFLOW_SPLITS)
