"""FCN-8s at-once (VGG16) on PASCAL VOC: all three streams learned together from
VGG16, with the pool4 and pool3 skips scaled by fixed factors (0.01, 0.0001)
to condition the optimization.  Writes train/val/deploy prototxts.

Run `python models/voc-fcn8s-atonce/net.py` to rewrite them.
"""
from models import common as C

SKIP_SCALES = {'pool4': 0.01, 'pool3': 0.0001}


def fcn(split):
    return C.voc_fcn(8, split, scales=SKIP_SCALES)


prototxts, make_net = C.net_script(__name__, __file__, fcn, C.VOC_SPLITS)
